import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { sha1 } from "../../../test/helpers/digests.ts";
import { CollectableBlobStore } from "./collectable-blobs.ts";

describe("the collectable blob store", () => {
  it("answers missing() for a one-shot iterator of digests as for an array", async () => {
    const root = await mkdtemp(join(tmpdir(), "slipway-collectable-"));
    try {
      const store = await CollectableBlobStore.open(root, { graceMs: 3_600_000 });
      const held = Buffer.from("held");
      await store.put(sha1(held), held);
      const absent = sha1("absent");
      const digests = new Map([
        [sha1(held), 1],
        [absent, 2],
      ]);
      assert.deepEqual(await store.missing(digests.keys()), [absent]);
      assert.deepEqual(await store.missing([sha1(held), absent, absent]), [absent]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
