import { constants } from "node:fs";
import { lstat, open, readdir, readlink, realpath, stat, type FileHandle } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { BlobBatch, BlobIntegrityError, type BlobStore } from "./blob-store.ts";
import { defaultHashPool, type HashPool, type HashResult, type HashTask } from "./hash-pool.ts";
import {
  ManifestPathError,
  validateManifestPath,
  type DeployManifest,
  type ManifestEntry,
} from "./manifest.ts";

/**
 * Publishing a build output directory: walk it, refuse what must never be served, hash every
 * file, store each distinct content once in the `BlobStore` (a blob that is already there is
 * not written again, so an unchanged file costs one existence check per deploy), and return
 * the manifest. With a store on local disk (`directWriter`), the hash pool's workers read, hash
 * and write each file in one synchronous pass; other stores get each missing file by `put`.
 * The manifest is the deploy; switching a site to it is the caller's atomic pointer update.
 *
 * Refused, each with a `PublishError` naming the file and what to do: symlinks whose target is
 * outside the publish directory (symlinks inside it are followed: the manifest gets the
 * target's content under the link's path), dangling symlinks and symlink loops, FIFOs, sockets
 * and devices, names that cannot be URL paths (backslashes, control characters, invalid UTF-8),
 * and output beyond the file-count, per-file and total size limits.
 */

export interface PublishLimits {
  maxFiles: number;
  maxFileBytes: number;
  maxTotalBytes: number;
}

export const DEFAULT_PUBLISH_LIMITS: PublishLimits = {
  maxFiles: 50_000,
  maxFileBytes: 100 * 1024 * 1024,
  maxTotalBytes: 2 * 1024 * 1024 * 1024,
};

export interface PublishOptions {
  blobs: BlobStore;
  limits?: Partial<PublishLimits>;
  /** If set, the publish directory (after resolving symlinks) must be inside this directory. */
  mustBeWithin?: string;
  /** Worker threads that hash files; default: a process-wide pool of 2 (1 on a single core). */
  hashPool?: HashPool;
  /** Blob writes in flight at once, for a store without `directWriter` (S3); default 8. */
  storeConcurrency?: number;
}

export interface PublishStats {
  /** Files in the manifest. */
  files: number;
  /** Sum of the files' sizes. */
  totalBytes: number;
  /** Distinct contents among the files. */
  uniqueBlobs: number;
  /** Blobs that were not in the store and were written by this publish. */
  newBlobs: number;
  /** Bytes written to the store by this publish. */
  newBytes: number;
  durationMs: number;
}

export interface PublishResult {
  manifest: DeployManifest;
  stats: PublishStats;
}

export type PublishErrorCode =
  | "not_a_directory"
  | "outside_allowed_root"
  | "symlink_escape"
  | "dangling_symlink"
  | "symlink_loop"
  | "special_file"
  | "invalid_path"
  | "too_many_files"
  | "file_too_large"
  | "total_too_large"
  | "changed_during_publish"
  | "read_failed";

export class PublishError extends Error {
  override name = "PublishError";
  constructor(
    readonly code: PublishErrorCode,
    message: string,
    /** The offending path relative to the publish directory, when there is one. */
    readonly path?: string,
  ) {
    super(message);
  }
}

