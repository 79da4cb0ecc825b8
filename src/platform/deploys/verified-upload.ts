import { createHash } from "node:crypto";
import { PassThrough, type Readable } from "node:stream";
import { BlobIntegrityError, BlobTooLargeError, type BlobStore } from "./blob-store.ts";

/**
 * Storing a client's upload under the SHA-1 it announced. Every byte the client sends is hashed
 * here, independently of the store: `BlobStore.put` skips reading a stream whose blob already
 * exists, and an upload that claims an existing SHA-1 must still prove it has that content
 * (that proof is what makes the account its owner, see `ownership.ts`).
 *
 * A refused body is not destroyed: reading just stops, and Node's HTTP server discards the rest
 * after the 4xx answer, so the client reads the reason instead of a reset connection.
 */

/** The chunks of a request body; leaving the loop early leaves the stream to the server. */
export function chunksOf(source: Readable): AsyncIterable<Buffer | string> {
  return { [Symbol.asyncIterator]: () => source.iterator({ destroyOnReturn: false }) };
}

export class UploadTooLargeError extends Error {
  override name = "UploadTooLargeError";
  constructor(readonly maxBytes: number) {
    super(`the upload is larger than the limit of ${maxBytes} bytes; nothing was stored`);
  }
}

/** Waits until `stream` can take more data, or is gone. */
function drained(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

/**
 * Streams `source` into `blobs` under `sha1`, hashing every byte. Resolves with the size when
 * the content hashes to `sha1` and is durable; throws `BlobIntegrityError` (nothing new stored)
 * or `UploadTooLargeError` otherwise.
 */
export async function storeVerified(
  blobs: BlobStore,
  sha1: string,
  source: AsyncIterable<Buffer | string>,
  maxBytes: number,
  /** `PutOptions.staging`: a digest deploy's upload, made durable with its deploy's others. */
  staging?: string,
): Promise<{ size: number; written: boolean }> {
  const hash = createHash("sha1");
  const feed = new PassThrough();
  const stored = blobs.put(sha1, feed, { maxBytes, staging }).then(
    (result) => ({ ok: true as const, result }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  // A store that fails before reading (no space for its temp file) must not leave us waiting.
  void stored.then((outcome) => {
    if (!outcome.ok) feed.destroy();
  });
  let size = 0;
  try {
    for await (const chunk of source) {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      size += bytes.length;
      if (size > maxBytes) throw new UploadTooLargeError(maxBytes);
      hash.update(bytes);
      // The store stops reading when the blob already exists; the hash still sees everything.
      if (!feed.destroyed && !feed.write(bytes)) await drained(feed);
    }
    feed.end();
  } catch (error) {
    feed.destroy(error instanceof Error ? error : new Error(String(error)));
    await stored;
    throw error;
  }
  const outcome = await stored;
  const actual = hash.digest("hex");
  if (actual !== sha1) throw new BlobIntegrityError(sha1, actual);
  if (!outcome.ok) {
    if (outcome.error instanceof BlobTooLargeError) throw new UploadTooLargeError(maxBytes);
    throw outcome.error;
  }
  return { size, written: outcome.result.written };
}

/** Reads a whole stream into memory, refusing more than `maxBytes`. */
export async function readLimited(
  source: AsyncIterable<Buffer | string>,
  maxBytes: number,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    size += bytes.length;
    if (size > maxBytes) throw new UploadTooLargeError(maxBytes);
    parts.push(bytes);
  }
  return Buffer.concat(parts, size);
}
