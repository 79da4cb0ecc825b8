import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { blobStoreContract } from "../../../test/helpers/blob-store-contract.ts";
import { sha1 } from "../../../test/helpers/digests.ts";
import { LocalBlobStore } from "./blob-store.ts";

blobStoreContract("LocalBlobStore", async () => {
  const root = await mkdtemp(join(tmpdir(), "slipway-blobs-"));
  const store = await LocalBlobStore.open(root);
  return {
    store,
    leftovers: () => readdir(join(root, "tmp")),
    removeBehindItsBack: (id) => rm(store.pathOf(id)),
    close: () => rm(root, { recursive: true, force: true }),
  };
});

describe("LocalBlobStore on disk", () => {
  let root: string;
  let store: LocalBlobStore;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "slipway-blobs-"));
    store = await LocalBlobStore.open(root);
  });
  after(() => rm(root, { recursive: true, force: true }));

  it("keeps a blob read-only in a two-level layout", async () => {
    const data = Buffer.from("hello, slipway\n");
    const id = sha1(data);
    await store.put(id, data);
    assert.equal(store.pathOf(id), join(root, "blobs", id.slice(0, 2), id.slice(2)));
    const info = await stat(store.pathOf(id));
    assert.equal(info.mode & 0o777, 0o444, "blobs are read-only on disk");
  });

  it("does not rewrite the file of an existing blob", async () => {
    const data = Buffer.from("same bytes");
    const id = sha1(data);
    await store.put(id, data);
    const before = await stat(store.pathOf(id));
    assert.equal((await store.put(id, data)).written, false);
    assert.equal((await stat(store.pathOf(id))).ino, before.ino);
  });

  it("refuses to name a path for anything but a lowercase hex SHA-1", () => {
    for (const bad of ["../../etc/passwd", "ABCDEF".padEnd(40, "0"), `${"a".repeat(40)}/x`]) {
      assert.throws(() => store.pathOf(bad), TypeError);
    }
  });

  it("removes stale temp files of a crashed writer when opened, and keeps fresh ones", async () => {
    const stale = join(root, "tmp", ".blob-stale");
    const fresh = join(root, "tmp", ".blob-fresh");
    await writeFile(stale, "half a blob");
    await writeFile(fresh, "being written now");
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(stale, old, old);
    await LocalBlobStore.open(root);
    assert.deepEqual(await readdir(join(root, "tmp")), [".blob-fresh"]);
    await rm(fresh);
  });
});
