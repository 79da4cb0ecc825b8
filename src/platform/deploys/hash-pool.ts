import { rm } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { BlobTempFiles } from "./blob-temp-files.ts";

/**
 * Hashes files on worker threads. On this project's 2-core machines the fastest way to hash a
 * build output (perf-anchors §3) is a synchronous read + SHA-1 loop: per-file async overhead
 * dominates for small files. Running that loop on workers keeps it fast and keeps the main
 * event loop (which also serves the edge) free. Each worker opens files with O_NOFOLLOW and
 * O_NONBLOCK and checks with fstat that it holds a regular file, so a file swapped for a symlink
 * or a FIFO after the walk is refused, never followed or blocked on.
 *
 * Given a `DirectStore` (a blob store on local disk), a worker also stores what it hashed, in
 * the same synchronous pass: a file whose blob is not in the store is written from the bytes
 * just hashed to a temp file there (no fsync: the caller syncs the whole batch once), made by
 * the rules `LocalBlobStore.put` follows (`blob-temp-files.ts`, sent to the worker as data). Per
 * file that is one open/read/hash/write/close loop instead of ~8 trips through libuv's pool.
 *
 * Starting a worker costs 60–300 ms on these machines, so a pool starts its workers on first
 * use and keeps them; they are unref'd while idle, so they never keep the process alive. The
 * worker is plain JavaScript evaluated from a string with an empty execArgv, so it does not
 * depend on a TypeScript loader.
 */

export interface HashTask {
  /** An absolute path with no symlink components (the publisher's walk guarantees it). */
  path: string;
  /**
   * With a `DirectStore`: the file's SHA-1 from an earlier pass, its blob known to be missing.
   * The file is written to the store whatever its size, and must still hash to this.
   */
  expect?: string;
}

/**
 * Where workers write blobs: a `LocalBlobStore`'s layout (see `DirectBlobWriter`), and its
 * temp-file rules as plain data (they cross to the worker as they are). The prefix is unique to
 * the job; a file's temp file is `<prefix><task index>`.
 */
export interface DirectStore {
  blobsDir: string;
  temp: BlobTempFiles;
}

/**
 * What a worker did with a hashed file's blob, given a `DirectStore`: `written` to `temp`
 * (complete, hashing to the SHA-1, not synced), found `present` in the store, or `deferred`:
 * missing but larger than a worker holds in memory, to be written by a task with `expect` once
 * the caller has checked its limits.
 */
export type BlobOutcome =
  { kind: "written"; temp: string } | { kind: "present" } | { kind: "deferred" };

export type HashResult =
  | { ok: true; sha1: string; size: number; mode: number; blob?: BlobOutcome }
  | { ok: false; kind: "too_large"; size: number }
  | { ok: false; kind: "not_regular"; what: string }
  | { ok: false; kind: "changed" }
  | { ok: false; kind: "io"; message: string }
  /** Writing the blob failed (`code`: ENOSPC, EDQUOT, …); the file itself was read. */
  | { ok: false; kind: "write"; code: string | undefined; message: string };

interface WireResult {
  i: number;
  sha1?: string;
  size?: number;
  mode?: number;
  blob?: "written" | "present" | "deferred";
  temp?: string;
  error?: "too_large" | "not_regular" | "changed" | "io" | "write";
  what?: string;
  code?: string;
  message?: string;
}

interface WireReply {
  job: number;
  results: WireResult[];
}

