import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { join } from "node:path";

/**
 * Durable local writes: a file is written under a temporary name in the same file system,
 * fsync'd, renamed into place and its directory fsync'd, so a crash leaves either the old
 * state or the complete new file, never a torn one.
 */

/** Unique to this process (a pid can be reused); a counter tells its names apart. */
const processTag = `${process.pid}-${randomBytes(6).toString("hex")}`;
let tempCount = 0;

/**
 * A temporary file name in `dir` that no other writer will pick: without drawing random bytes
 * for each of the 10,000 files of a deploy.
 */
export function tempPath(dir: string, hint = "tmp"): string {
  return join(dir, `.${hint}-${processTag}-${(tempCount++).toString(36)}`);
}

/** fsync a directory, so that a rename into it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * syncfs(2) of the file system holding `path`, through coreutils' `sync -f` (Node has no
 * syncfs): everything written there so far is durable, in one call instead of an fsync per
 * file. Used for batches of thousands of blobs, where it is the cheaper of the two measured
 * ways (see bench/RESULTS.md, "first deploy").
 */
export function syncFileSystem(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("sync", ["-f", path], (error, _stdout, stderr) => {
      if (error) reject(new Error(`sync -f ${path} failed: ${stderr.trim() || error.message}`));
      else resolve();
    });
  });
}

/** fsync every file of `paths`, `concurrency` at a time (the other measured way to batch). */
export async function fsyncEach(paths: readonly string[], concurrency = 32): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < paths.length) {
      const handle = await open(paths[next++]!, "r");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, paths.length) }, lane));
}

/**
 * Groups directory fsyncs: callers that ask for the same directory before its sync has started
 * share one fsync. A sync that has already started is never joined (it may predate the caller's
 * rename), so every caller is covered by a sync that began after its own rename.
 */
export class DirSyncer {
  private readonly pending = new Map<string, Promise<void>>();

  sync(dir: string): Promise<void> {
    const waiting = this.pending.get(dir);
    if (waiting) return waiting;
    const promise = new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        this.pending.delete(dir);
        fsyncDir(dir).then(resolve, reject);
      });
    });
    this.pending.set(dir, promise);
    return promise;
  }
}

/** Writes `data` to `path` atomically and durably (temp file, fsync, rename, fsync dir). */
export async function writeFileAtomic(
  path: string,
  dir: string,
  data: Buffer | string,
  mode = 0o644,
): Promise<void> {
  const temp = tempPath(dir);
  const handle = await open(temp, "wx", mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDir(dir);
}
