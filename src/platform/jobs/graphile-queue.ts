import { Logger as GraphileLogger, runMigrations } from "graphile-worker";
import { sql, type Kysely, type RawBuilder } from "kysely";
import type { Logger } from "../../lib/logger.ts";
import { pgListen, type PgListener } from "../../lib/pg-listen.ts";
import type { Job, PlatformDatabase } from "../db/schema.ts";
import {
  isoAfter,
  type DueJobs,
  type EnqueueInput,
  type EnqueueResult,
  type FailOptions,
  type FailOutcome,
  type JobQueue,
  type LeasedJob,
  type LeaseFence,
  type ReclaimedJob,
} from "./queue.ts";

/**
 * `JobQueue` on Postgres through graphile-worker's schema (`graphile_worker`, installed and
 * upgraded by the library's own `runMigrations`). What maps onto the library as it is:
 *
 * - enqueue: `graphile_worker.add_job` inside the caller's transaction; the concurrency key is
 *   the job's named queue (`queue_name`: graphile runs one job of a named queue at a time, other
 *   queues in parallel), the dedupe key its `job_key` (mode `unsafe_dedupe`: a pending or
 *   running job with the key makes the call a no-op), `run_at`, `max_attempts`, `priority`
 *   (graphile's is ascending, ours descending: negated).
 * - our queue name is graphile's task identifier.
 * - complete, release, fail, cancel and reclaiming a dead lease go through graphile's public
 *   SQL functions: `force_unlock_workers` (the lease owner is graphile's `locked_by`, one per
 *   lease), `complete_jobs`, `reschedule_jobs`, `permanently_fail_jobs`.
 *
 * What graphile-worker 0.17 lacks, implemented here on its tables (the minimum):
 *
 * - Pulling one job without running it: its worker runs task functions itself and its
 *   get-job query is not public API, while `JobQueue.lease` is a pull (our worker pool owns
 *   heartbeats, time limits and the fence). `lease` is graphile's own get-job statement
 *   (named-queue strategy "lock available queues, skip locked"), with ids as a tiebreak.
 * - A lease that ends when its worker dies: graphile treats a lock as abandoned only after a
 *   fixed 4 hours (not configurable; Worker Pro adds heartbeats). Here `locked_at` holds the
 *   lease's end ("locked until", always in the future while a worker heartbeats) instead of
 *   when it was taken: `heartbeat` moves it, `reclaimExpired` unlocks (`force_unlock_workers`)
 *   the jobs whose time has passed, and graphile's 4-hour rule never fires before ours.
 * - `holds`: the job row locked `FOR UPDATE` inside the caller's transaction.
 * - A job that failed for good keeps its `job_key` in graphile (a later `add_job` would return
 *   it); enqueue clears the key of such a job first, so the key is free again as on SQLite.
 * - `last_error` of a job that will be retried (graphile sets it only in its private fail).
 *
 * Graphile deletes completed jobs: `findByDedupeKey` finds pending, running and failed ones.
 * Times come from `now` (tests move it), never from the database's clock, except where
 * graphile's functions stamp `updated_at`.
 */
const SCHEMA = "graphile_worker";

const jobs = sql.raw(`${SCHEMA}._private_jobs`);
const tasks = sql.raw(`${SCHEMA}._private_tasks`);
const jobQueues = sql.raw(`${SCHEMA}._private_job_queues`);

interface GraphileJobRow {
  id: number;
  payload: unknown;
  priority: number;
  run_at: Date;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  key: string | null;
  locked_at: Date | null;
  locked_by: string | null;
  task_identifier: string;
  queue_name: string | null;
}

/** A row with its task identifier and queue name (graphile stores their ids). */
const withNames = (alias: string): RawBuilder<unknown> =>
  sql.raw(`${alias}.*,
  (select identifier from ${SCHEMA}._private_tasks t where t.id = ${alias}.task_id) as task_identifier,
  (select queue_name from ${SCHEMA}._private_job_queues q where q.id = ${alias}.job_queue_id) as queue_name`);

