import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "../../lib/logger.ts";
import type { PlatformMetrics } from "../metrics/metrics.ts";
import type { JobQueue, LeasedJob, ReclaimedJob } from "./queue.ts";

/**
 * A pool of N workers over a `JobQueue`. Each worker leases a job, runs its queue's handler,
 * heartbeats the lease while the handler runs, and completes or fails the job. Workers hold no
 * state that another process would need: everything is in the jobs table, so any number of
 * pools (processes, machines) can share one queue.
 *
 * - Lease lost: a heartbeat finds the job no longer ours (it expired and another worker took it,
 *   or the row changed), heartbeats fail twice in a row (the database is unreachable: the lease
 *   may run out unseen), or none succeeded for a whole lease. The handler's signal is aborted
 *   with `LEASE_LOST` and its result ignored; whatever it still writes must be fenced
 *   (`JobQueue.holds`), as another worker may be running the job by then.
 * - A handler may run at most `maxRunMs` (per queue): then its signal is aborted and the lease
 *   is no longer extended, so even a handler that ignores its signal loses the job to the
 *   expiry path — nothing runs forever.
 * - `stop()` aborts running handlers with reason `"shutdown"` and gives their leases back, so
 *   the next start (or another process) runs them again at once.
 * - Expired leases of crashed workers are reclaimed at start and every `reclaimEveryMs`, and
 *   the queue's `onReclaimed` hook records what happened to the work they stand for.
 */

export type JobResult = "done" | "released";

export interface JobHandler {
  run(job: LeasedJob, signal: AbortSignal): Promise<JobResult>;
  /** Called for jobs whose lease expired: requeued (will run again) or failed (no attempts left). */
  onReclaimed?(reclaimed: ReclaimedJob): Promise<void>;
  /** Upper bound of one run; default 1 hour. */
  maxRunMs?: number;
}

export interface WorkerPoolOptions {
  queue: JobQueue;
  handlers: Readonly<Record<string, JobHandler>>;
  count: number;
  log: Logger;
  /** Lease length; heartbeats extend it every third of it. Default 30 s. */
  leaseMs?: number;
  /** Idle polling interval. Default 500 ms. */
  pollMs?: number;
  reclaimEveryMs?: number;
  /** A periodic task (e.g. sweeping stuck builds), run with the reclaim. */
  onSweep?: () => Promise<void>;
  metrics?: PlatformMetrics;
  /** Tests: wraps every heartbeat (to make it fail); `beat` is the real one. */
  heartbeat?: HeartbeatSeam;
}

export type HeartbeatSeam = (job: LeasedJob, beat: () => Promise<boolean>) => Promise<boolean>;

export interface WorkerPool {
  readonly owner: string;
  /** Jobs running in this process now. */
  running(): number;
  stop(): Promise<void>;
}

export const SHUTDOWN = "shutdown";
/** The abort reason of a handler whose lease is no longer (or no longer surely) its own. */
export const LEASE_LOST = "lease lost";
/** Polling intervals after which a worker that is not the poller looks anyway (a backstop). */
const IDLE_BACKSTOP_POLLS = 20;
/**
 * How long a failed job waits before its next attempt: 5 s after the first failure, doubling
 * with each one, at most 5 minutes (a flaky provider or a full disk gets time to recover).
 */
export function retryDelayMs(attempt: number): number {
  return Math.min(5_000 * 2 ** Math.max(0, attempt - 1), 300_000);
}

/** Failed heartbeats in a row after which a worker gives its job up. */
const MAX_HEARTBEAT_FAILURES = 2;

