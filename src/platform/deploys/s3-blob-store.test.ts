import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { blobStoreContract } from "../../../test/helpers/blob-store-contract.ts";
import { sha1 } from "../../../test/helpers/digests.ts";
import { startTestS3, type TestS3 } from "../../../test/helpers/s3.ts";
import { createManifest, ManifestConflictError } from "./manifest.ts";
import { S3BlobStore } from "./s3-blob-store.ts";
import { checkBucket, createS3Client } from "./s3-client.ts";
import { S3ManifestStore } from "./s3-manifest-store.ts";

const HOUR = 60 * 60 * 1000;

blobStoreContract("S3BlobStore", async () => {
  const s3 = await startTestS3();
  const store = new S3BlobStore({ client: s3.client, bucket: s3.bucket, graceMs: HOUR });
  return {
    store,
    leftovers: async () => [
      ...s3.fake.openUploads().map((u) => `upload of ${u.key}`),
      ...(await s3.keys()).filter((key) => !key.startsWith("blobs/")),
    ],
    removeBehindItsBack: async (id) => {
      s3.fake.objects(s3.bucket).delete(store.keyOf(id));
    },
    close: () => s3.stop(),
  };
});

describe("S3BlobStore against an S3-compatible server", () => {
  let s3: TestS3;
  let store: S3BlobStore;

  before(async () => {
    s3 = await startTestS3();
    store = new S3BlobStore({ client: s3.client, bucket: s3.bucket, graceMs: HOUR });
  });
  after(() => s3.stop());

  const operations = (from: number) => s3.fake.requests.slice(from).map((r) => r.operation);

  it("keeps a blob at blobs/ab/cdef… and sends a large one in parts", async () => {
    const small = Buffer.from("small blob");
    await store.put(sha1(small), small);
    const big = randomBytes(20 * 1024 * 1024);
    const from = s3.fake.requests.length;
    await store.put(sha1(big), Readable.from([big]));
    const sent = operations(from);
    assert.equal(sent.filter((op) => op === "UploadPart").length, 3, sent.join(", "));
    assert.ok(sent.includes("CompleteMultipartUpload"));
    assert.deepEqual(
      await s3.keys(),
      [sha1(small), sha1(big)].map((id) => `blobs/${id.slice(0, 2)}/${id.slice(2)}`).sort(),
    );
    assert.ok(
      s3.fake
        .objects(s3.bucket)
        .get(store.keyOf(sha1(big)))!
        .body.equals(big),
    );
  });

  it("aborts a multipart upload whose bytes turn out not to match, completing nothing", async () => {
    const big = randomBytes(17 * 1024 * 1024);
    const claimed = sha1("something else entirely");
    const from = s3.fake.requests.length;
    await assert.rejects(store.put(claimed, Readable.from([big])), { name: "BlobIntegrityError" });
    const sent = operations(from);
    assert.ok(sent.includes("UploadPart"), sent.join(", "));
    assert.ok(sent.includes("AbortMultipartUpload"), sent.join(", "));
    assert.ok(!sent.includes("CompleteMultipartUpload") && !sent.includes("PutObject"));
    assert.deepEqual(s3.fake.openUploads(), []);
  });

  it("refreshes the LastModified of an old blob a deploy relies on, for the collector", async () => {
    const data = Buffer.from("an unchanged file");
    const id = sha1(data);
    await store.put(id, data);
    const object = s3.fake.objects(s3.bucket).get(store.keyOf(id))!;
    object.lastModified = new Date(Date.now() - 2 * HOUR);
    // Another node (a fresh store) declares a deploy with this file: it is present, and fresh.
    const other = new S3BlobStore({ client: s3.client, bucket: s3.bucket, graceMs: HOUR });
    assert.deepEqual(await other.missing([id]), []);
    const refreshed = s3.fake.objects(s3.bucket).get(store.keyOf(id))!;
    assert.ok(refreshed.lastModified.getTime() > Date.now() - 60_000);
    assert.ok(refreshed.body.equals(data));
  });

  it("lists blobs with LastModified for the collector and removes only the old ones", async () => {
    const oldData = Buffer.from("old garbage");
    const newData = Buffer.from("new, not yet referenced");
    await store.put(sha1(oldData), oldData);
    await store.put(sha1(newData), newData);
    s3.fake.objects(s3.bucket).get(store.keyOf(sha1(oldData)))!.lastModified = new Date(
      Date.now() - 2 * HOUR,
    );
    const listed = new Map<string, { size: number; mtimeMs: number }>();
    for await (const blob of store.list()) listed.set(blob.sha1, blob);
    assert.equal(listed.get(sha1(oldData))?.size, oldData.length);
    assert.ok(listed.get(sha1(oldData))!.mtimeMs < Date.now() - HOUR);
    assert.ok(listed.get(sha1(newData))!.mtimeMs > Date.now() - 60_000);

    const cutoff = Date.now() - HOUR;
    assert.equal(await store.removeIfUnusedSince(sha1(newData), cutoff), 0);
    assert.equal(await store.removeIfUnusedSince(sha1(oldData), cutoff), oldData.length);
    assert.equal(await store.has(sha1(oldData)), false);
    assert.equal(await store.has(sha1(newData)), true);
  });

  it("keeps manifests beside the blobs, immutable", async () => {
    const manifests = new S3ManifestStore(s3.client, s3.bucket);
    const manifest = createManifest([["index.html", { sha1: sha1("x"), size: 1 }]]);
    await manifests.put("deploy-1", manifest);
    await manifests.put("deploy-1", manifest);
    assert.deepEqual(await manifests.get("deploy-1"), manifest);
    assert.ok((await s3.keys("manifests/")).includes("manifests/deploy-1.json"));
    const other = createManifest([["index.html", { sha1: sha1("y"), size: 1 }]]);
    await assert.rejects(manifests.put("deploy-1", other), ManifestConflictError);
    await manifests.delete("deploy-1");
    assert.equal(await manifests.get("deploy-1"), undefined);
    await assert.rejects(manifests.get("../x"), TypeError);
  });

  it("says at start why a bucket is not usable", async () => {
    await checkBucket(s3.client, s3.bucket);
    await assert.rejects(checkBucket(s3.client, "no-such-bucket"), /does not exist/);
    const wrongKey = createS3Client({
      ...s3.config,
      credentials: { accessKeyId: s3.config.credentials!.accessKeyId, secretAccessKey: "wrong" },
    });
    await assert.rejects(checkBucket(wrongKey, s3.bucket), /access is denied/);
    wrongKey.destroy();
  });
});
