import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, rm } from "node:fs/promises";
import type { Readable } from "node:stream";
import yauzl, { type Entry, type ZipFile } from "yauzl";
import { BlobBatch, type BlobStore } from "./blob-store.ts";
import { tempPath } from "./durable-files.ts";
import {
  ManifestPathError,
  validateManifestPath,
  type DeployManifest,
  type ManifestEntry,
} from "./manifest.ts";
import { DEFAULT_PUBLISH_LIMITS, type PublishLimits } from "./publish.ts";

/**
 * Zip deploys: a zip archive → blobs in the store and the deploy's manifest. Nothing in the
 * archive is trusted: every entry name goes through yauzl's checks (absolute paths, drive
 * letters, backslashes, `..`) and `validateManifestPath`; symlinks, special files, encrypted
 * entries and duplicate paths are refused; the entry count, each file's size, the total
 * uncompressed size and each entry's compression ratio (zip bombs) are limited before anything
 * is inflated, and yauzl stops a stream whose real size differs from the one declared. A
 * truncated or corrupt archive is a `ZipError` too. Files are only ever written into the
 * content-addressed store — there is no extraction directory to escape from.
 */

export interface ZipLimits extends PublishLimits {
  /** Entries (files and directories) in the archive. */
  maxEntries: number;
  /** Largest uncompressed/compressed ratio of an entry bigger than `ratioFloorBytes`. */
  maxRatio: number;
  ratioFloorBytes: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = {
  ...DEFAULT_PUBLISH_LIMITS,
  maxEntries: 2 * DEFAULT_PUBLISH_LIMITS.maxFiles,
  maxRatio: 200,
  ratioFloorBytes: 1024 * 1024,
};

export type ZipErrorCode =
  | "corrupt"
  | "invalid_path"
  | "duplicate_path"
  | "symlink"
  | "special_file"
  | "encrypted"
  | "too_many_files"
  | "file_too_large"
  | "total_too_large"
  | "zip_bomb";

export class ZipError extends Error {
  override name = "ZipError";
  constructor(
    readonly code: ZipErrorCode,
    message: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

export interface ZipExtractResult {
  manifest: DeployManifest;
  stats: { files: number; totalBytes: number; newBlobs: number; newBytes: number };
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
/** Entries up to this size are hashed in memory; larger ones go through a temp file. */
const BUFFER_LIMIT = 8 * 1024 * 1024;
const MADE_BY_UNIX = 3;

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** The Unix file type bits of an entry (0 when the archive was not made on Unix). */
function unixType(entry: Entry): number {
  if (entry.versionMadeBy >> 8 !== MADE_BY_UNIX) return 0;
  return (entry.externalFileAttributes >>> 16) & S_IFMT;
}

function corrupt(error: unknown): ZipError {
  const message = error instanceof Error ? error.message : String(error);
  return new ZipError("corrupt", `the zip archive is truncated or corrupt (${message})`);
}

/** yauzl refuses unsafe names with errors like "absolute path: /x"; those name an entry. */
function fromYauzl(error: unknown): ZipError {
  if (error instanceof ZipError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const unsafe =
    /^(absolute path|invalid relative path|invalid characters in fileName): (.*)$/s.exec(message);
  if (unsafe) {
    return new ZipError(
      "invalid_path",
      `the zip entry ${JSON.stringify(unsafe[2])} is refused: ${unsafe[1]} (entries must be relative paths inside the site, with / separators and no "..")`,
      unsafe[2],
    );
  }
  return corrupt(error);
}

/** Checks one entry's metadata against the limits; returns its manifest path (files only). */
function checkEntry(
  entry: Entry,
  limits: ZipLimits,
  seen: Set<string>,
  totals: { files: number; bytes: number },
): string | undefined {
  const name = entry.fileName;
  const type = unixType(entry);
  if (type === S_IFLNK) {
    throw new ZipError(
      "symlink",
      `the zip entry ${JSON.stringify(name)} is a symbolic link; zip deploys take regular files only`,
      name,
    );
  }
  if (name.endsWith("/") || type === S_IFDIR) return undefined;
  if (type !== 0 && type !== S_IFREG) {
    throw new ZipError(
      "special_file",
      `the zip entry ${JSON.stringify(name)} is not a regular file`,
      name,
    );
  }
  if (entry.isEncrypted()) {
    throw new ZipError("encrypted", `the zip entry ${JSON.stringify(name)} is encrypted`, name);
  }
  let path: string;
  try {
    path = validateManifestPath(name);
  } catch (error) {
    if (error instanceof ManifestPathError) {
      throw new ZipError(
        "invalid_path",
        `the zip entry ${JSON.stringify(name)} is refused: its path ${error.reason}`,
        name,
      );
    }
    throw error;
  }
  if (seen.has(path)) {
    throw new ZipError(
      "duplicate_path",
      `the zip has two entries for ${JSON.stringify(path)}; each path may appear once`,
      path,
    );
  }
  seen.add(path);
  if (++totals.files > limits.maxFiles) {
    throw new ZipError(
      "too_many_files",
      `the zip has more than ${limits.maxFiles} files (the limit per deploy)`,
    );
  }
  const size = entry.uncompressedSize;
  if (size > limits.maxFileBytes) {
    throw new ZipError(
      "file_too_large",
      `the zip entry ${JSON.stringify(path)} is ${mib(size)}, over the per-file limit of ${mib(limits.maxFileBytes)}`,
      path,
    );
  }
  totals.bytes += size;
  if (totals.bytes > limits.maxTotalBytes) {
    throw new ZipError(
      "total_too_large",
      `the zip expands to more than ${mib(limits.maxTotalBytes)} (the total size limit per deploy)`,
    );
  }
  if (size > limits.ratioFloorBytes && size > limits.maxRatio * Math.max(1, entry.compressedSize)) {
    throw new ZipError(
      "zip_bomb",
      `the zip entry ${JSON.stringify(path)} expands ${Math.round(size / Math.max(1, entry.compressedSize))}:1 (${mib(size)}), more than the ${limits.maxRatio}:1 allowed; this looks like a zip bomb`,
      path,
    );
  }
  return path;
}

/** Hashes an entry's bytes and stores them; returns its manifest entry. */
async function storeEntry(
  zip: ZipFile,
  entry: Entry,
  blobs: BlobStore,
  tmpDir: string,
  batch: BlobBatch,
): Promise<{ entry: ManifestEntry; written: boolean }> {
  let stream: Readable;
  try {
    stream = await zip.openReadStreamPromise(entry);
  } catch (error) {
    throw fromYauzl(error);
  }
  const hash = createHash("sha1");
  if (entry.uncompressedSize <= BUFFER_LIMIT) {
    const parts: Buffer[] = [];
    try {
      for await (const chunk of stream) {
        hash.update(chunk as Buffer);
        parts.push(chunk as Buffer);
      }
    } catch (error) {
      throw corrupt(error);
    }
    const data = Buffer.concat(parts);
    const sha1 = hash.digest("hex");
    const result = await blobs.put(sha1, data, { batch });
    return { entry: { sha1, size: data.length }, written: result.written };
  }
  // Large entries go to a temp file first: the store wants the SHA-1 before the bytes.
  const temp = tempPath(tmpDir, "zip-entry");
  const handle = await open(temp, "wx", 0o600);
  let size = 0;
  try {
    try {
      for await (const chunk of stream) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
        await handle.write(chunk as Buffer);
      }
    } catch (error) {
      throw corrupt(error);
    } finally {
      await handle.close();
    }
    const sha1 = hash.digest("hex");
    const result = await blobs.put(sha1, createReadStream(temp), { batch });
    return { entry: { sha1, size }, written: result.written };
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * Stores every file of the zip at `zipPath` in `blobs` and returns the manifest. Throws
 * `ZipError` for anything refused; blobs stored before a refusal stay as unreferenced garbage
 * (nothing points at them), exactly like an interrupted directory publish.
 */
export async function extractZip(
  zipPath: string,
  options: { blobs: BlobStore; tmpDir: string; limits?: Partial<ZipLimits> },
): Promise<ZipExtractResult> {
  const limits: ZipLimits = { ...DEFAULT_ZIP_LIMITS, ...options.limits };
  let zip: ZipFile;
  try {
    zip = await yauzl.openPromise(zipPath, {
      lazyEntries: true,
      autoClose: false,
      strictFileNames: true,
      validateEntrySizes: true,
      decodeStrings: true,
    });
  } catch (error) {
    throw corrupt(error);
  }
  // Written without an fsync each, made durable together before the manifest exists.
  const batch = new BlobBatch();
  try {
    if (zip.entryCount > limits.maxEntries) {
      throw new ZipError(
        "too_many_files",
        `the zip has ${zip.entryCount} entries, more than the ${limits.maxEntries} allowed`,
      );
    }
    const files = new Map<string, ManifestEntry>();
    const seen = new Set<string>();
    const totals = { files: 0, bytes: 0 };
    let newBlobs = 0;
    let newBytes = 0;
    const entries = zip.eachEntry();
    for (;;) {
      let next: IteratorResult<Entry>;
      try {
        next = await entries.next();
      } catch (error) {
        throw fromYauzl(error);
      }
      if (next.done === true) break;
      const entry = next.value;
      const path = checkEntry(entry, limits, seen, totals);
      if (path === undefined) continue;
      const stored = await storeEntry(zip, entry, options.blobs, options.tmpDir, batch);
      files.set(path, stored.entry);
      if (stored.written) {
        newBlobs++;
        newBytes += stored.entry.size;
      }
    }
    if (files.size === 0) {
      throw new ZipError("corrupt", "the zip archive holds no files; there is nothing to deploy");
    }
    await options.blobs.flush(batch);
    return {
      manifest: { files },
      stats: { files: files.size, totalBytes: totals.bytes, newBlobs, newBytes },
    };
  } catch (error) {
    // The blobs written before the refusal stay as unreferenced garbage, as before.
    await options.blobs.flush(batch).catch(() => undefined);
    throw error;
  } finally {
    zip.close();
  }
}
