import { createHash } from "node:crypto";
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { hashFiles } from "./hash.ts";
import type { FileStamp, SiteFile } from "./walk.ts";

/**
 * The SHA-1s of a previous deploy of the same directory, so that an unchanged file is not read
 * again: git's index, for `slipway deploy`. A file's digest is reused only while its stamp
 * (device, inode, size, modification and change times; see `walk.ts`) is the one it had when
 * it was hashed.
 *
 * Racy files: a file changed within a clock tick of being hashed could change again without its
 * times moving. So only files that had not changed for `SETTLE_MS` before hashing began are
 * remembered; one written just before a deploy is hashed again the next time.
 *
 * The cache lives in the user's cache directory (one small JSON file per deployed directory, keyed
 * by deploy path, readable by the user only). It is an optimisation: an unreadable or corrupt cache is ignored,
 * and a cache that cannot be written is skipped.
 */

export const SETTLE_MS = 3_000;
/** Cache files of directories not deployed for this long are removed. */
const FORGET_AFTER_MS = 30 * 24 * 60 * 60 * 1000;
const VERSION = 2;

/** A file's stamp followed by its SHA-1, keyed by its deploy path. */
type Entry = [...FileStamp, string];

interface CacheFile {
  version: number;
  root: string;
  files: Record<string, Entry>;
}

export interface CachedHashes {
  /** SHA-1 of each file, in the order given. */
  digests: string[];
  /** How many came from the cache (the rest were read and hashed). */
  reused: number;
}

export interface CachedHashOptions {
  /** Where the cache files live; undefined: no cache, every file is hashed. */
  cacheDir: string | undefined;
  /** The deployed directory (its real path): one cache per directory. */
  root: string;
  /** Called now and then with the number of files done so far. */
  onProgress?: (done: number) => void;
  /** The clock (tests move it forward to let files settle). */
  now?: () => number;
}

export async function hashFilesCached(
  files: readonly SiteFile[],
  options: CachedHashOptions,
): Promise<CachedHashes> {
  const { cacheDir, root, onProgress, now = Date.now } = options;
  if (cacheDir === undefined) {
    return { digests: await hashFiles(files, { ...(onProgress && { onProgress }) }), reused: 0 };
  }
  const path = cachePath(cacheDir, root);
  const known = readCache(path, root);
  const startedMs = now();

  const digests = new Array<string>(files.length);
  const stale: number[] = [];
  files.forEach((file, i) => {
    const entry = known[file.path];
    if (entry !== undefined && sameStamp(entry, file.stamp)) digests[i] = entry[5];
    else stale.push(i);
  });
  const reused = files.length - stale.length;
  const hashed = await hashFiles(
    stale.map((i) => files[i]!),
    { ...(onProgress && { onProgress: (done: number) => onProgress(reused + done) }) },
  );
  stale.forEach((i, k) => (digests[i] = hashed[k]!));

  // Every file found in the cache and nothing else in it: the cache is already right.
  if (stale.length === 0 && Object.keys(known).length === files.length) return { digests, reused };
  const settled: Record<string, Entry> = {};
  files.forEach((file, i) => {
    if (file.changedMs < startedMs - SETTLE_MS) settled[file.path] = [...file.stamp, digests[i]!];
  });
  if (!sameEntries(known, settled)) {
    writeCache(cacheDir, path, { version: VERSION, root, files: settled });
  }
  return { digests, reused };
}

function cachePath(cacheDir: string, root: string): string {
  const name = createHash("sha256").update(root).digest("hex").slice(0, 32);
  return join(cacheDir, "deploy-hashes", `${name}.json`);
}

function readCache(path: string, root: string): Record<string, Entry> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return {};
  }
  const cache = parsed as Partial<CacheFile> | null;
  if (cache?.version !== VERSION || cache.root !== root || typeof cache.files !== "object") {
    return {};
  }
  const files: Record<string, Entry> = {};
  for (const [path, entry] of Object.entries(cache.files ?? {})) {
    if (isEntry(entry)) files[path] = entry;
  }
  return files;
}

function isEntry(value: unknown): value is Entry {
  return (
    Array.isArray(value) &&
    value.length === 6 &&
    value.slice(0, 5).every((n) => typeof n === "number") &&
    typeof value[5] === "string" &&
    /^[0-9a-f]{40}$/.test(value[5])
  );
}

function sameStamp(entry: Entry, stamp: FileStamp | Entry): boolean {
  for (let k = 0; k < 5; k++) if (entry[k] !== stamp[k]) return false;
  return true;
}

function sameEntries(a: Record<string, Entry>, b: Record<string, Entry>): boolean {
  const keys = Object.keys(b);
  if (Object.keys(a).length !== keys.length) return false;
  return keys.every((key) => {
    const [x, y] = [a[key], b[key]!];
    return x !== undefined && sameStamp(x, y) && x[5] === y[5];
  });
}

/** Written whole and renamed into place, so a concurrent deploy reads the old or the new one. */
function writeCache(cacheDir: string, path: string, cache: CacheFile): void {
  const temp = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(join(cacheDir, "deploy-hashes"), { recursive: true, mode: 0o700 });
    writeFileSync(temp, JSON.stringify(cache), { mode: 0o600 });
    renameSync(temp, path);
    forgetOldCaches(join(cacheDir, "deploy-hashes"));
  } catch {
    try {
      rmSync(temp, { force: true });
    } catch {
      // Nothing was written, or it cannot be removed either: the cache is skipped.
    }
  }
}

function forgetOldCaches(dir: string): void {
  const cutoff = Date.now() - FORGET_AFTER_MS;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const info = statSync(path, { throwIfNoEntry: false });
    if (info !== undefined && info.mtimeMs < cutoff) rmSync(path, { force: true });
  }
}