/** Files up to this size are read into memory to be stored; larger ones are streamed. */
const BUFFER_LIMIT = 8 * 1024 * 1024;
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(bytes < 1024 * 1024 ? 3 : 1)} MiB`;
}

function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

function errnoCode(error: unknown): string | undefined {
  return error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
}

/** What `Dirent` and `Stats` both tell about a file's type. */
interface FileKind {
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}

function describeSpecial(entry: FileKind): string {
  if (entry.isFIFO()) return "a FIFO (named pipe)";
  if (entry.isSocket()) return "a socket";
  if (entry.isCharacterDevice()) return "a character device";
  if (entry.isBlockDevice()) return "a block device";
  return "not a regular file";
}

interface WalkedFile extends HashTask {
  manifestPath: string;
}

/** Walks the publish directory; every `path` it returns has no symlink in it. */
async function walk(root: string, limits: PublishLimits): Promise<WalkedFile[]> {
  const files: WalkedFile[] = [];
  let directories = 0;

  const checkName = (rel: string, name: string): string => {
    if (Buffer.from(name, "utf8").includes(Buffer.from("\ufffd", "utf8"))) {
      throw new PublishError(
        "invalid_path",
        `"${rel}" has a name that is not valid UTF-8; rename it so it can be served as a URL`,
        rel,
      );
    }
    try {
      return validateManifestPath(rel);
    } catch (error) {
      if (error instanceof ManifestPathError) {
        throw new PublishError(
          "invalid_path",
          `"${rel}" cannot be served: its path ${error.reason}; rename it`,
          rel,
        );
      }
      throw error;
    }
  };

  const addFile = (manifestPath: string, path: string): void => {
    if (files.length >= limits.maxFiles) {
      throw new PublishError(
        "too_many_files",
        `the publish directory has more than ${limits.maxFiles} files (the limit); ` +
          `publish fewer files or raise the limit`,
      );
    }
    files.push({ manifestPath, path });
  };

  const visit = async (
    dir: string,
    prefix: string,
    ancestors: readonly string[],
  ): Promise<void> => {
    if (++directories > limits.maxFiles) {
      throw new PublishError(
        "too_many_files",
        `the publish directory has more than ${limits.maxFiles} directories; ` +
          `check for symlinks that repeat a directory tree`,
      );
    }
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const rel = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      const manifestPath = checkName(rel, entry.name);
      const path = join(dir, entry.name);
      // Some file systems do not report types in readdir; ask lstat then.
      const type =
        entry.isFile() ||
        entry.isDirectory() ||
        entry.isSymbolicLink() ||
        entry.isFIFO() ||
        entry.isSocket() ||
        entry.isCharacterDevice() ||
        entry.isBlockDevice()
          ? entry
          : await lstat(path);
      if (type.isDirectory()) {
        await visit(path, manifestPath, [...ancestors, path]);
      } else if (type.isFile()) {
        addFile(manifestPath, path);
      } else if (type.isSymbolicLink()) {
        await followSymlink(path, manifestPath, ancestors);
      } else {
        throw new PublishError(
          "special_file",
          `"${manifestPath}" is ${describeSpecial(type)}; only regular files, directories and ` +
            `symlinks within the publish directory can be published. Remove it from the output`,
          manifestPath,
        );
      }
    }
  };

  const followSymlink = async (
    path: string,
    manifestPath: string,
    ancestors: readonly string[],
  ): Promise<void> => {
    const linkText = await readlink(path).catch(() => "?");
    let target: string;
    try {
      target = await realpath(path);
    } catch (error) {
      const code = errnoCode(error);
      if (code === "ENOENT") {
        throw new PublishError(
          "dangling_symlink",
          `"${manifestPath}" is a symlink to "${linkText}", which does not exist; ` +
            `remove the link or build its target`,
          manifestPath,
        );
      }
      if (code === "ELOOP") {
        throw new PublishError(
          "symlink_loop",
          `"${manifestPath}" is a symlink that loops ("${linkText}"); remove it`,
          manifestPath,
        );
      }
      throw error;
    }
    if (!isInside(root, target)) {
      throw new PublishError(
        "symlink_escape",
        `"${manifestPath}" is a symlink to "${linkText}", which is outside the publish ` +
          `directory; copy the file into the output instead of linking to it`,
        manifestPath,
      );
    }
    const info = await stat(target);
    if (info.isFile()) {
      addFile(manifestPath, target);
    } else if (info.isDirectory()) {
      if (ancestors.some((dir) => dir === target)) {
        throw new PublishError(
          "symlink_loop",
          `"${manifestPath}" is a symlink to "${linkText}", a directory that contains it; ` +
            `following it would never end. Remove the link`,
          manifestPath,
        );
      }
      await visit(target, manifestPath, [...ancestors, target]);
    } else {
      throw new PublishError(
        "special_file",
        `"${manifestPath}" is a symlink to ${describeSpecial(info)}; only regular files can be ` +
          `published. Remove it from the output`,
        manifestPath,
      );
    }
  };

  await visit(root, "", [root]);
  return files;
}

async function runLimited<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  if (failure !== undefined) throw failure;
}

async function storeFile(
  blobs: BlobStore,
  file: WalkedFile,
  sha1: string,
  size: number,
  batch: BlobBatch,
): Promise<{ written: boolean; size: number }> {
  let handle;
  try {
    handle = await open(file.path, OPEN_FLAGS);
  } catch (error) {
    throw new PublishError(
      "changed_during_publish",
      `"${file.manifestPath}" changed while it was being published (${errnoCode(error) ?? error}); ` +
        `nothing else may write to the output directory during a publish`,
      file.manifestPath,
    );
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size !== size) {
      throw new PublishError(
        "changed_during_publish",
        `"${file.manifestPath}" changed while it was being published; ` +
          `nothing else may write to the output directory during a publish`,
        file.manifestPath,
      );
    }
    const data =
      size <= BUFFER_LIMIT
        ? await readExactly(handle, size, file.manifestPath)
        : handle.createReadStream({ autoClose: false });
    return await blobs.put(sha1, data, { batch });
  } catch (error) {
    if (error instanceof BlobIntegrityError) {
      throw new PublishError(
        "changed_during_publish",
        `"${file.manifestPath}" changed while it was being published (its content no longer ` +
          `matches its hash); nothing else may write to the output directory during a publish`,
        file.manifestPath,
      );
    }
    throw error;
  } finally {
    await handle.close();
  }
}

/**
 * The file's `size` bytes (its size when hashed and just now fstat'd), as `readFile` reads them
 * but without its second fstat: one trip fewer to libuv's pool per file of a deploy.
 */
async function readExactly(
  handle: FileHandle,
  size: number,
  manifestPath: string,
): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(size);
  let filled = 0;
  while (filled < size) {
    const { bytesRead } = await handle.read(buffer, filled, size - filled, filled);
    if (bytesRead === 0) {
      throw new PublishError(
        "changed_during_publish",
        `"${manifestPath}" changed while it was being published; ` +
          `nothing else may write to the output directory during a publish`,
        manifestPath,
      );
    }
    filled += bytesRead;
  }
  return buffer;
}

/** What a worker's failure to read (or store) a file means for the publish. */
function hashFailure(
  file: WalkedFile,
  result: HashResult & { ok: false },
  limits: PublishLimits,
): Error {
  switch (result.kind) {
    case "too_large":
      return new PublishError(
        "file_too_large",
        `"${file.manifestPath}" is ${mib(result.size)}, over the per-file limit of ` +
          `${mib(limits.maxFileBytes)}; keep large media out of the publish directory`,
        file.manifestPath,
      );
    case "not_regular":
      return new PublishError(
        "changed_during_publish",
        `"${file.manifestPath}" became a ${result.what} while it was being published; ` +
          `nothing else may write to the output directory during a publish`,
        file.manifestPath,
      );
    case "changed":
      return new PublishError(
        "changed_during_publish",
        `"${file.manifestPath}" changed while it was being published (its content no longer ` +
          `matches its hash); nothing else may write to the output directory during a publish`,
        file.manifestPath,
      );
    case "write":
      // Not the output's fault: the store's disk (ENOSPC: "the disk is full" for the build).
      return Object.assign(
        new Error(`storing "${file.manifestPath}" in the blob store failed: ${result.message}`),
        { code: result.code },
      );
    default:
      return new PublishError(
        result.message.startsWith("ELOOP") ? "changed_during_publish" : "read_failed",
        `"${file.manifestPath}" could not be read: ${result.message}`,
        file.manifestPath,
      );
  }
}

/**
 * Publishes the files under `dir` into `options.blobs` and returns the deploy's manifest with
 * statistics (`newBlobs`/`newBytes` say what this publish actually wrote). Throws
 * `PublishError` for anything that must not be published; blobs written before a failure
 * stay in the store as unreferenced garbage for a later collection.
 */
export async function publishDirectory(
  dir: string,
  options: PublishOptions,
): Promise<PublishResult> {
  const started = performance.now();
  const limits: PublishLimits = { ...DEFAULT_PUBLISH_LIMITS, ...options.limits };

  let root: string;
  try {
    root = await realpath(dir);
  } catch {
    throw new PublishError("not_a_directory", `publish directory "${dir}" does not exist`);
  }
  if (!(await stat(root)).isDirectory()) {
    throw new PublishError("not_a_directory", `publish directory "${dir}" is not a directory`);
  }
  if (options.mustBeWithin !== undefined) {
    const within = await realpath(options.mustBeWithin);
    if (!isInside(within, root)) {
      throw new PublishError(
        "outside_allowed_root",
        `publish directory "${dir}" resolves to a place outside the build's checkout ` +
          `("${relative(within, root)}"); set a publish directory inside the repository`,
      );
    }
  }

  const files = await walk(root, limits);
  const { blobs } = options;
  const pool = options.hashPool ?? defaultHashPool();
  // Written without an fsync each, made durable together before the manifest exists.
  const batch = new BlobBatch();
  const writer = blobs.directWriter?.(batch);
  const stored = { newBlobs: 0, newBytes: 0 };

  const entries: (ManifestEntry | undefined)[] = new Array(files.length);
  /** With a `writer`: blobs the workers found in the store, and missing ones left to write. */
  const present = new Set<string>();
  const deferred = new Set<string>();
  let totalBytes = 0;
  const takeBlob = (sha1: string, result: HashResult & { ok: true }): void => {
    const blob = result.blob;
    if (writer === undefined || blob === undefined) return;
    if (blob.kind === "present") present.add(sha1);
    else if (blob.kind === "deferred") deferred.add(sha1);
    else if (writer.adopt(sha1, blob.temp, result.size)) {
      stored.newBlobs++;
      stored.newBytes += result.size;
    }
  };
  try {
    // One pass per file on the workers: read, hash and, with a `writer`, store it if missing.
    // Only files that fit a worker's 1 MiB buffer are written in this pass, so one that breaks
    // a limit stops it with at most the batches in flight written (their temp files removed).
    await pool.hash(
      files,
      limits.maxFileBytes,
      (index, result) => {
        const file = files[index]!;
        if (!result.ok) throw hashFailure(file, result, limits);
        totalBytes += result.size;
        if (totalBytes > limits.maxTotalBytes) {
          throw new PublishError(
            "total_too_large",
            `the publish directory holds more than ${mib(limits.maxTotalBytes)} (the total size ` +
              `limit); publish less or raise the limit`,
          );
        }
        entries[index] = { sha1: result.sha1, size: result.size, mode: result.mode };
        takeBlob(result.sha1, result);
      },
      writer && { blobsDir: writer.blobsDir, temp: writer.tempFiles() },
    );
  } catch (error) {
    await writer?.discard();
    throw error;
  }

  const manifestFiles = new Map<string, ManifestEntry>();
  const firstOfBlob = new Map<string, number>();
  files.forEach((file, index) => {
    const entry = entries[index]!;
    manifestFiles.set(file.manifestPath, entry);
    if (!firstOfBlob.has(entry.sha1)) firstOfBlob.set(entry.sha1, index);
  });

  try {
    if (writer === undefined) {
      const missing = await blobs.missing([...firstOfBlob.keys()]);
      await runLimited(missing, options.storeConcurrency ?? 8, async (sha1) => {
        const index = firstOfBlob.get(sha1)!;
        const result = await storeFile(blobs, files[index]!, sha1, entries[index]!.size, batch);
        if (!result.written) return;
        stored.newBlobs++;
        stored.newBytes += result.size;
      });
    } else {
      // Relying on the blobs found present (the collector spares them), and writing those it
      // took meanwhile with the large ones: their bytes are read again, and must hash the same.
      const lost = await blobs.missing(present);
      const toWrite = [...new Set([...deferred, ...lost])];
      await pool.hash(
        toWrite.map((sha1) => ({ path: files[firstOfBlob.get(sha1)!]!.path, expect: sha1 })),
        limits.maxFileBytes,
        (index, result) => {
          const file = files[firstOfBlob.get(toWrite[index]!)!]!;
          if (!result.ok) throw hashFailure(file, result, limits);
          takeBlob(result.sha1, result);
        },
        { blobsDir: writer.blobsDir, temp: writer.tempFiles() },
      );
    }
  } catch (error) {
    // Workers' temp files go; blobs `put` before the failure stay as unreferenced garbage.
    await writer?.discard();
    await blobs.flush(batch).catch(() => undefined);
    throw error;
  }
  await blobs.flush(batch);
  const { newBlobs, newBytes } = stored;

  return {
    manifest: { files: manifestFiles },
    stats: {
      files: files.length,
      totalBytes,
      uniqueBlobs: firstOfBlob.size,
      newBlobs,
      newBytes,
      durationMs: performance.now() - started,
    },
  };
}