function toLeased(row: GraphileJobRow): LeasedJob {
  return {
    id: Number(row.id),
    queue: row.task_identifier,
    payload: row.payload,
    attempt: row.attempts,
    maxAttempts: row.max_attempts,
    concurrencyKey: row.queue_name,
    dedupeKey: row.key,
    leaseOwner: row.locked_by ?? "",
    dueAt: row.run_at.toISOString(),
  };
}

function toJob(row: GraphileJobRow): Job {
  const running = row.locked_at !== null;
  const failed = !running && row.attempts >= row.max_attempts;
  return {
    id: Number(row.id),
    queue: row.task_identifier,
    payload: JSON.stringify(row.payload),
    state: running ? "running" : failed ? "failed" : "pending",
    priority: -row.priority,
    run_at: row.run_at.toISOString(),
    attempts: row.attempts,
    max_attempts: row.max_attempts,
    lease_owner: row.locked_by,
    lease_expires_at: row.locked_at?.toISOString() ?? null,
    concurrency_key: row.queue_name,
    dedupe_key: row.key,
    last_error: row.last_error,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    finished_at: failed ? row.updated_at.toISOString() : null,
  };
}

const DEFAULT_MAX_ATTEMPTS = 3;

/** Installs or upgrades graphile-worker's schema (its migrations are safe to run concurrently). */
export async function migrateGraphileWorker(connectionString: string, log: Logger): Promise<void> {
  const logger = new GraphileLogger(() => (level, message) => {
    if (level === "error" || level === "warning")
      log.warn({ component: "graphile-worker" }, message);
  });
  await runMigrations({ connectionString, schema: SCHEMA, logger });
}

/** Channel of "a job is due now" hints between nodes (sent on commit of the enqueue). */
const WAKE_CHANNEL = "slipway_jobs";

export interface GraphileJobQueueOptions {
  /** `LISTEN`s for other nodes' enqueues while a worker pool is subscribed (`onWake`). */
  listen?: { url: string; log: Logger };
}

export class GraphileJobQueue implements JobQueue {
  private readonly listeners = new Set<() => void>();
  /** The `LISTEN` connection while anyone is subscribed (a promise: opening is async). */
  private listening: Promise<PgListener | undefined> | undefined;

  constructor(
    private readonly db: Kysely<PlatformDatabase>,
    private readonly now: () => Date = () => new Date(),
    private readonly options: GraphileJobQueueOptions = {},
  ) {}

  async enqueue(
    input: EnqueueInput,
    db: Kysely<PlatformDatabase> = this.db,
  ): Promise<EnqueueResult> {
    const key = input.dedupeKey ?? null;
    if (key !== null) {
      await sql`update ${jobs} set key = null
        where key = ${key} and locked_at is null and attempts >= max_attempts`.execute(db);
    }
    const { rows } = await sql<{ id: number; revision: number }>`
      select id, revision, pg_notify(${WAKE_CHANNEL}, '') from ${sql.raw(SCHEMA)}.add_job(
        identifier => ${input.queue},
        payload => ${JSON.stringify(input.payload)}::json,
        queue_name => ${input.concurrencyKey ?? null}::text,
        run_at => ${(input.runAt ?? this.now()).toISOString()}::timestamptz,
        max_attempts => ${input.maxAttempts ?? DEFAULT_MAX_ATTEMPTS}::int,
        job_key => ${key}::text,
        priority => ${-(input.priority ?? 0)}::int,
        job_key_mode => 'unsafe_dedupe'
      )`.execute(db);
    const row = rows[0];
    if (row === undefined) throw new Error(`enqueue: add_job returned no job (${input.queue})`);
    // A new row has revision 0; `unsafe_dedupe` bumps the existing job's revision instead.
    return { id: Number(row.id), created: row.revision === 0 };
  }

