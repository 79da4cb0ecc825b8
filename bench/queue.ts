/**
 * The job queue's own overhead (issue 14): how long a job waits from enqueue to start on an idle
 * queue (median and p99; goal under 50 ms on Postgres), and trivial builds per minute with 1, 2
 * and 4 workers against the ideal (workers × 60 s ÷ the build's duration), so what is lost is the
 * queue's.
 *
 * - Postgres (scale-out): graphile-worker's queue; each worker is a process of its own
 *   (`bench/lib/queue-worker.ts`, what `slipway worker` runs), woken by LISTEN/NOTIFY; the
 *   enqueuer is this process, as a platform node would be.
 * - SQLite (embedded default): one process, as `slipway start` runs it; the enqueue wakes the
 *   pool in process.
 *
 * Not pinned: 4 worker processes, Postgres and the enqueuer share this machine's 2 cores, which
 * is itself part of what is measured; compare rows within one run.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { migrate, openDatabase } from "../src/lib/database.ts";
import { createLogger } from "../src/lib/logger.ts";
import { platformMigrations } from "../src/platform/db/migrations.ts";
import type { PlatformDatabase } from "../src/platform/db/schema.ts";
import { openJobQueue } from "../src/platform/jobs/open-queue.ts";
import type { JobQueue } from "../src/platform/jobs/queue.ts";
import { startWorkerPool } from "../src/platform/jobs/workers.ts";
import { startTestPostgres } from "../test/helpers/postgres.ts";
import type { Benchmark, BenchOptions } from "./lib/options.ts";
import { renderTable } from "./lib/stats.ts";
import { BENCH_QUEUE, trivialBuild, type Ran } from "./lib/trivial-build.ts";

export const queueBench: Benchmark = {
  name: "queue",
  aliases: ["jobs"],
  description: "job queue overhead: enqueue-to-start latency, builds/min with 1, 2, 4 workers",
  flags: [
    {
      flag: "queue-jobs",
      value: "N",
      env: "BENCH_QUEUE_JOBS",
      help: "jobs per throughput run (default 200)",
    },
    {
      flag: "queue-samples",
      value: "N",
      env: "BENCH_QUEUE_SAMPLES",
      help: "idle enqueue-to-start samples (default 100)",
    },
    {
      flag: "queue-work-ms",
      value: "MS",
      env: "BENCH_QUEUE_WORK_MS",
      help: "a trivial build's duration (default 50)",
    },
  ],
  run: runQueueBench,
};

/** Where the jobs run and how their reports arrive. */
interface Workers {
  /** Resolves with the report of job `id` once it has run. */
  ran(id: number): Promise<Ran>;
  stop(): Promise<void>;
}

const log = createLogger({ name: "bench-queue", level: "warn" });

