import { sql, type Insertable, type Kysely, type UpdateObject } from "kysely";
import { isUniqueViolation } from "../../lib/database.ts";
import { isPostgres } from "../../lib/postgres.ts";
import { JOBS_DEDUPE } from "../db/partial-indexes.ts";
import type { Job, JobsTable, PlatformDatabase } from "../db/schema.ts";

/**
 * The durable job queue, on the `jobs` table (see its comment in `db/schema.ts`). At-least-once:
 * a worker leases a due job, heartbeats while it runs, and completes or fails it; a lease that
 * expires (a crash, a lost worker) makes the job pending again until `max_attempts`, so
 * handlers must be idempotent. A `concurrency_key` lets at most one job per key run at a time
 * (a unique partial index enforces it), and a `dedupe_key` makes a second enqueue of the same
 * pending or running work a no-op.
 *
 * The SQL is Kysely's portable subset (UPDATE … RETURNING, partial unique indexes, ON CONFLICT
 * DO NOTHING without a target), so the same class runs on Postgres, where the lease query adds
 * `FOR UPDATE SKIP LOCKED`; the platform on Postgres uses graphile-worker's queue instead
 * (`graphile-queue.ts`, chosen in `open-queue.ts`). Both pass one contract suite
 * (`test/helpers/job-queue-contract.ts`). Nothing here is held in memory between calls: any
 * number of processes can share the table.
 */
export interface JobQueue {
  /**
   * Stores a job (inside the caller's transaction when `db` is given). With a `dedupeKey` that
   * a pending or running job already holds, nothing is stored and that job's id is returned.
   */
  enqueue(input: EnqueueInput, db?: Kysely<PlatformDatabase>): Promise<EnqueueResult>;
  /**
   * Leases the most urgent due job of the given queues whose concurrency key has no running
   * job, or returns undefined. The lease lasts `leaseMs` unless extended by `heartbeat`.
   * `owner` names the lease in every later call: give each lease its own, so that a late call
   * of an earlier delivery of the same job never counts for a later one.
   */
  lease(owner: string, queues: readonly string[], leaseMs: number): Promise<LeasedJob | undefined>;
  /** Extends a lease; false when the lease was lost (expired and reclaimed, or cancelled). */
  heartbeat(jobId: number, owner: string, leaseMs: number): Promise<boolean>;
  /** Marks a leased job done; false when the lease was lost meanwhile. */
  complete(jobId: number, owner: string): Promise<boolean>;
  /**
   * Records a failure of a leased job: it runs again after `retryInMs` while attempts remain
   * (and `retry` is not false), and is failed for good otherwise.
   */
  fail(jobId: number, owner: string, error: string, options?: FailOptions): Promise<FailOutcome>;
  /** Gives a lease back at once (a graceful stop): the job is due again now, attempt kept. */
  release(jobId: number, owner: string): Promise<void>;
  /**
   * Whether `lease` is still held: the job is running under that owner and attempt, and the
   * lease has not expired. Asked first inside the caller's transaction (`db`), it fences the
   * writes that follow: a worker that lost its lease cannot make them, and the job's row stays
   * locked until the transaction ends.
   */
  holds(lease: LeaseFence, db?: Kysely<PlatformDatabase>): Promise<boolean>;
  /** Cancels pending (not running) jobs holding `dedupeKey`; returns how many. */
  cancelPending(dedupeKey: string, reason: string, db?: Kysely<PlatformDatabase>): Promise<number>;
  /**
   * Running jobs whose lease has expired: those with attempts left become pending again, the
   * others fail ("lease expired"). Returns both kinds, so that the owners of the work they stand
   * for (e.g. builds) can record what happened.
   */
  reclaimExpired(): Promise<ReclaimedJob[]>;
  /**
   * The newest job holding `dedupeKey`, whatever its state (graphile-worker deletes completed
   * jobs: there, a completed job is not found).
   */
  findByDedupeKey(dedupeKey: string): Promise<Job | undefined>;
  /** Jobs due to run and not yet taken, per queue (the queue gauges read it at scrape time). */
  dueJobs(): Promise<DueJobs[]>;
  /** In-process hint that work was just committed (workers poll anyway; this only saves time). */
  wake(): void;
  /** Registers a wake-up listener; returns the function that removes it. */
  onWake(listener: () => void): () => void;
}

export interface DueJobs {
  queue: string;
  count: number;
  /** When the longest-waiting of them was due (ISO-8601). */
  oldestDueAt: string;
}

