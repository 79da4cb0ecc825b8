import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { after, before, describe, it } from "node:test";
import { sha1 } from "../../../test/helpers/digests.ts";
import {
  BlobIntegrityError,
  BlobNotFoundError,
  BlobTooLargeError,
  LocalBlobStore,
} from "./blob-store.ts";

describe("LocalBlobStore", () => {
  let root: string;
  let store: LocalBlobStore;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "slipway-blobs-"));
    store = await LocalBlobStore.open(root);
  });
  after(() => rm(root, { recursive: true, force: true }));

  it("stores a buffer under its SHA-1 in a two-level layout and reads it back", async () => {
    const data = Buffer.from("hello, slipway\n");
    const id = sha1(data);
    assert.equal(await store.has(id), false);
    assert.deepEqual(await store.put(id, data), { written: true, size: data.length });
    assert.equal(await store.has(id), true);
    assert.equal(await store.size(id), data.length);
    assert.deepEqual(await store.get(id), data);
    assert.equal(store.pathOf(id), join(root, "blobs", id.slice(0, 2), id.slice(2)));
    const info = await stat(store.pathOf(id));
    assert.equal(info.mode & 0o777, 0o444, "blobs are read-only on disk");
  });

  it("writes an existing blob only once", async () => {
    const data = Buffer.from("same bytes");
    const id = sha1(data);
    assert.equal((await store.put(id, data)).written, true);
    const before = await stat(store.pathOf(id));
    assert.deepEqual(await store.put(id, data), { written: false, size: data.length });
    assert.equal((await stat(store.pathOf(id))).ino, before.ino);
  });

  it("refuses bytes that do not hash to the announced SHA-1 and leaves nothing behind", async () => {
    const claimed = sha1("what the client said");
    await assert.rejects(store.put(claimed, Buffer.from("something else")), (error) => {
      assert.ok(error instanceof BlobIntegrityError);
      assert.equal(error.expected, claimed);
      assert.equal(error.actual, sha1("something else"));
      return true;
    });
    assert.equal(await store.has(claimed), false);
    assert.deepEqual(await readdir(join(root, "tmp")), []);
  });

  it("stores a stream, verifying its hash as it is written", async () => {
    const chunks = ["part one, ", "part two, ", "part three"];
    const id = sha1(chunks.join(""));
    const result = await store.put(id, Readable.from(chunks.map((c) => Buffer.from(c))));
    assert.deepEqual(result, { written: true, size: chunks.join("").length });
    assert.equal((await store.get(id)).toString(), chunks.join(""));

    const wrong = sha1("not this");
    await assert.rejects(
      store.put(wrong, Readable.from([Buffer.from("but this")])),
      BlobIntegrityError,
    );
    assert.equal(await store.has(wrong), false);
    assert.deepEqual(await readdir(join(root, "tmp")), []);
  });

  it("enforces maxBytes on buffers and on streams", async () => {
    const big = Buffer.alloc(1000, 7);
    const id = sha1(big);
    await assert.rejects(store.put(id, big, { maxBytes: 999 }), BlobTooLargeError);
    const chunks = [big.subarray(0, 600), big.subarray(600)];
    await assert.rejects(
      store.put(id, Readable.from(chunks), { maxBytes: 999 }),
      BlobTooLargeError,
    );
    assert.equal(await store.has(id), false);
    assert.equal((await store.put(id, big, { maxBytes: 1000 })).written, true);
  });

  it("reads a whole blob or an inclusive byte range as a stream", async () => {
    const data = Buffer.from("0123456789abcdef");
    const id = sha1(data);
    await store.put(id, data);
    assert.equal(await text(await store.read(id)), "0123456789abcdef");
    assert.equal(await text(await store.read(id, { start: 2, end: 5 })), "2345");
    assert.equal(await text(await store.read(id, { start: 15, end: 15 })), "f");
  });

  it("reports a missing blob as BlobNotFoundError or undefined", async () => {
    const id = sha1("never stored");
    await assert.rejects(store.get(id), BlobNotFoundError);
    await assert.rejects(store.read(id), BlobNotFoundError);
    assert.equal(await store.size(id), undefined);
  });

  it("lists the missing blobs of a batch once each, in first-seen order", async () => {
    const present = sha1("present");
    await store.put(present, Buffer.from("present"));
    const a = sha1("absent a");
    const b = sha1("absent b");
    assert.deepEqual(await store.missing([a, present, b, a, present]), [a, b]);
    const many = Array.from({ length: 1000 }, (_, i) => sha1(`absent ${i}`));
    assert.deepEqual(await store.missing([present, ...many]), many);
  });

  it("gives the sizes of the stored blobs of a batch and leaves the absent ones out", async () => {
    const small = Buffer.from("small");
    const large = Buffer.alloc(300_000, 7);
    await store.put(sha1(small), small);
    await store.put(sha1(large), large);
    const absent = Array.from({ length: 600 }, (_, i) => sha1(`not stored ${i}`));
    const sizes = await store.sizes([sha1(small), ...absent, sha1(large), sha1(small)]);
    assert.deepEqual(
      [...sizes],
      [
        [sha1(small), 5],
        [sha1(large), 300_000],
      ],
    );
  });

  it("forgets a blob removed behind its back as soon as a read misses it", async () => {
    const data = Buffer.from("will be removed by hand");
    const id = sha1(data);
    await store.put(id, data);
    await rm(store.pathOf(id));
    // Blobs are never deleted by Slipway, so a blob seen once is assumed to stay...
    assert.deepEqual(await store.missing([id]), []);
    // ...until a read finds it gone: from then on it is missing, and a deploy asks for it again.
    await assert.rejects(store.get(id), BlobNotFoundError);
    assert.deepEqual(await store.missing([id]), [id]);
    assert.deepEqual([...(await store.sizes([id]))], []);
    await store.put(id, data);
    assert.equal(await store.size(id), data.length);
  });

  it("refuses names that are not lowercase hex SHA-1s before touching the disk", async () => {
    for (const bad of [
      "../../etc/passwd",
      "ABCDEF".padEnd(40, "0"),
      "abc",
      `${"a".repeat(40)}/x`,
    ]) {
      assert.throws(() => store.pathOf(bad), TypeError);
      await assert.rejects(store.get(bad), TypeError);
      await assert.rejects(store.put(bad, Buffer.from("x")), TypeError);
      await assert.rejects(store.missing([bad]), TypeError);
      await assert.rejects(store.sizes([bad]), TypeError);
    }
  });

  it("survives concurrent writers of the same blob", async () => {
    const data = Buffer.alloc(64 * 1024, 3);
    const id = sha1(data);
    const results = await Promise.all(Array.from({ length: 20 }, () => store.put(id, data)));
    assert.ok(results.every((r) => r.size === data.length));
    assert.ok(results.some((r) => r.written));
    assert.deepEqual(await store.get(id), data);
    assert.deepEqual(await readdir(join(root, "tmp")), []);
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
