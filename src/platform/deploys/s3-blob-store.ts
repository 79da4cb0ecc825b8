import { createHash } from "node:crypto";
import { pipeline, Transform, type Readable } from "node:stream";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import {
  BlobIntegrityError,
  BlobNotFoundError,
  BlobTooLargeError,
  isSha1,
  sha1Hex,
  type BlobBatch,
  type BlobStore,
  type ByteRange,
  type PutOptions,
  type PutResult,
} from "./blob-store.ts";
import { isS3NotFound } from "./s3-client.ts";

/** Parts of a multipart upload: S3's minimum is 5 MiB; a blob under one part is one PUT. */
const PART_BYTES = 8 * 1024 * 1024;
/** Parts of one blob in flight at once (memory: this × PART_BYTES per upload). */
const PARTS_IN_FLIGHT = 4;
/** HEADs in flight for one `missing`/`sizes` call. */
const CHECKS_IN_FLIGHT = 16;
/** About 25 MiB of memory at most, as the local store's. */
const KNOWN_LIMIT = 200_000;

export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
  /**
   * The garbage collector's grace period. A writer that relies on a blob already in the bucket
   * (a redeploy skipping an unchanged file) refreshes its LastModified (a copy onto itself) when
   * it is older than a quarter of this, so the collector, which deletes only blobs whose
   * LastModified is older than the grace, leaves it alone (see `collectable-blobs.ts` for the
   * argument, which holds here with LastModified for mtime).
   */
  graceMs: number;
}

/**
 * Blobs as objects `blobs/ab/cdef…` in an S3 bucket. The bytes are checked against the SHA-1
 * while they stream to S3 and the upload completes only when they match (a mismatch aborts it:
 * a single PUT is never sent, a multipart upload is never completed), so an object under a
 * content address always holds those bytes. A blob is acknowledged once S3 answered: there is
 * no batching to do, and `flush` has nothing left to make durable.
 */