  async lease(
    owner: string,
    queues: readonly string[],
    leaseMs: number,
  ): Promise<LeasedJob | undefined> {
    if (queues.length === 0) return undefined;
    const lockedUntil = isoAfter(this.now, leaseMs);
    const { rows } = await sql<GraphileJobRow>`
      with j as (
        select jobs.id, jobs.job_queue_id
        from ${jobs} as jobs
        where jobs.is_available = true
          and jobs.run_at <= ${isoAfter(this.now)}::timestamptz
          and jobs.task_id = any(
            select id from ${tasks} where identifier = any(${[...queues]}::text[])
          )
          and (
            jobs.job_queue_id is null
            or jobs.job_queue_id in (
              select id from ${jobQueues} as job_queues
              where job_queues.is_available = true
              for update skip locked
            )
          )
        order by jobs.priority asc, jobs.run_at asc, jobs.id asc
        limit 1
        for update skip locked
      ), q as (
        update ${jobQueues} as job_queues
        set locked_by = ${owner}, locked_at = ${lockedUntil}::timestamptz
        from j
        where job_queues.id = j.job_queue_id
      )
      update ${jobs} as jobs
      set attempts = jobs.attempts + 1, locked_by = ${owner}, locked_at = ${lockedUntil}::timestamptz
      from j
      where jobs.id = j.id
      returning ${withNames("jobs")}`.execute(this.db);
    return rows[0] === undefined ? undefined : toLeased(rows[0]);
  }

  async heartbeat(jobId: number, owner: string, leaseMs: number): Promise<boolean> {
    const result =
      await sql`update ${jobs} set locked_at = ${isoAfter(this.now, leaseMs)}::timestamptz
      where id = ${jobId} and locked_by = ${owner}`.execute(this.db);
    return Number(result.numAffectedRows) === 1;
  }

