import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { blobStoreContract } from "../../../test/helpers/blob-store-contract.ts";
import { sha1 } from "../../../test/helpers/digests.ts";
import { LocalBlobStore } from "./local-blob-store.ts";

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

  it("keeps staged blobs out of the store until their key is committed, then holds them", async () => {
    const files = ["staged one", "staged two"].map((text) => Buffer.from(text));
    const ids = files.map((f) => sha1(f));
    for (const [i, f] of files.entries()) {
      assert.equal((await store.put(ids[i]!, f, { staging: "deploy-a" })).written, true);
    }
    // A second upload of the same content for the same deploy writes nothing.
    assert.equal((await store.put(ids[0]!, files[0]!, { staging: "deploy-a" })).written, false);
    assert.deepEqual(await store.missing(ids), ids, "staged is not stored");
    await store.commitStaged("deploy-a");
    assert.deepEqual(await store.missing(ids), []);
    assert.deepEqual(await store.get(ids[1]!), files[1]);
    await assert.rejects(stat(store.stagingPathOf("deploy-a")), { code: "ENOENT" });
    await store.commitStaged("deploy-a"); // idempotent: nothing left to commit
  });

  it("drops at commit a staged blob that another process left torn (a power cut)", async () => {
    const whole = Buffer.from("whole after the crash");
    const torn = Buffer.from("torn by the crash");
    await store.put(sha1(whole), whole, { staging: "deploy-b" });
    await store.put(sha1(torn), torn, { staging: "deploy-b" });
    await writeFile(join(store.stagingPathOf("deploy-b"), sha1(torn)), "torn");
    // The process that staged them is gone: the next one checks what it did not write itself.
    const restarted = await LocalBlobStore.open(root);
    await restarted.commitStaged("deploy-b");
    assert.deepEqual(await restarted.get(sha1(whole)), whole);
    assert.equal(await restarted.has(sha1(torn)), false);
  });

  it("discards what is staged under a key", async () => {
    const data = Buffer.from("never finished");
    await store.put(sha1(data), data, { staging: "deploy-c" });
    await store.discardStaged("deploy-c");
    await store.commitStaged("deploy-c");
    assert.equal(await store.has(sha1(data)), false);
  });

  it("refuses a staging key that is not a plain name", async () => {
    const data = Buffer.from("x");
    await assert.rejects(store.put(sha1(data), data, { staging: "../blobs" }), TypeError);
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