export interface EnqueueInput {
  queue: string;
  payload: Readonly<Record<string, unknown>>;
  concurrencyKey?: string | null;
  dedupeKey?: string | null;
  /** Deliveries before the job fails for good (default 3). */
  maxAttempts?: number;
  runAt?: Date;
  /** Higher runs first (default 0). */
  priority?: number;
}

export interface EnqueueResult {
  id: number;
  /** False when a pending or running job with the same dedupe key already existed. */
  created: boolean;
}

export interface LeasedJob {
  id: number;
  queue: string;
  payload: unknown;
  /** This delivery's number: 1 for the first run, 2 after one expired lease or retry, … */
  attempt: number;
  maxAttempts: number;
  concurrencyKey: string | null;
  dedupeKey: string | null;
  leaseOwner: string;
  /** When it was due (`run_at`): the wait until a worker took it is a metric. */
  dueAt?: string;
}

/** One delivery of a job, as `holds` checks it. */
export interface LeaseFence {
  jobId: number;
  owner: string;
  /** The delivery's number: after a reclaim the same owner (pool) may lease the job again. */
  attempt: number;
}

/** The fence of a leased job's delivery. */
export function leaseFence(job: LeasedJob): LeaseFence {
  return { jobId: job.id, owner: job.leaseOwner, attempt: job.attempt };
}

export interface ReclaimedJob {
  job: LeasedJob;
  /** `requeued`: it will run again; `failed`: no attempts were left. */
  outcome: "requeued" | "failed";
}

export interface FailOptions {
  retry?: boolean;
  retryInMs?: number;
}

export type FailOutcome = "retrying" | "failed" | "lease_lost";

const DEFAULT_MAX_ATTEMPTS = 3;

/** The `jobs` row of a new job (also what the webhook intake's SQLite path inserts). */
export function pendingJobRow(input: EnqueueInput, now: Date): Insertable<JobsTable> {
  const at = now.toISOString();
  return {
    queue: input.queue,
    payload: JSON.stringify(input.payload),
    state: "pending",
    priority: input.priority ?? 0,
    run_at: (input.runAt ?? now).toISOString(),
    attempts: 0,
    max_attempts: input.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    lease_owner: null,
    lease_expires_at: null,
    concurrency_key: input.concurrencyKey ?? null,
    dedupe_key: input.dedupeKey ?? null,
    last_error: null,
    created_at: at,
    updated_at: at,
    finished_at: null,
  };
}

/** The instant `offsetMs` after a queue's clock reads now, as the ISO text both queues store. */
export function isoAfter(now: () => Date, offsetMs = 0): string {
  return new Date(now().getTime() + offsetMs).toISOString();
}

type UpdateSet = UpdateObject<PlatformDatabase, "jobs">;

function toLeased(row: Job): LeasedJob {
  return {
    id: row.id,
    queue: row.queue,
    payload: JSON.parse(row.payload) as unknown,
    attempt: row.attempts,
    maxAttempts: row.max_attempts,
    concurrencyKey: row.concurrency_key,
    dedupeKey: row.dedupe_key,
    leaseOwner: row.lease_owner ?? "",
    dueAt: row.run_at,
  };
}

/**
 * A live (pending or running) job, as the condition of the unique index `jobs_dedupe` reads:
 * SQLite uses a partial index only for a query repeating its condition literally.
 */
const live = JOBS_DEDUPE.where;

/** The `jobs` table as a `JobQueue`. `now` is injectable so that tests can move time. */
export class SqlJobQueue implements JobQueue {
  private readonly listeners = new Set<() => void>();
  /**
   * On Postgres, concurrent leases skip the rows another worker is taking (`FOR UPDATE SKIP
   * LOCKED`) instead of queueing behind its lock; SQLite has one writer and no such clause.
   */
  private readonly postgres: boolean;

  constructor(
    private readonly db: Kysely<PlatformDatabase>,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.postgres = isPostgres(db as Kysely<unknown>);
  }

  async enqueue(
    input: EnqueueInput,
    db: Kysely<PlatformDatabase> = this.db,
  ): Promise<EnqueueResult> {
    const inserted = await db
      .insertInto("jobs")
      .values(pendingJobRow(input, this.now()))
      // No conflict target: portable, and the only unique index that can conflict is the
      // dedupe one (ids are generated).
      .onConflict((oc) => oc.doNothing())
      .returning("id")
      .executeTakeFirst();
    if (inserted) return { id: inserted.id, created: true };
    const existing = await db
      .selectFrom("jobs")
      .select("id")
      .where("dedupe_key", "=", input.dedupeKey ?? "")
      .where(live)
      .executeTakeFirst();
    if (!existing) throw new Error(`enqueue: conflict without a live job for ${input.dedupeKey}`);
    return { id: existing.id, created: false };
  }

