import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

/**
 * Hashes files on worker threads. On this project's 2-core machines the fastest way to hash a
 * build output (perf-anchors §3) is a synchronous read + SHA-1 loop: per-file async overhead
 * dominates for small files. Running that loop on workers keeps it fast and keeps the main
 * event loop (which also serves the edge) free. Each worker opens files with O_NOFOLLOW and
 * O_NONBLOCK and checks with fstat that it holds a regular file, so a file swapped for a symlink
 * or a FIFO after the walk is refused, never followed or blocked on.
 *
 * Starting a worker costs 60–300 ms on these machines, so a pool starts its workers on first
 * use and keeps them; they are unref'd while idle, so they never keep the process alive. The
 * worker is plain JavaScript evaluated from a string with an empty execArgv, so it does not
 * depend on a TypeScript loader.
 */

export interface HashTask {
  /** An absolute path with no symlink components (the publisher's walk guarantees it). */
  path: string;
}

export type HashResult =
  | { ok: true; sha1: string; size: number; mode: number }
  | { ok: false; kind: "too_large"; size: number }
  | { ok: false; kind: "not_regular"; what: string }
  | { ok: false; kind: "io"; message: string };

interface WireResult {
  i: number;
  sha1?: string;
  size?: number;
  mode?: number;
  error?: "too_large" | "not_regular" | "io";
  what?: string;
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
function hashOne(i, path, maxBytes) {
  let fd;
  try {
    fd = fs.openSync(path, FLAGS);
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { i, error: "not_regular", what: kindOf(st) };
    if (st.size > maxBytes) return { i, error: "too_large", size: st.size };
    const hash = createHash("sha1");
    let size = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      size += n;
      if (size > maxBytes) return { i, error: "too_large", size };
      hash.update(n === buf.length ? buf : buf.subarray(0, n));
    }
    return { i, sha1: hash.digest("hex"), size, mode: st.mode & 0o7777 };
  } catch (e) {
    return { i, error: "io", message: (e && e.code ? e.code + ": " : "") + String((e && e.message) || e) };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
parentPort.on("message", ({ job, maxBytes, items }) => {
  const results = [];
  for (let k = 0; k < items.length; k += 2) results.push(hashOne(items[k], items[k + 1], maxBytes));
  parentPort.postMessage({ job, results });
});
`;

/** Files per message: large enough to amortise the round trip, small enough to balance. */
const BATCH = 32;
/** Batches in flight per worker, so a worker never idles during a round trip. */
const IN_FLIGHT = 2;

function toResult(wire: WireResult): HashResult {
  switch (wire.error) {
    case undefined:
      return { ok: true, sha1: wire.sha1!, size: wire.size!, mode: wire.mode! };
    case "too_large":
      return { ok: false, kind: "too_large", size: wire.size! };
    case "not_regular":
      return { ok: false, kind: "not_regular", what: wire.what! };
    default:
      return { ok: false, kind: "io", message: wire.message ?? "unknown error" };
  }
}

interface Job {
  id: number;
  tasks: readonly HashTask[];
  maxBytes: number;
  next: number;
  done: number;
  onResult: (index: number, result: HashResult) => void;
  resolve: () => void;
  reject: (error: Error) => void;
  settled: boolean;
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
   * job stops (its remaining files are skipped) and the promise rejects with that error.
   */
  hash(
    tasks: readonly HashTask[],
    maxBytes: number,
    onResult: (index: number, result: HashResult) => void,
  ): Promise<void> {
    if (this.closed) return Promise.reject(new Error("hash pool is closed"));
    if (tasks.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const job: Job = {
        id: this.nextJob++,
        tasks,
        maxBytes,
        next: 0,
        done: 0,
        onResult,
        resolve,
        reject,
        settled: false,
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
    for (const job of this.jobs.values()) this.finish(job, new Error("hash pool closed"));
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
      for (const batch of slot.inFlight) {
        for (const jobId of batch) {
          const job = this.jobs.get(jobId);
          if (job) this.finish(job, error);
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
    if (job && !job.settled) {
      try {
        for (const wire of reply.results) {
          job.done++;
          job.onResult(wire.i, toResult(wire));
        }
        if (job.done === job.tasks.length) this.finish(job);
      } catch (error) {
        this.finish(job, error instanceof Error ? error : new Error(String(error)));
      }
    }
    this.pump();
  }

  private finish(job: Job, error?: Error): void {
    if (job.settled) return;
    job.settled = true;
    this.jobs.delete(job.id);
    const queued = this.queue.indexOf(job);
    if (queued !== -1) this.queue.splice(queued, 1);
    if (error) job.reject(error);
    else job.resolve();
  }

  /** Hands batches to workers with free slots; unrefs the workers when there is nothing to do. */
  private pump(): void {
    for (const slot of this.slots) {
      while (slot.inFlight.length < IN_FLIGHT) {
        const job = this.queue[0];
        if (!job) break;
        const items: (number | string)[] = [];
        const end = Math.min(job.tasks.length, job.next + BATCH);
        for (; job.next < end; job.next++) items.push(job.next, job.tasks[job.next]!.path);
        if (job.next >= job.tasks.length) this.queue.shift();
        slot.inFlight.push(new Set([job.id]));
        slot.worker.postMessage({ job: job.id, maxBytes: job.maxBytes, items });
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
