import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import type { BlobTempFiles } from "./blob-temp-files.ts";
import { fsyncEach, syncFileSystem } from "./durable-files.ts";

/**
 * Content-addressed blob storage. A blob is named by the SHA-1 of its bytes (lowercase hex), so
 * a name can only ever hold one content: writing the same file for a second deploy is a no-op,
 * and a reader can trust that `get(sha1)` returns exactly the bytes that hash to `sha1`.
 *
 * `BlobStore` is what the deploy pipeline needs; `BlobReader` is the read-only part the edge
 * needs. `LocalBlobStore` (`local-blob-store.ts`) keeps blobs on local disk; `S3BlobStore` (`s3-blob-store.ts`,
 * `SLIPWAY_BLOB_STORE=s3`) keeps them in a bucket. Both pass the contract in
 * `test/helpers/blob-store-contract.ts`.
 */

/** An inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface BlobReader {
  /** The whole blob. Throws `BlobNotFoundError` when it does not exist. */
  get(sha1: string): Promise<Buffer>;
  /** A stream of the blob, or of an inclusive byte range of it. Throws `BlobNotFoundError`. */
  read(sha1: string, range?: ByteRange): Promise<Readable>;
  /** The blob's size in bytes, or `undefined` when it does not exist. */
  size(sha1: string): Promise<number | undefined>;
}

export interface PutOptions {
  /** Refuse (with `BlobTooLargeError`) a blob larger than this many bytes. */
  maxBytes?: number;
  /**
   * Write the blob without syncing it: it is neither durable nor in the store until
   * `flush(batch)` resolves. One sync for a whole deploy instead of an fsync per blob.
   */
  batch?: BlobBatch;
  /**
   * Stage the blob for a deploy whose files arrive in many requests (a digest deploy's
   * uploads): written without a sync under this key (`[0-9a-z_-]`, e.g. the deploy's id),
   * neither durable nor in the store until `commitStaged(key)` resolves. (A store whose every
   * put is durable at once, S3, simply stores it.)
   */
  staging?: string;
}

/**
 * How a store on local disk lets worker threads write a batch's blobs themselves
 * (`BlobStore.directWriter`): a worker that has just read and hashed a file checks
 * `<blobsDir>/<first 2 hex digits>/<other 38>` and, when the blob is not there, writes the bytes
 * to a new file made by `tempFiles()` (no fsync) and hands it back; `adopt`
 * puts it into the batch, which `flush` makes durable and stores like any other.
 */
export interface DirectBlobWriter {
  readonly blobsDir: string;
  /** How to make temp files on the store's file system, with a prefix unique in this process. */
  tempFiles(): BlobTempFiles;
  /**
   * Takes a complete temp file whose bytes hash to `sha1` into the batch; false (and the file
   * is removed) when the batch already holds that blob.
   */
  adopt(sha1: string, temp: string, size: number): boolean;
  /** Removes every temp file adopted and not flushed yet (a publish that failed). */
  discard(): Promise<void>;
}

/** Blobs written for one deploy, made durable and visible together by `BlobStore.flush`. */
export class BlobBatch {
  /** By SHA-1: written under a temporary name, waiting for the batch's sync and rename. */
  readonly pending = new Map<string, { temp: string; size: number }>();
}

export interface PutResult {
  /** False when the blob already existed and nothing was written. */
  written: boolean;
  size: number;
}

export interface BlobStore extends BlobReader {
  has(sha1: string): Promise<boolean>;
  /**
   * The SHA-1s from `sha1s` that are not in the store, in their first-seen order, without
   * duplicates. This is the "required" list of a digest deploy, and how a publish skips every
   * unchanged file with one call (a store can batch: local disk checks in short synchronous
   * slices, S3 can list a prefix).
   */
  missing(sha1s: Iterable<string>): Promise<string[]>;
  /**
   * The sizes of the blobs of `sha1s` that are in the store (absent ones are left out), batched
   * like `missing`: how a deploy's manifest learns the size of every file in one call.
   */
  sizes(sha1s: Iterable<string>): Promise<Map<string, number>>;
  /**
   * Stores `data` under `sha1` after checking that the bytes hash to `sha1`
   * (`BlobIntegrityError` otherwise; nothing is stored). Resolves once the blob is durable.
   * A stream argument is always consumed or destroyed.
   */
  put(sha1: string, data: Buffer | Readable, options?: PutOptions): Promise<PutResult>;
  /**
   * Makes every blob `put` into `batch` durable, then puts them in the store. Until it
   * resolves, nothing that refers to them may be acknowledged (a manifest, a ready deploy).
   * Also waits for other batches of this store whose blobs are visible but not yet durable,
   * which a caller may be relying on. When it throws, none of the batch's blobs was stored.
   */
  flush(batch: BlobBatch): Promise<void>;
  /**
   * Makes every blob staged under `key` durable and puts it in the store, in one sync for all
   * of them, like `flush`. A staged blob that a crash left torn (not hashing to its name) is
   * dropped, so it stays missing from the store and whoever needs it finds out. Idempotent.
   */
  commitStaged(key: string): Promise<void>;
  /** Drops what is staged under `key` (a deploy that failed or was cancelled). */
  discardStaged(key: string): Promise<void>;
  /**
   * Optional, for a store on local disk: lets worker threads write blobs into `batch` directly
   * (see `DirectBlobWriter`). A store without it is written through `put`.
   */
  directWriter?(batch: BlobBatch): DirectBlobWriter;
}

/**
 * How a batch is made durable: `files` (or, after the renames, the directories holding them)
 * on the file system of `dir`. syncfs by default; fsync of each file is the measured
 * alternative (bench/redeploy.ts), and tests inject a failing one.
 */
export type BatchSync = (files: readonly string[], dir: string) => Promise<void>;

export const syncBatchWithSyncfs: BatchSync = (_files, dir) => syncFileSystem(dir);
export const syncBatchFileByFile: BatchSync = (files) => fsyncEach(files);

export class BlobNotFoundError extends Error {
  override name = "BlobNotFoundError";
  readonly code = "blob_not_found";
  constructor(readonly sha1: string) {
    super(`blob ${sha1} is not in the store`);
  }
}

export class BlobIntegrityError extends Error {
  override name = "BlobIntegrityError";
  readonly code = "blob_integrity";
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `content hashes to ${actual}, not to the announced SHA-1 ${expected}; nothing was stored`,
    );
  }
}

export class BlobTooLargeError extends Error {
  override name = "BlobTooLargeError";
  readonly code = "blob_too_large";
  constructor(
    readonly sha1: string,
    readonly maxBytes: number,
  ) {
    super(`blob ${sha1} is larger than the limit of ${maxBytes} bytes; nothing was stored`);
  }
}

/** A file's content digest (Netlify's deploy protocol), not a git object id: always SHA-1. */
const SHA1 = /^[0-9a-f]{40}$/;

export function isSha1(value: string): boolean {
  return SHA1.test(value);
}

export function assertSha1(sha1: string): void {
  if (!SHA1.test(sha1)) throw new TypeError(`not a lowercase hex SHA-1: ${JSON.stringify(sha1)}`);
}

export function sha1Hex(data: Buffer): string {
  return createHash("sha1").update(data).digest("hex");
}