  /**
   * Whether a job of `queues` is due: one look-up on `jobs_due` in a plain statement. An idle
   * pool polls twice a second, and the lease's query costs far more to build and run.
   */
  private async anyDue(queues: readonly string[], now: string): Promise<boolean> {
    const { rows } = await sql<{ due: number }>`select 1 as due from jobs
      where state = 'pending' and queue in (${sql.join([...queues])}) and run_at <= ${now}
      limit 1`.execute(this.db);
    return rows.length > 0;
  }

  async lease(
    owner: string,
    queues: readonly string[],
    leaseMs: number,
  ): Promise<LeasedJob | undefined> {
    if (queues.length === 0) return undefined;
    const now = isoAfter(this.now);
    if (!(await this.anyDue(queues, now))) return undefined;
    const candidate = this.db
      .selectFrom("jobs as j")
      .select("j.id")
      .where("j.state", "=", "pending")
      .where("j.queue", "in", [...queues])
      .where("j.run_at", "<=", now)
      .where((eb) =>
        eb.or([
          eb("j.concurrency_key", "is", null),
          eb.not(
            eb.exists(
              eb
                .selectFrom("jobs as r")
                .select("r.id")
                .where("r.state", "=", "running")
                .whereRef("r.concurrency_key", "=", "j.concurrency_key"),
            ),
          ),
        ]),
      )
      // One key runs in order: a job waits while an earlier due job of its key is pending. On
      // Postgres, SKIP LOCKED would otherwise pass over the earlier job another worker is leasing.
      .where((eb) =>
        eb.or([
          eb("j.concurrency_key", "is", null),
          eb.not(
            eb.exists(
              eb
                .selectFrom("jobs as p")
                .select("p.id")
                .where("p.state", "=", "pending")
                .where("p.run_at", "<=", now)
                .whereRef("p.concurrency_key", "=", "j.concurrency_key")
                .where((inner) =>
                  inner.or([
                    inner("p.priority", ">", inner.ref("j.priority")),
                    inner.and([
                      inner("p.priority", "=", inner.ref("j.priority")),
                      inner("p.id", "<", inner.ref("j.id")),
                    ]),
                  ]),
                ),
            ),
          ),
        ]),
      )
      .orderBy("j.priority", "desc")
      .orderBy("j.id")
      .limit(1)
      .$call((query) => (this.postgres ? query.forUpdate().skipLocked() : query));
    try {
      const row = await this.db
        .updateTable("jobs")
        .set((eb) => ({
          state: "running",
          lease_owner: owner,
          lease_expires_at: isoAfter(this.now, leaseMs),
          attempts: eb("attempts", "+", 1),
          updated_at: now,
        }))
        .where("id", "=", candidate)
        .where("state", "=", "pending")
        .returningAll()
        .executeTakeFirst();
      return row ? toLeased(row) : undefined;
    } catch (error) {
      // Another worker started a job of the same key at the same moment: try again later.
      if (isUniqueViolation(error)) return undefined;
      throw error;
    }
  }