export function startWorkerPool(options: WorkerPoolOptions): WorkerPool {
  const leaseMs = options.leaseMs ?? 30_000;
  const pollMs = options.pollMs ?? 500;
  const reclaimEveryMs = options.reclaimEveryMs ?? Math.max(1000, Math.floor(leaseMs / 2));
  const owner = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  const queues = Object.keys(options.handlers);
  const log = options.log.child({ component: "workers", owner });
  const active = new Map<number, AbortController>();
  let stopping = false;
  const sleepers = new Set<() => void>();
  const wakeAll = (): void => {
    for (const wake of [...sleepers]) wake();
  };
  let lastReclaim = 0;
  let leases = 0;
  /** The index of the one idle worker that polls, if any. */
  let poller: number | undefined;

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        sleepers.delete(done);
        resolve();
      }
      sleepers.add(done);
    });
  const unsubscribe = options.queue.onWake(wakeAll);

  const reclaim = async (): Promise<void> => {
    if (Date.now() - lastReclaim < reclaimEveryMs) return;
    lastReclaim = Date.now();
    for (const reclaimed of await options.queue.reclaimExpired()) {
      log.warn(
        { jobId: reclaimed.job.id, queue: reclaimed.job.queue, outcome: reclaimed.outcome },
        "reclaimed a job whose lease expired",
      );
      await options.handlers[reclaimed.job.queue]?.onReclaimed?.(reclaimed);
    }
    await options.onSweep?.();
  };

  const runJob = async (job: LeasedJob): Promise<void> => {
    const handler = options.handlers[job.queue]!;
    const controller = new AbortController();
    active.set(job.id, controller);
    const maxRunMs = handler.maxRunMs ?? 3_600_000;
    const started = Date.now();
    let leaseLost = false;
    let failures = 0;
    let confirmedAt = started;
    let finished = false;
    const loseLease = (why: string): void => {
      clearInterval(beat);
      if (finished || controller.signal.aborted) return;
      leaseLost = true;
      log.warn({ jobId: job.id, queue: job.queue, attempt: job.attempt }, `lease lost: ${why}`);
      controller.abort(LEASE_LOST);
    };
    const heartbeat = (): Promise<boolean> =>
      options.queue.heartbeat(job.id, job.leaseOwner, leaseMs);
    const beat = setInterval(
      () => {
        if (Date.now() - started > maxRunMs) {
          controller.abort("time limit");
          clearInterval(beat);
          return; // no more heartbeats: the lease runs out
        }
        if (Date.now() - confirmedAt >= leaseMs) {
          loseLease("no heartbeat succeeded for a whole lease");
          return;
        }
        const sentAt = Date.now();
        (options.heartbeat ? options.heartbeat(job, heartbeat) : heartbeat()).then(
          (ok) => {
            if (!ok) return loseLease("the job is no longer this worker's");
            failures = 0;
            confirmedAt = Math.max(confirmedAt, sentAt);
          },
          (error: unknown) => {
            log.warn({ err: error, jobId: job.id }, "heartbeat failed");
            if (++failures >= MAX_HEARTBEAT_FAILURES) {
              loseLease(`${failures} heartbeats in a row failed`);
            }
          },
        );
      },
      Math.max(100, Math.floor(leaseMs / 3)),
    );
    try {
      const result = await handler.run(job, controller.signal);
      if (leaseLost) return;
      if (result === "released" || controller.signal.reason === SHUTDOWN) {
        await options.queue.release(job.id, job.leaseOwner);
      } else {
        await options.queue.complete(job.id, job.leaseOwner);
      }
    } catch (error) {
      if (leaseLost) return;
      if (controller.signal.reason === SHUTDOWN) {
        await options.queue.release(job.id, job.leaseOwner);
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      log.error({ err: error, jobId: job.id, queue: job.queue }, "job failed");
      await options.queue.fail(job.id, job.leaseOwner, message, {
        retryInMs: retryDelayMs(job.attempt),
      });
    } finally {
      finished = true;
      clearInterval(beat);
      active.delete(job.id);
    }
  };

  const loop = async (index: number): Promise<void> => {
    while (!stopping) {
      try {
        await reclaim();
        // Each lease has its own owner name: after a reclaim this pool may lease the same job
        // again, and the earlier delivery's late calls must not count for the new one.
        const job = await options.queue.lease(`${owner}/${index}.${++leases}`, queues, leaseMs);
        if (!job) {
          // One idle worker polls; the others wait for a wake-up (an enqueue, or the poller
          // finding work), so an idle pool costs one query per poll, not one per worker.
          poller ??= index;
          await sleep(poller === index ? pollMs : pollMs * IDLE_BACKSTOP_POLLS);
          continue;
        }
        if (poller === index) {
          poller = undefined;
          wakeAll(); // there may be more: the idle ones look too, and one of them polls next
        }
        if (stopping) {
          await options.queue.release(job.id, job.leaseOwner);
          break;
        }
        log.debug({ jobId: job.id, queue: job.queue, worker: index }, "job leased");
        if (job.dueAt !== undefined) options.metrics?.jobTaken(job.queue, job.dueAt);
        await runJob(job);
      } catch (error) {
        if (stopping) break;
        log.error({ err: error }, "worker loop error");
        await sleep(pollMs * 4);
      }
    }
  };

  const loops = Array.from({ length: Math.max(1, options.count) }, (_, i) => loop(i));

  return {
    owner,
    running: () => active.size,
    stop: async () => {
      stopping = true;
      unsubscribe();
      for (const controller of active.values()) controller.abort(SHUTDOWN);
      wakeAll();
      await Promise.all(loops);
    },
  };
}