const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const fs = require("node:fs");
const { createHash } = require("node:crypto");
const FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;
const buf = Buffer.allocUnsafe(1 << 20);
function kindOf(st) {
  if (st.isDirectory()) return "directory";
  if (st.isFIFO()) return "FIFO";
  if (st.isSocket()) return "socket";
  if (st.isCharacterDevice()) return "character device";
  if (st.isBlockDevice()) return "block device";
  return "special file";
}
function describe(e) {
  return (e && e.code ? e.code + ": " : "") + String((e && e.message) || e);
}
class WriteFailed {
  constructor(e) { this.e = e; }
}
function writeAll(fd, length) {
  try {
    for (let at = 0; at < length; ) at += fs.writeSync(fd, buf, at, length - at);
  } catch (e) {
    throw new WriteFailed(e);
  }
}
// The rules of LocalBlobStore.put, from blob-temp-files.ts: the prefix names the folder.
function openTemp(temp, rules) {
  try {
    return fs.openSync(temp, rules.flags, rules.mode);
  } catch (e) {
    throw new WriteFailed(e);
  }
}
function hashOne(i, path, expect, maxBytes, store) {
  let fd;
  let out;
  let temp;
  let kept = false;
  try {
    fd = fs.openSync(path, FLAGS);
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { i, error: "not_regular", what: kindOf(st) };
    if (st.size > maxBytes) return { i, error: "too_large", size: st.size };
    if (expect && store !== undefined) {
      temp = store.temp.prefix + i;
      out = openTemp(temp, store.temp);
    }
    const hash = createHash("sha1");
    let size = 0;
    // Bytes read into buf and not hashed yet: a file that fits is hashed and written from it.
    let held = 0;
    let large = false;
    for (;;) {
      if (held === buf.length) {
        hash.update(buf);
        if (out !== undefined) writeAll(out, held);
        held = 0;
        large = true;
      }
      const n = fs.readSync(fd, buf, held, buf.length - held, null);
      if (n === 0) break;
      held += n;
      size += n;
      if (size > maxBytes) return { i, error: "too_large", size };
    }
    hash.update(held === buf.length ? buf : buf.subarray(0, held));
    const sha1 = hash.digest("hex");
    const done = { i, sha1, size, mode: st.mode & 0o7777 };
    if (store === undefined) return done;
    if (expect) {
      writeAll(out, held);
      if (sha1 !== expect) return { i, error: "changed" };
    } else {
      if (fs.existsSync(store.blobsDir + "/" + sha1.slice(0, 2) + "/" + sha1.slice(2))) {
        done.blob = "present";
        return done;
      }
      if (large) {
        done.blob = "deferred";
        return done;
      }
      temp = store.temp.prefix + i;
      out = openTemp(temp, store.temp);
      writeAll(out, held);
    }
    try {
      fs.closeSync(out);
    } catch (e) {
      throw new WriteFailed(e);
    } finally {
      out = undefined;
    }
    kept = true;
    done.blob = "written";
    done.temp = temp;
    return done;
  } catch (e) {
    if (e instanceof WriteFailed) {
      return { i, error: "write", code: e.e && e.e.code, message: describe(e.e) };
    }
    return { i, error: "io", message: describe(e) };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    if (out !== undefined) {
      try { fs.closeSync(out); } catch {}
    }
    if (temp !== undefined && !kept) {
      try { fs.unlinkSync(temp); } catch {}
    }
  }
}
parentPort.on("message", ({ job, maxBytes, items, store }) => {
  const results = [];
  for (let k = 0; k < items.length; k += 3) {
    results.push(hashOne(items[k], items[k + 1], items[k + 2], maxBytes, store));
  }
  parentPort.postMessage({ job, results });
});
`;

/** Files per message: large enough to amortise the round trip, small enough to balance. */
const BATCH = 32;
/** Batches in flight per worker, so a worker never idles during a round trip. */
const IN_FLIGHT = 2;

function toResult(wire: WireResult): HashResult {
  switch (wire.error) {
    case undefined: {
      const result = { ok: true as const, sha1: wire.sha1!, size: wire.size!, mode: wire.mode! };
      switch (wire.blob) {
        case undefined:
          return result;
        case "written":
          return { ...result, blob: { kind: "written", temp: wire.temp! } };
        default:
          return { ...result, blob: { kind: wire.blob } };
      }
    }
    case "too_large":
      return { ok: false, kind: "too_large", size: wire.size! };
    case "not_regular":
      return { ok: false, kind: "not_regular", what: wire.what! };
    case "changed":
      return { ok: false, kind: "changed" };
    case "write":
      return { ok: false, kind: "write", code: wire.code, message: wire.message ?? "" };
    default:
      return { ok: false, kind: "io", message: wire.message ?? "unknown error" };
  }
}

interface Job {
  id: number;
  tasks: readonly HashTask[];
  maxBytes: number;
  store: DirectStore | undefined;
  next: number;
  done: number;
  /** Batches handed to workers and not answered yet. */
  inFlight: number;
  onResult: (index: number, result: HashResult) => void;
  resolve: () => void;
  reject: (error: Error) => void;
  settled: boolean;
  error?: Error;
  /** Removals of temp files that a stopped job's workers wrote after it stopped. */
  cleanups: Promise<void>[];
}

interface Slot {
  worker: Worker;
  inFlight: Set<number>[];
}

export class HashPool {
  private readonly slots: Slot[] = [];
  private readonly jobs = new Map<number, Job>();
  private readonly queue: Job[] = [];
  private nextJob = 1;
  private closed = false;

  constructor(readonly size = Math.max(1, Math.min(2, availableParallelism()))) {}

  /**
   * Hashes every task; `onResult` sees each result as it arrives. If `onResult` throws, the
   * job stops (its remaining files are skipped) and the promise rejects with that error, once
   * the batches already on workers are back and the temp files they wrote (with `store`) are
   * removed: after it settles, nothing of the job is still being written. A temp file is the
   * caller's once `onResult` returned for its result (not when it threw).
   */
  hash(
    tasks: readonly HashTask[],
    maxBytes: number,
    onResult: (index: number, result: HashResult) => void,
    store?: DirectStore,
  ): Promise<void> {
    if (this.closed) return Promise.reject(new Error("hash pool is closed"));
    if (tasks.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const job: Job = {
        id: this.nextJob++,
        tasks,
        maxBytes,
        store,
        next: 0,
        done: 0,
        inFlight: 0,
        onResult,
        resolve,
        reject,
        settled: false,
        cleanups: [],
      };
      this.jobs.set(job.id, job);
      this.queue.push(job);
      this.ensureWorkers();
      this.pump();
    });
  }

  /** Stops the workers; pending jobs fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.jobs.values()) {
      job.inFlight = 0;
      this.finish(job, new Error("hash pool closed"));
    }
    const workers = this.slots.splice(0).map((slot) => slot.worker);
    await Promise.all(workers.map((worker) => worker.terminate()));
  }

  private ensureWorkers(): void {
    const wanted = Math.min(
      this.size,
      Math.max(1, Math.ceil(this.queue.reduce((n, job) => n + job.tasks.length, 0) / BATCH)),
    );
    while (this.slots.length < wanted) this.spawn();
    for (const slot of this.slots) slot.worker.ref();
  }

  private spawn(): void {
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    const slot: Slot = { worker, inFlight: [] };
    this.slots.push(slot);
    worker.on("message", (reply: WireReply) => this.onReply(slot, reply));
    const crashed = (error: Error): void => {
      const index = this.slots.indexOf(slot);
      if (index === -1) return;
      this.slots.splice(index, 1);
      // Every job that had work on this worker fails; its other batches are dropped.
      for (const batch of slot.inFlight.splice(0)) {
        for (const jobId of batch) {
          const job = this.jobs.get(jobId);
          if (!job) continue;
          job.inFlight--;
          this.finish(job, error);
        }
      }
      if (!this.closed && this.queue.length > 0) {
        this.ensureWorkers();
        this.pump();
      }
    };
    worker.on("error", crashed);
    worker.on("exit", (code) => crashed(new Error(`hash worker exited with code ${code}`)));
  }

  private onReply(slot: Slot, reply: WireReply): void {
    slot.inFlight.shift();
    const job = this.jobs.get(reply.job);
    if (job) {
      job.inFlight--;
      let delivered = 0;
      try {
        for (const wire of reply.results) {
          if (job.settled) break;
          job.done++;
          job.onResult(wire.i, toResult(wire));
          // Taken: a result whose `onResult` threw was not, and its temp file goes below.
          delivered++;
        }
        if (job.done === job.tasks.length) this.finish(job);
      } catch (error) {
        this.finish(job, error instanceof Error ? error : new Error(String(error)));
      }
      // Written for a job that had stopped: nobody will take these files.
      for (const wire of reply.results.slice(delivered)) {
        if (wire.temp !== undefined) job.cleanups.push(rm(wire.temp, { force: true }));
      }
      if (job.settled) this.complete(job);
    }
    this.pump();
  }

  /** Stops handing out the job's files; it settles once its batches on workers are back. */
  private finish(job: Job, error?: Error): void {
    if (!job.settled) {
      job.settled = true;
      if (error) job.error = error;
      const queued = this.queue.indexOf(job);
      if (queued !== -1) this.queue.splice(queued, 1);
    }
    this.complete(job);
  }

  private complete(job: Job): void {
    if (job.inFlight > 0 || !this.jobs.has(job.id)) return;
    this.jobs.delete(job.id);
    void Promise.allSettled(job.cleanups).then(() => {
      if (job.error) job.reject(job.error);
      else job.resolve();
    });
  }

  /** Hands batches to workers with free slots; unrefs the workers when there is nothing to do. */
  private pump(): void {
    for (const slot of this.slots) {
      while (slot.inFlight.length < IN_FLIGHT) {
        const job = this.queue[0];
        if (!job) break;
        const items: (number | string)[] = [];
        const end = Math.min(job.tasks.length, job.next + BATCH);
        for (; job.next < end; job.next++) {
          const task = job.tasks[job.next]!;
          items.push(job.next, task.path, task.expect ?? "");
        }
        if (job.next >= job.tasks.length) this.queue.shift();
        slot.inFlight.push(new Set([job.id]));
        job.inFlight++;
        slot.worker.postMessage({ job: job.id, maxBytes: job.maxBytes, items, store: job.store });
      }
    }
    if (this.jobs.size === 0) for (const slot of this.slots) slot.worker.unref();
  }
}

let sharedPool: HashPool | undefined;

/** The process-wide pool used when a caller passes none. */
export function defaultHashPool(): HashPool {
  sharedPool ??= new HashPool();
  return sharedPool;
}