  /**
   * Updates the job if it is still running under `owner`'s lease (the one query behind
   * heartbeats, completion, failure and release); false when the lease was lost. With
   * `attemptsLeft`, only a job that may still be retried is updated.
   */
  private async updateOwned(
    jobId: number,
    owner: string,
    set: UpdateSet,
    options: { attemptsLeft?: boolean } = {},
  ): Promise<boolean> {
    let query = this.db
      .updateTable("jobs")
      .set(set)
      .where("id", "=", jobId)
      .where("state", "=", "running")
      .where("lease_owner", "=", owner);
    if (options.attemptsLeft === true) {
      query = query.where((eb) => eb("attempts", "<", eb.ref("max_attempts")));
    }
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async heartbeat(jobId: number, owner: string, leaseMs: number): Promise<boolean> {
    return this.updateOwned(jobId, owner, {
      lease_expires_at: isoAfter(this.now, leaseMs),
      updated_at: isoAfter(this.now),
    });
  }

  async complete(jobId: number, owner: string): Promise<boolean> {
    const now = isoAfter(this.now);
    return this.updateOwned(jobId, owner, {
      state: "completed",
      lease_owner: null,
      lease_expires_at: null,
      updated_at: now,
      finished_at: now,
    });
  }

  async fail(
    jobId: number,
    owner: string,
    error: string,
    options: FailOptions = {},
  ): Promise<FailOutcome> {
    const now = isoAfter(this.now);
    const released = { lease_owner: null, lease_expires_at: null, last_error: error };
    if (
      options.retry !== false &&
      (await this.updateOwned(
        jobId,
        owner,
        {
          ...released,
          state: "pending",
          run_at: isoAfter(this.now, options.retryInMs ?? 0),
          updated_at: now,
        },
        { attemptsLeft: true },
      ))
    ) {
      return "retrying";
    }
    const failed = await this.updateOwned(jobId, owner, {
      ...released,
      state: "failed",
      updated_at: now,
      finished_at: now,
    });
    return failed ? "failed" : "lease_lost";
  }

  async release(jobId: number, owner: string): Promise<void> {
    // The attempt is given back too: a graceful stop is not the job's failure.
    await this.updateOwned(jobId, owner, {
      state: "pending",
      lease_owner: null,
      lease_expires_at: null,
      run_at: isoAfter(this.now),
      attempts: sql<number>`attempts - 1`,
      updated_at: isoAfter(this.now),
    });
  }

  async holds(lease: LeaseFence, db: Kysely<PlatformDatabase> = this.db): Promise<boolean> {
    // A no-op update rather than a read: it locks the row (Postgres) or the database (SQLite)
    // until the caller's transaction ends, so the lease cannot be reclaimed in between.
    const result = await db
      .updateTable("jobs")
      .set((eb) => ({ lease_owner: eb.ref("lease_owner") }))
      .where("id", "=", lease.jobId)
      .where("state", "=", "running")
      .where("lease_owner", "=", lease.owner)
      .where("attempts", "=", lease.attempt)
      .where("lease_expires_at", ">", isoAfter(this.now))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async cancelPending(
    dedupeKey: string,
    reason: string,
    db: Kysely<PlatformDatabase> = this.db,
  ): Promise<number> {
    const now = isoAfter(this.now);
    const result = await db
      .updateTable("jobs")
      .set({ state: "failed", last_error: reason, updated_at: now, finished_at: now })
      .where("dedupe_key", "=", dedupeKey)
      .where(live)
      .where("state", "=", "pending")
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async reclaimExpired(): Promise<ReclaimedJob[]> {
    const now = isoAfter(this.now);
    const requeued = await this.db
      .updateTable("jobs")
      .set({
        state: "pending",
        lease_owner: null,
        lease_expires_at: null,
        run_at: now,
        last_error: "lease expired (the worker stopped or lost the database)",
        updated_at: now,
      })
      .where("state", "=", "running")
      .where("lease_expires_at", "<", now)
      .where((eb) => eb("attempts", "<", eb.ref("max_attempts")))
      .returningAll()
      .execute();
    const failed = await this.db
      .updateTable("jobs")
      .set({
        state: "failed",
        lease_owner: null,
        lease_expires_at: null,
        last_error: "lease expired and no attempts are left",
        updated_at: now,
        finished_at: now,
      })
      .where("state", "=", "running")
      .where("lease_expires_at", "<", now)
      .returningAll()
      .execute();
    return [
      ...requeued.map((row) => ({ job: toLeased(row), outcome: "requeued" as const })),
      ...failed.map((row) => ({ job: toLeased(row), outcome: "failed" as const })),
    ];
  }

  async findByDedupeKey(dedupeKey: string): Promise<Job | undefined> {
    return this.db
      .selectFrom("jobs")
      .selectAll()
      .where("dedupe_key", "=", dedupeKey)
      .orderBy("id", "desc")
      .limit(1)
      .executeTakeFirst();
  }

  async dueJobs(): Promise<DueJobs[]> {
    const rows = await this.db
      .selectFrom("jobs")
      .select([
        "queue",
        (eb) => eb.fn.countAll<number>().as("n"),
        (eb) => eb.fn.min<string>("run_at").as("oldest"),
      ])
      .where("state", "=", "pending")
      .where("run_at", "<=", isoAfter(this.now))
      .groupBy("queue")
      .execute();
    return rows.map((row) => ({ queue: row.queue, count: Number(row.n), oldestDueAt: row.oldest }));
  }

  wake(): void {
    for (const listener of this.listeners) listener();
  }

  onWake(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