export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  readonly bucket: string;
  private readonly touchAfterMs: number;
  /** Size, and when its LastModified was last known to be recent, of blobs seen in the bucket. */
  private readonly known = new Map<string, { size: number; freshAt: number }>();

  constructor(options: S3BlobStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.touchAfterMs = Math.max(0, Math.floor(options.graceMs / 4));
  }

  /** The object key of a blob (exposed for diagnostics and tests). */
  keyOf(sha1: string): string {
    assertSha1(sha1);
    return `blobs/${sha1.slice(0, 2)}/${sha1.slice(2)}`;
  }

  /** Drops what this process remembers of a blob (removed by the garbage collector). */
  forget(sha1: string): void {
    this.known.delete(sha1);
  }

  private remember(sha1: string, size: number, freshAt: number): void {
    // Forgetting only costs a HEAD later.
    if (this.known.size >= KNOWN_LIMIT) this.known.clear();
    this.known.set(sha1, { size, freshAt });
  }

  async has(sha1: string): Promise<boolean> {
    return (await this.size(sha1)) !== undefined;
  }

  async size(sha1: string): Promise<number | undefined> {
    const known = this.known.get(sha1);
    if (known !== undefined) return known.size;
    const head = await this.head(sha1);
    if (head === undefined) return undefined;
    this.remember(sha1, head.size, head.lastModifiedMs);
    return head.size;
  }

  async missing(sha1s: Iterable<string>): Promise<string[]> {
    // Read once: `sha1s` may be a one-shot iterator (a generator, a Map's keys).
    const unique = [...new Set(sha1s)];
    const sizes = await this.sizes(unique);
    return unique.filter((sha1) => !sizes.has(sha1));
  }

  async sizes(sha1s: Iterable<string>): Promise<Map<string, number>> {
    const unique = [...new Set(sha1s)];
    for (const sha1 of unique) assertSha1(sha1);
    const found = new Array<number | undefined>(unique.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < unique.length) {
        const i = next++;
        found[i] = await this.relyOn(unique[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CHECKS_IN_FLIGHT, unique.length) }, worker));
    const out = new Map<string, number>();
    unique.forEach((sha1, i) => {
      if (found[i] !== undefined) out.set(sha1, found[i]);
    });
    return out;
  }

  /** The blob's size when it is in the bucket, its LastModified made recent; else undefined. */
  private async relyOn(sha1: string): Promise<number | undefined> {
    const now = Date.now();
    const known = this.known.get(sha1);
    if (known !== undefined && now - known.freshAt < this.touchAfterMs) return known.size;
    const head = await this.head(sha1);
    if (head === undefined) return undefined;
    if (now - head.lastModifiedMs < this.touchAfterMs) {
      this.remember(sha1, head.size, head.lastModifiedMs);
      return head.size;
    }
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: this.keyOf(sha1),
          CopySource: `${this.bucket}/${this.keyOf(sha1)}`,
          MetadataDirective: "REPLACE",
          ContentType: "application/octet-stream",
        }),
      );
    } catch (error) {
      if (isS3NotFound(error)) {
        this.forget(sha1);
        return undefined;
      }
      throw error;
    }
    this.remember(sha1, head.size, now);
    return head.size;
  }

  private async head(sha1: string): Promise<{ size: number; lastModifiedMs: number } | undefined> {
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha1) }),
      );
      return { size: head.ContentLength ?? 0, lastModifiedMs: head.LastModified?.getTime() ?? 0 };
    } catch (error) {
      if (isS3NotFound(error)) {
        this.forget(sha1);
        return undefined;
      }
      throw error;
    }
  }

  async get(sha1: string): Promise<Buffer> {
    const body = await this.getObject(sha1);
    const bytes = await body.transformToByteArray();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async read(sha1: string, range?: ByteRange): Promise<Readable> {
    const body = await this.getObject(sha1, range);
    // In Node the SDK's body is the response's IncomingMessage.
    return body as unknown as Readable;
  }

  private async getObject(sha1: string, range?: ByteRange) {
    try {
      const response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.keyOf(sha1),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      if (response.Body === undefined) throw new Error(`S3 sent no body for blob ${sha1}`);
      return response.Body;
    } catch (error) {
      if (!isS3NotFound(error)) throw error;
      this.forget(sha1);
      throw new BlobNotFoundError(sha1);
    }
  }

  async put(sha1: string, data: Buffer | Readable, options: PutOptions = {}): Promise<PutResult> {
    assertSha1(sha1);
    let existing: number | undefined;
    try {
      existing = await this.relyOn(sha1);
    } catch (error) {
      if (!Buffer.isBuffer(data)) data.destroy();
      throw error;
    }
    if (existing !== undefined) {
      if (!Buffer.isBuffer(data)) data.destroy();
      return { written: false, size: existing };
    }
    let size: number;
    if (Buffer.isBuffer(data)) {
      if (options.maxBytes !== undefined && data.length > options.maxBytes) {
        throw new BlobTooLargeError(sha1, options.maxBytes);
      }
      const actual = sha1Hex(data);
      if (actual !== sha1) throw new BlobIntegrityError(sha1, actual);
      await this.upload(sha1, data);
      size = data.length;
    } else {
      const verifier = verifying(sha1, options.maxBytes);
      // Errors of either stream destroy both, so the upload sees the verifier fail.
      pipeline(data, verifier, () => undefined);
      await this.upload(sha1, verifier);
      size = verifier.bytes;
    }
    this.remember(sha1, size, Date.now());
    return { written: true, size };
  }

  /** Resolves once S3 answered the PUT (or CompleteMultipartUpload); a failure aborts it. */
  private async upload(sha1: string, body: Buffer | VerifyingStream): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: this.keyOf(sha1),
        Body: body,
        ContentType: "application/octet-stream",
      },
      partSize: PART_BYTES,
      queueSize: PARTS_IN_FLIGHT,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      if (Buffer.isBuffer(body)) throw error;
      // A failed request leaves the rest of the body unread: drop it (and the upload's source).
      body.destroy();
      // The SDK reports a failed body as its own error: the verifier's says why.
      throw body.failure ?? error;
    }
  }

  /** Blobs are durable once `put` resolved: nothing is pending. */
  async flush(_batch: BlobBatch): Promise<void> {}

  /** A staged blob was stored like any other (durable once S3 answered): nothing to commit. */
  async commitStaged(_key: string): Promise<void> {}

  async discardStaged(_key: string): Promise<void> {}

  /** Every blob with its size and LastModified, page by page (for the collector). */
  async *list(): AsyncGenerator<{ sha1: string; size: number; mtimeMs: number }> {
    const pages = paginateListObjectsV2(
      { client: this.client },
      { Bucket: this.bucket, Prefix: "blobs/" },
    );
    for await (const page of pages) {
      for (const object of page.Contents ?? []) {
        const match = /^blobs\/([0-9a-f]{2})\/([0-9a-f]{38})$/.exec(object.Key ?? "");
        if (match === null) continue;
        yield {
          sha1: match[1]! + match[2]!,
          size: object.Size ?? 0,
          mtimeMs: object.LastModified?.getTime() ?? 0,
        };
      }
    }
  }

  /**
   * Deletes a blob unless its LastModified is at or after `cutoffMs`; the bytes freed, or 0.
   * S3 has no rename to move it aside first (as the local store does), so a writer refreshing
   * it between this HEAD and the DELETE loses it; that window is one round trip, and the
   * refresh happens a quarter of the grace before the blob could become a candidate.
   */
  async removeIfUnusedSince(sha1: string, cutoffMs: number): Promise<number> {
    const head = await this.head(sha1);
    if (head === undefined || head.lastModifiedMs >= cutoffMs) return 0;
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha1) }));
    this.forget(sha1);
    return head.size;
  }
}

function assertSha1(sha1: string): void {
  if (!isSha1(sha1)) throw new TypeError(`not a lowercase hex SHA-1: ${JSON.stringify(sha1)}`);
}

interface VerifyingStream extends Transform {
  bytes: number;
  failure: Error | undefined;
}

/**
 * Passes bytes through while hashing and counting them; fails instead of ending when they do
 * not hash to `sha1` (or exceed `maxBytes`), so what reads it never sees a complete body.
 */
function verifying(sha1: string, maxBytes: number | undefined): VerifyingStream {
  const hash = createHash("sha1");
  const stream = new Transform({
    transform(chunk: Buffer | string, _encoding, callback) {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      stream.bytes += bytes.length;
      if (maxBytes !== undefined && stream.bytes > maxBytes) {
        callback(fail(new BlobTooLargeError(sha1, maxBytes)));
        return;
      }
      hash.update(bytes);
      callback(null, bytes);
    },
    flush(callback) {
      const actual = hash.digest("hex");
      callback(actual === sha1 ? null : fail(new BlobIntegrityError(sha1, actual)));
    },
  }) as VerifyingStream;
  stream.bytes = 0;
  stream.failure = undefined;
  const fail = (error: Error): Error => {
    stream.failure = error;
    return error;
  };
  return stream;
}
