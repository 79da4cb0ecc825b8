import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { after, before, describe, it } from "node:test";
import {
  BlobBatch,
  BlobIntegrityError,
  BlobNotFoundError,
  BlobTooLargeError,
  type BlobStore,
} from "../../src/platform/deploys/blob-store.ts";
import { sha1 } from "./digests.ts";

/** One store under test, and what the contract needs to look behind its back. */
export interface ContractStore {
  store: BlobStore;
  /** What a failed or finished write may have left half-done (temp files, open uploads). */
  leftovers(): Promise<string[]>;
  /** Removes a blob without telling the store (by hand, or another node's collector). */
  removeBehindItsBack(sha1: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * What every `BlobStore` promises, whatever keeps the bytes: content addressing, verification
 * before anything is stored, size limits, ranges, batches, and missing blobs reported as such.
 * Run against local disk (`blob-store.test.ts`) and S3 (`s3-blob-store.test.ts`).
 */
export function blobStoreContract(name: string, open: () => Promise<ContractStore>): void {
  describe(`${name}: the blob store contract`, () => {
    let subject: ContractStore;
    let store: BlobStore;

    before(async () => {
      subject = await open();
      store = subject.store;
    });
    after(() => subject.close());

    it("stores a buffer under its SHA-1 and reads it back", async () => {
      const data = Buffer.from("hello, slipway\n");
      const id = sha1(data);
      assert.equal(await store.has(id), false);
      assert.deepEqual(await store.put(id, data), { written: true, size: data.length });
      assert.equal(await store.has(id), true);
      assert.equal(await store.size(id), data.length);
      assert.deepEqual(await store.get(id), data);
    });

    it("stores an empty file, from a buffer or from a stream", async () => {
      const id = sha1("");
      assert.deepEqual(await store.put(id, Readable.from([])), { written: true, size: 0 });
      assert.deepEqual(await store.get(id), Buffer.alloc(0));
      assert.equal(await store.size(id), 0);
      assert.deepEqual(await store.put(id, Buffer.alloc(0)), { written: false, size: 0 });
    });

    it("writes an existing blob only once", async () => {
      const data = Buffer.from("same bytes");
      const id = sha1(data);
      assert.equal((await store.put(id, data)).written, true);
      assert.deepEqual(await store.put(id, data), { written: false, size: data.length });
      const stream = Readable.from([data]);
      assert.deepEqual(await store.put(id, stream), { written: false, size: data.length });
      assert.equal(stream.destroyed, true, "a stream that is not needed is destroyed");
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
      assert.deepEqual(await subject.leftovers(), []);
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
      assert.deepEqual(await subject.leftovers(), []);
    });

    it("refuses a large stream whose hash does not match, after sending most of it", async () => {
      // Larger than an S3 part (8 MiB): the upload is multipart and must be aborted.
      const big = randomBytes(12 * 1024 * 1024);
      const claimed = sha1(Buffer.concat([big, Buffer.from("!")]));
      const pieces = Array.from({ length: 12 }, (_, i) =>
        big.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024),
      );
      await assert.rejects(store.put(claimed, Readable.from(pieces)), BlobIntegrityError);
      assert.equal(await store.has(claimed), false);
      assert.deepEqual(await subject.leftovers(), []);
      // The right name for those bytes works, and reads back whole and in ranges.
      const id = sha1(big);
      assert.deepEqual(await store.put(id, Readable.from(pieces)), {
        written: true,
        size: big.length,
      });
      assert.ok((await store.get(id)).equals(big));
      const start = 8 * 1024 * 1024 - 10;
      const tail = await store.read(id, { start, end: start + 19 });
      const bytes: Buffer[] = [];
      for await (const chunk of tail) bytes.push(chunk as Buffer);
      assert.ok(Buffer.concat(bytes).equals(big.subarray(start, start + 20)));
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
      assert.deepEqual(await subject.leftovers(), []);
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
      assert.equal(await store.has(id), false);
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

    it("reads a one-shot iterator of digests (a Map's keys) as it reads an array", async () => {
      const held = Buffer.from("held, asked for through an iterator");
      await store.put(sha1(held), held);
      const absent = sha1("absent, asked for through an iterator");
      const oneShot = () =>
        new Map([
          [sha1(held), 1],
          [absent, 2],
        ]).keys();
      assert.deepEqual(await store.missing(oneShot()), [absent]);
      assert.deepEqual([...(await store.sizes(oneShot()))], [[sha1(held), held.length]]);
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

    it("holds the blobs of a batch once it is flushed", async () => {
      const batch = new BlobBatch();
      const files = ["batch one", "batch two", "batch one"].map((s) => Buffer.from(s));
      const results = await Promise.all(files.map((f) => store.put(sha1(f), f, { batch })));
      assert.ok(results.every((r, i) => r.size === files[i]!.length));
      await store.flush(batch);
      for (const file of files) assert.deepEqual(await store.get(sha1(file)), file);
      assert.deepEqual(await store.missing(files.map((f) => sha1(f))), []);
    });

    it("forgets a blob removed behind its back as soon as a read misses it", async () => {
      const data = Buffer.from("will be removed by hand");
      const id = sha1(data);
      await store.put(id, data);
      await subject.removeBehindItsBack(id);
      // A blob seen recently is assumed to stay (the collector spares recent ones)...
      assert.deepEqual(await store.missing([id]), []);
      // ...until a read finds it gone: from then on it is missing, and a deploy asks for it again.
      await assert.rejects(store.get(id), BlobNotFoundError);
      assert.deepEqual(await store.missing([id]), [id]);
      assert.deepEqual([...(await store.sizes([id]))], []);
      await store.put(id, data);
      assert.equal(await store.size(id), data.length);
    });

    it("refuses names that are not lowercase hex SHA-1s before storing anything", async () => {
      for (const bad of [
        "../../etc/passwd",
        "ABCDEF".padEnd(40, "0"),
        "abc",
        `${"a".repeat(40)}/x`,
      ]) {
        await assert.rejects(store.get(bad), TypeError);
        await assert.rejects(store.read(bad), TypeError);
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
      assert.deepEqual(await subject.leftovers(), []);
    });
  });
}