  /**
   * Runs `then` in a transaction after locking the job if `owner` holds it and unlocking it
   * through graphile (`force_unlock_workers`: job and named queue); the row lock keeps other
   * workers off it until `then` has rescheduled, completed or failed it.
   */
  private async settle<T>(
    jobId: number,
    owner: string,
    then: (trx: Kysely<PlatformDatabase>, job: GraphileJobRow) => Promise<T>,
  ): Promise<T | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const { rows } = await sql<GraphileJobRow>`select ${withNames("jobs")} from ${jobs} as jobs
        where id = ${jobId} and locked_by = ${owner} for update`.execute(trx);
      const job = rows[0];
      if (job === undefined) return undefined;
      await sql`select ${sql.raw(SCHEMA)}.force_unlock_workers(${[owner]}::text[])`.execute(trx);
      return then(trx, job);
    });
  }

  async complete(jobId: number, owner: string): Promise<boolean> {
    const done = await this.settle(jobId, owner, async (trx) => {
      await sql`select ${sql.raw(SCHEMA)}.complete_jobs(${[jobId]}::bigint[])`.execute(trx);
      return true;
    });
    return done === true;
  }

  async fail(
    jobId: number,
    owner: string,
    error: string,
    options: FailOptions = {},
  ): Promise<FailOutcome> {
    const outcome = await this.settle(jobId, owner, async (trx, job) => {
      if (options.retry !== false && job.attempts < job.max_attempts) {
        await sql`select ${sql.raw(SCHEMA)}.reschedule_jobs(${[jobId]}::bigint[],
          run_at => ${isoAfter(this.now, options.retryInMs ?? 0)}::timestamptz)`.execute(trx);
        await sql`update ${jobs} set last_error = ${error} where id = ${jobId}`.execute(trx);
        return "retrying" as const;
      }
      await sql`select ${sql.raw(SCHEMA)}.permanently_fail_jobs(${[jobId]}::bigint[], ${error})`.execute(
        trx,
      );
      return "failed" as const;
    });
    return outcome ?? "lease_lost";
  }

  async release(jobId: number, owner: string): Promise<void> {
    // The attempt is given back too: a graceful stop is not the job's failure.
    await this.settle(jobId, owner, async (trx, job) => {
      await sql`select ${sql.raw(SCHEMA)}.reschedule_jobs(${[jobId]}::bigint[],
        run_at => ${isoAfter(this.now)}::timestamptz, attempts => ${Math.max(0, job.attempts - 1)}::int)`.execute(
        trx,
      );
      await sql`select pg_notify(${WAKE_CHANNEL}, '')`.execute(trx);
    });
  }

  async holds(lease: LeaseFence, db: Kysely<PlatformDatabase> = this.db): Promise<boolean> {
    // FOR UPDATE: the row stays locked until the caller's transaction ends, so the lease cannot
    // be reclaimed (an UPDATE of the row) in between.
    const { rows } = await sql`select id from ${jobs}
      where id = ${lease.jobId} and locked_by = ${lease.owner} and attempts = ${lease.attempt}
        and locked_at > ${isoAfter(this.now)}::timestamptz
      for update`.execute(db);
    return rows.length === 1;
  }

  async cancelPending(
    dedupeKey: string,
    reason: string,
    db: Kysely<PlatformDatabase> = this.db,
  ): Promise<number> {
    // `permanently_fail_jobs` leaves locked (running) jobs alone.
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from ${sql.raw(SCHEMA)}.permanently_fail_jobs(
        array(select id from ${sql.raw(SCHEMA)}.jobs
          where key = ${dedupeKey} and locked_at is null and attempts < max_attempts),
        ${reason})`.execute(db);
    return Number(rows[0]?.n ?? 0);
  }

  async reclaimExpired(): Promise<ReclaimedJob[]> {
    return this.db.transaction().execute(async (trx) => {
      // SKIP LOCKED: a job whose fence a publish holds right now is not expired for it.
      const { rows } = await sql<GraphileJobRow>`select ${withNames("jobs")} from ${jobs} as jobs
        where locked_at < ${isoAfter(this.now)}::timestamptz
        for update skip locked`.execute(trx);
      if (rows.length === 0) return [];
      const owners = rows.map((row) => row.locked_by ?? "");
      await sql`select ${sql.raw(SCHEMA)}.force_unlock_workers(${owners}::text[])`.execute(trx);
      const failed = rows.filter((row) => row.attempts >= row.max_attempts);
      const requeued = rows.filter((row) => row.attempts < row.max_attempts);
      if (failed.length > 0) {
        await sql`select ${sql.raw(SCHEMA)}.permanently_fail_jobs(
          ${failed.map((row) => row.id)}::bigint[],
          'lease expired and no attempts are left')`.execute(trx);
      }
      if (requeued.length > 0) {
        await sql`update ${jobs}
          set last_error = 'lease expired (the worker stopped or lost the database)'
          where id = any(${requeued.map((row) => row.id)}::bigint[])`.execute(trx);
        await sql`select pg_notify(${WAKE_CHANNEL}, '')`.execute(trx);
      }
      return [
        ...requeued.map((row) => ({ job: toLeased(row), outcome: "requeued" as const })),
        ...failed.map((row) => ({ job: toLeased(row), outcome: "failed" as const })),
      ];
    });
  }

  async findByDedupeKey(dedupeKey: string): Promise<Job | undefined> {
    const { rows } = await sql<GraphileJobRow>`select ${withNames("jobs")} from ${jobs} as jobs
      where key = ${dedupeKey}`.execute(this.db);
    return rows[0] === undefined ? undefined : toJob(rows[0]);
  }

  async dueJobs(): Promise<DueJobs[]> {
    const { rows } = await sql<{ queue: string; n: number; oldest: Date }>`
      select task_identifier as queue, count(*)::int as n, min(run_at) as oldest
      from ${sql.raw(SCHEMA)}.jobs
      where locked_at is null and attempts < max_attempts and run_at <= ${isoAfter(this.now)}::timestamptz
      group by task_identifier`.execute(this.db);
    return rows.map((row) => ({
      queue: row.queue,
      count: Number(row.n),
      oldestDueAt: row.oldest.toISOString(),
    }));
  }

  wake(): void {
    for (const listener of this.listeners) listener();
  }

  onWake(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.startListening();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopListening();
    };
  }

  /** Another node's enqueue wakes this node's idle workers at once instead of at their next poll. */
  private startListening(): void {
    const listen = this.options.listen;
    if (listen === undefined || this.listening !== undefined) return;
    this.listening = pgListen({
      url: listen.url,
      channel: WAKE_CHANNEL,
      log: listen.log,
      onNotification: () => this.wake(),
    }).catch((error: unknown) => {
      // Workers poll anyway: without the hint they are only slower to start.
      listen.log.warn({ err: error }, "cannot LISTEN for new jobs; workers poll");
      return undefined;
    });
  }

  private stopListening(): void {
    const listening = this.listening;
    this.listening = undefined;
    void listening?.then((listener) => listener?.stop());
  }
}
