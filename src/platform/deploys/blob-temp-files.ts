import { tempPath } from "./durable-files.ts";

/**
 * How a blob's temp file is made on local disk, described once for its two writers:
 * `LocalBlobStore.put` and the hash pool's workers (`hash-pool.ts`), which are plain JavaScript
 * that cannot import this and get it as data in their messages. Plain data only, so it crosses
 * to a worker as it is.
 */
export interface BlobTempFiles {
  /**
   * `<dir>/.blob-<process tag>-<counter>-`, unique in this process: a file's temp name is the
   * prefix followed by a number unique among the prefix's files (`blobTempName`).
   */
  readonly prefix: string;
  /** Open flags: create it, and fail rather than reuse a file that exists. */
  readonly flags: "wx";
  /** Read-only (less the umask), as the blob it becomes. */
  readonly mode: number;
}

export const BLOB_TEMP_MODE = 0o444;

/** The rules, with a fresh prefix, for temp files in `dir` (the store's `tmp/`, or staging). */
export function blobTempFiles(dir: string): BlobTempFiles {
  return { prefix: `${tempPath(dir, "blob")}-`, flags: "wx", mode: BLOB_TEMP_MODE };
}

/** The path of temp file `n` of `files` (a worker makes the same: `prefix + n`). */
export function blobTempName(files: BlobTempFiles, n: number): string {
  return `${files.prefix}${n}`;
}