async function runQueueBench(options: BenchOptions): Promise<void> {
  const jobs = options.int("queue-jobs", "BENCH_QUEUE_JOBS", 200);
  const samples = options.int("queue-samples", "BENCH_QUEUE_SAMPLES", 100);
  const workMs = options.int("queue-work-ms", "BENCH_QUEUE_WORK_MS", 50);
  const rows: string[][] = [];
  const dir = await mkdtemp(join(tmpdir(), "slipway-bench-queue-"));
  const pg = await startTestPostgres();
  try {
    for (const backend of ["postgres", "sqlite"] as const) {
      const target =
        backend === "postgres" ? await pg.createDatabase() : join(dir, "platform.sqlite3");
      const databaseUrl = backend === "postgres" ? target : undefined;
      const db = openDatabase<PlatformDatabase>({ url: databaseUrl, sqlitePath: target });
      try {
        await migrate(db, platformMigrations);
        const queue = await openJobQueue(db, databaseUrl, log, { listen: false });
        const start = (count: number, ms: number): Promise<Workers> =>
          backend === "postgres"
            ? workerProcesses(target, count, ms)
            : inProcessPool(queue, count, ms);

        const idle = await start(2, 0);
        const waits: number[] = [];
        try {
          for (let i = 0; i < samples; i++) {
            const id = await enqueue(queue);
            const ran = await idle.ran(id);
            waits.push(ran.startedAt - ran.enqueuedAt);
          }
        } finally {
          await idle.stop();
        }
        const sorted = waits.sort((a, b) => a - b);
        const pct = (p: number): number =>
          sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
        rows.push([
          `${backend}: idle enqueue → start`,
          `median ${pct(0.5)} ms, p99 ${pct(0.99)} ms`,
          "",
        ]);

        for (const count of [1, 2, 4]) {
          const workers = await start(count, workMs);
          try {
            const began = Date.now();
            const ids: number[] = [];
            for (let i = 0; i < jobs; i++) ids.push(await enqueue(queue));
            const ran = await Promise.all(ids.map((id) => workers.ran(id)));
            const elapsed = Math.max(...ran.map((r) => r.finishedAt)) - began;
            const perMinute = (jobs / elapsed) * 60_000;
            const ideal = (count * 60_000) / workMs;
            rows.push([
              `${backend}: ${count} worker${count > 1 ? "s" : ""}`,
              `${Math.round(perMinute)} builds/min`,
              `${((perMinute / ideal) * 100).toFixed(0)} % of ${Math.round(ideal)}`,
            ]);
          } finally {
            await workers.stop();
          }
        }
      } finally {
        await db.destroy();
      }
    }
  } finally {
    await pg.stop();
    await rm(dir, { recursive: true, force: true });
  }
  console.log(renderTable(["queue", "measured", "of the ideal"], rows));
  console.log(
    `${samples} idle samples (2 workers waiting); ${jobs} jobs of ${workMs} ms per throughput run. ` +
      "Postgres: graphile-worker, a process per worker, woken by LISTEN/NOTIFY; " +
      "SQLite: one process, woken in process.",
  );
}

async function enqueue(queue: JobQueue): Promise<number> {
  const { id } = await queue.enqueue({ queue: BENCH_QUEUE, payload: { enqueuedAt: Date.now() } });
  queue.wake();
  return id;
}

/** Waiters by job id, filled as reports arrive (in any order). */
function reportBoard(): { ran(id: number): Promise<Ran>; report(ran: Ran): void } {
  const arrived = new Map<number, Ran>();
  const waiting = new Map<number, (ran: Ran) => void>();
  return {
    ran: (id) => {
      const done = arrived.get(id);
      if (done) return Promise.resolve(done);
      return new Promise((resolve) => waiting.set(id, resolve));
    },
    report: (ran) => {
      const waiter = waiting.get(ran.id);
      if (waiter) {
        waiting.delete(ran.id);
        waiter(ran);
      } else arrived.set(ran.id, ran);
    },
  };
}

async function inProcessPool(queue: JobQueue, count: number, workMs: number): Promise<Workers> {
  const board = reportBoard();
  const pool = startWorkerPool({
    queue,
    count,
    log,
    handlers: { [BENCH_QUEUE]: trivialBuild(workMs, board.report) },
  });
  return { ran: board.ran, stop: () => pool.stop() };
}

async function workerProcesses(url: string, count: number, workMs: number): Promise<Workers> {
  const board = reportBoard();
  const children: ChildProcessWithoutNullStreams[] = [];
  await Promise.all(
    Array.from({ length: count }, async () => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", join(import.meta.dirname, "lib", "queue-worker.ts"), url, `${workMs}`],
        { stdio: ["pipe", "pipe", "pipe"] },
      );
      children.push(child);
      child.stderr.pipe(process.stderr);
      const lines = createInterface({ input: child.stdout });
      await new Promise<void>((resolve, reject) => {
        child.once("exit", (code) => reject(new Error(`a queue worker exited (${code})`)));
        lines.on("line", (line) => {
          if (line === "ready") resolve();
          else board.report(JSON.parse(line) as Ran);
        });
      });
    }),
  );
  return {
    ran: board.ran,
    stop: async () => {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              child.removeAllListeners("exit");
              child.once("exit", () => resolve());
              child.kill("SIGTERM");
            }),
        ),
      );
    },
  };
}
