import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";

/**
 * SHA-1 of every file to deploy (the digest protocol's key). On this project's machines the
 * fastest hash of many small files is a synchronous read-and-hash loop (perf-anchors §3: per-file
 * async overhead dominates); each file is read in 1 MiB chunks into one reused buffer, so a
 * large file is streamed, never held in memory.
 *
 * A worker thread costs 60–300 ms to start, as long as hashing a typical site takes, so small
 * sites are hashed on the main thread and only large ones (by bytes) are shared among workers.
 * Files are opened with O_NOFOLLOW: the walk resolved every symlink, so a link appearing now
 * means the directory changed under us.
 */

export interface HashInput {
  absolute: string;
  size: number;
}

export interface HashOptions {
  /** Called now and then with the number of files hashed so far. */
  onProgress?: (done: number) => void;
  /** Worker threads to use; default: none below `WORKER_THRESHOLD_BYTES`, else one per core. */
  workers?: number;
}

/** Total size above which starting workers pays for itself. */
export const WORKER_THRESHOLD_BYTES = 96 * 1024 * 1024;

const CHUNK = 1 << 20;
const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** The hashing loop, shared verbatim by the main thread and the workers (plain JavaScript). */
function hashFileSync(
  path: string,
  buffer: Buffer,
  fs: {
    openSync: typeof openSync;
    fstatSync: typeof fstatSync;
    readSync: typeof readSync;
    closeSync: typeof closeSync;
  },
  sha1: () => { update(b: Buffer): unknown; digest(enc: "hex"): string },
  flags: number,
): string {
  const fd = fs.openSync(path, flags);
  try {
    if (!fs.fstatSync(fd).isFile()) throw new Error(`${path} is no longer a regular file`);
    const hash = sha1();
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      hash.update(n === buffer.length ? buffer : buffer.subarray(0, n));
    }
    return hash.digest("hex");
  } finally {
    fs.closeSync(fd);
  }
}

const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const fs = require("node:fs");
const { createHash } = require("node:crypto");
const hashFileSync = ${hashFileSync.toString()};
const buffer = Buffer.allocUnsafe(${CHUNK});
const sha1 = () => createHash("sha1");
parentPort.on("message", ({ first, paths }) => {
  const results = [];
  for (const path of paths) {
    try {
      results.push({ sha1: hashFileSync(path, buffer, fs, sha1, ${FLAGS}) });
    } catch (error) {
      results.push({ error: String((error && error.message) || error) });
    }
  }
  parentPort.postMessage({ first, results });
});
`;

export class HashError extends Error {
  override name = "HashError";
}

function readFailure(path: string, error: unknown): HashError {
  const message = error instanceof Error ? error.message : String(error);
  return new HashError(`could not read ${path}: ${message}`);
}

/** SHA-1 (lowercase hex) of each file, in the order given. */
export async function hashFiles(
  files: readonly HashInput[],
  options: HashOptions = {},
): Promise<string[]> {
  const totalBytes = files.reduce((sum, file) => sum + file.size, 0);
  const workers =
    options.workers ??
    (totalBytes >= WORKER_THRESHOLD_BYTES ? Math.min(4, availableParallelism()) : 0);
  if (workers <= 0 || files.length < 2) return hashOnMainThread(files, options.onProgress);
  return hashOnWorkers(files, Math.min(workers, files.length), options.onProgress);
}

function hashOnMainThread(
  files: readonly HashInput[],
  onProgress?: (done: number) => void,
): string[] {
  const buffer = Buffer.allocUnsafe(CHUNK);
  const fs = { openSync, fstatSync, readSync, closeSync };
  const sha1 = () => createHash("sha1");
  const out: string[] = new Array<string>(files.length);
  for (let i = 0; i < files.length; i++) {
    const path = files[i]!.absolute;
    try {
      out[i] = hashFileSync(path, buffer, fs, sha1, FLAGS);
    } catch (error) {
      throw readFailure(path, error);
    }
    if (onProgress && (i & 63) === 63) onProgress(i + 1);
  }
  onProgress?.(files.length);
  return out;
}

interface WorkerReply {
  first: number;
  results: { sha1?: string; error?: string }[];
}

/** Files per message: amortises the round trip and still balances uneven sizes. */
const BATCH = 16;

async function hashOnWorkers(
  files: readonly HashInput[],
  count: number,
  onProgress?: (done: number) => void,
): Promise<string[]> {
  const out: string[] = new Array<string>(files.length);
  // Loaded only here: most sites are hashed on the main thread, and start-up counts.
  const { Worker } = await import("node:worker_threads");
  const pool = Array.from(
    { length: count },
    () => new Worker(WORKER_SOURCE, { eval: true, execArgv: [] }),
  );
  let next = 0;
  let done = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const feed = (worker: Worker): void => {
        if (next >= files.length) return;
        const first = next;
        next = Math.min(files.length, next + BATCH);
        worker.postMessage({ first, paths: files.slice(first, next).map((f) => f.absolute) });
      };
      for (const worker of pool) {
        worker.on("message", ({ first, results }: WorkerReply) => {
          for (const [k, result] of results.entries()) {
            if (result.sha1 === undefined) {
              reject(readFailure(files[first + k]!.absolute, result.error));
              return;
            }
            out[first + k] = result.sha1;
          }
          done += results.length;
          onProgress?.(done);
          if (done === files.length) resolve();
          else feed(worker);
        });
        worker.on("error", reject);
        worker.on("exit", (code) => {
          if (done < files.length) reject(new HashError(`a hashing thread exited (${code})`));
        });
        // Two batches in flight, so a worker never waits for a round trip.
        feed(worker);
        feed(worker);
      }
    });
  } finally {
    await Promise.all(pool.map((worker) => worker.terminate()));
  }
  return out;
}
