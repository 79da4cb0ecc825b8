import type SQLite from "better-sqlite3";
import type { Insertable } from "kysely";
import { sqliteConnection, walWritesPaused } from "../../lib/database.ts";
import { isGitObjectId } from "../../lib/git-ids.ts";
import { objectId } from "../../lib/ids.ts";
import {
  BUILD_MAX_ATTEMPTS,
  BUILD_QUEUE,
  buildJobKey,
  linkedForBuilds,
  siteConcurrencyKey,
  type BuildRequest,
  type BuildRequestResult,
} from "../builds/service.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import { BUILDS_SITE_SHA, JOBS_DEDUPE, WEBHOOK_DELIVERIES_KEY } from "../db/partial-indexes.ts";
import type { Build, Deploy, JobsTable, Site, WebhookDelivery } from "../db/schema.ts";
import { deployContext } from "../deploys/context.ts";
import { invalidField } from "../errors.ts";
import { pendingJobRow, SqlJobQueue } from "../jobs/queue.ts";
import { checkBranch } from "../sites/repo-settings.ts";
import {
  DELIVERIES_KEPT_PER_SITE,
  deliveryRecorded,
  deliveryRow,
  recordDelivery,
  type Draft,
} from "./deliveries.ts";

/**
 * The webhook intake's hot path on the embedded SQLite, as a few prepared statements run
 * synchronously on Kysely's one connection (bench/RESULTS.md, webhook intake: Kysely's query
 * building cost more CPU than SQLite itself). It does exactly what the portable path does —
 * `requestBuildInTransaction` (builds/service.ts) and `storeDelivery` (deliveries.ts), which
 * Postgres keeps using, as does a push this path does not cover (a site with deploy
 * notification hooks, a preview, a rebuild) — in one `BEGIN IMMEDIATE` transaction: the write
 * lock is taken first, so requests for one site, from any process, are decided one after the
 * other (the portable path's no-op site update).
 *
 * A statement runs only when no transaction is open on the connection: every statement here
 * runs synchronously, so nothing else can interleave, and nothing uncommitted is read.
 */

/** How many deliveries of a site are stored between two prunes (the prune walks the kept rows). */
export const PRUNE_EVERY = 50;

interface Statements {
  site: SQLite.Statement<[string], Site>;
  builtDelivery: SQLite.Statement<[string, string], WebhookDelivery>;
  sameCommit: SQLite.Statement<[string, string, string], Build>;
  queuedHead: SQLite.Statement<[string, string], Build>;
  deploy: SQLite.Statement<[string], Deploy>;
  queued: SQLite.Statement<[string, string], { id: string; deploy_id: string | null }>;
  supersedeBuild: SQLite.Statement<[{ reason: string; now: string; id: string }]>;
  supersedeDeploy: SQLite.Statement<[string, string, string]>;
  cancelJob: SQLite.Statement<[{ reason: string; now: string; key: string }]>;
  appendLog: SQLite.Statement<[{ build: string; now: string; message: string }]>;
  nextNumber: SQLite.Statement<[string], { n: number }>;
  insertDeploy: SQLite.Statement<[Deploy]>;
  insertBuild: SQLite.Statement<[Build]>;
  hasCreatedHooks: SQLite.Statement<[string], { one: number }>;
  insertJob: SQLite.Statement<[Insertable<JobsTable>]>;
  insertDelivery: SQLite.Statement<[WebhookDelivery]>;
  prune: SQLite.Statement<[{ site: string; kept: number }]>;
}

// A build of the branch itself, not of a pull/merge request whose head it is (`sameLine`).
const NOT_A_PREVIEW = `not exists (select 1 from deploys where deploys.id = builds.deploy_id
  and deploys.review_id is not null)`;

function prepare(db: SQLite.Database): Statements {
  const columns = (names: string) => names.split(/\s*,\s*/);
  const insert = (table: string, names: string) =>
    `insert into ${table} (${columns(names).join(", ")}) values (${columns(names)
      .map((c) => `@${c}`)
      .join(", ")})`;
  return {
    site: db.prepare("select * from sites where id = ?"),
    builtDelivery: db.prepare(
      `select * from webhook_deliveries where site_id = ? and delivery_key = ?
        and ${WEBHOOK_DELIVERIES_KEY.condition} order by received_at limit 1`,
    ),
    sameCommit: db.prepare(
      `select * from builds where site_id = ? and branch = ? and sha = ?
        and ${BUILDS_SITE_SHA.condition} and ${NOT_A_PREVIEW}
        order by number desc limit 1`,
    ),
    // Repeats the condition of the index it reads (`builds_site_sha`).
    queuedHead: db.prepare(
      `select * from builds where site_id = ? and branch = ? and state = 'enqueued'
        and ${BUILDS_SITE_SHA.condition} and sha is null and ${NOT_A_PREVIEW}
        order by number desc limit 1`,
    ),
    deploy: db.prepare("select * from deploys where id = ?"),
    queued: db.prepare(
      `select id, deploy_id from builds where site_id = ? and branch = ? and state = 'enqueued'
        and ${NOT_A_PREVIEW}`,
    ),
    supersedeBuild: db.prepare(
      `update builds set state = 'superseded', error = @reason, finished_at = @now,
        updated_at = @now where id = @id and state = 'enqueued'`,
    ),
    supersedeDeploy: db.prepare(
      "update deploys set state = 'error', error_message = ?, updated_at = ? where id = ?",
    ),
    // `SqlJobQueue.cancelPending` (repeating the condition of the index it reads).
    cancelJob: db.prepare(
      `update jobs set state = 'failed', last_error = @reason, updated_at = @now,
        finished_at = @now where dedupe_key = @key and ${JOBS_DEDUPE.condition}
        and state = 'pending'`,
    ),
    // `appendLogLines`: one error line in the "initializing" section, after the build's last.
    appendLog: db.prepare(
      `insert into build_log_lines (build_id, seq, time, section, error, message)
        select @build, coalesce(max(seq) + 1, 0), @now, 'initializing', 1, @message
          from build_log_lines where build_id = @build`,
    ),
    nextNumber: db.prepare(
      "select coalesce(max(number), 0) + 1 as n from builds where site_id = ?",
    ),
    insertDeploy: db.prepare(
      insert(
        "deploys",
        `id, site_id, build_id, state, context, branch, commit_ref, title, draft, locked,
         error_message, required, file_count, size_bytes, deploy_source, required_functions,
         warnings, review_id, review_url, review_state, approved_by, commit_url, committer,
         created_at, updated_at, published_at, expired_at`,
      ),
    ),
    insertBuild: db.prepare(
      insert(
        "builds",
        `id, site_id, deploy_id, state, trigger, branch, sha, title, clear_cache, error,
         webhook_delivery_id, build_hook_id, attempts, number, created_at, started_at,
         finished_at, updated_at`,
      ),
    ),
    hasCreatedHooks: db.prepare(
      `select 1 as one from notification_hooks where site_id = ? and event = 'deploy_created'
        and disabled = 0 limit 1`,
    ),
    // The row `SqlJobQueue.enqueue` stores (a new build's key never conflicts).
    insertJob: db.prepare(
      insert(
        "jobs",
        `queue, payload, state, priority, run_at, attempts, max_attempts, lease_owner,
         lease_expires_at, concurrency_key, dedupe_key, last_error, created_at, updated_at,
         finished_at`,
      ),
    ),
    insertDelivery: db.prepare(
      insert(
        "webhook_deliveries",
        `id, site_id, provider, event, delivery_key, ref, sha, outcome, reason, status_code,
         build_id, duplicate_of, received_at`,
      ),
    ),
    // Exactly the newest (as listed: `received_at`, then `id`; many share a millisecond).
    prune: db.prepare(
      `delete from webhook_deliveries where site_id = @site and id not in (
         select id from webhook_deliveries where site_id = @site
          order by received_at desc, id desc limit @kept)`,
    ),
  };
}

const intakes = new WeakMap<object, SqliteIntake | null>();

/** The SQLite intake of `ctx`'s database, or undefined where the portable path runs. */
export function sqliteIntake(ctx: PlatformContext): SqliteIntake | undefined {
  let intake = intakes.get(ctx.db);
  if (intake === undefined) {
    const connection = sqliteConnection(ctx.db);
    // The build's job goes into the `jobs` table of this same database, in this transaction.
    const db = ctx.db;
    intake =
      connection !== undefined && ctx.jobs instanceof SqlJobQueue
        ? new SqliteIntake(
            connection,
            (work) => db.connection().execute(async () => work()),
            () => walWritesPaused(db),
          )
        : null;
    intakes.set(ctx.db, intake);
  }
  return intake ?? undefined;
}

/**
 * Runs `fast` on the SQLite intake's prepared statements (at once when no transaction is
 * open on the connection, else once it is free), or `portable` where there is none: a read.
 */
export async function onSqlite<T>(
  ctx: PlatformContext,
  fast: (intake: SqliteIntake) => T,
  portable: () => Promise<T>,
): Promise<T> {
  const intake = sqliteIntake(ctx);
  if (intake === undefined) return portable();
  if (intake.ready) return fast(intake);
  return ctx.db.connection().execute(async () => fast(intake));
}

/** `recordDelivery`, on the SQLite intake where there is one. */
export async function storeRecord(
  ctx: PlatformContext,
  siteId: string,
  id: string,
  draft: Draft,
): Promise<WebhookDelivery> {
  const intake = sqliteIntake(ctx);
  if (intake === undefined) return recordDelivery(ctx, siteId, id, draft);
  const row = deliveryRow(ctx, siteId, id, draft);
  await intake.record(row);
  deliveryRecorded(ctx, row);
  return row;
}

/** What `buildAndRecord` did: the portable path's answer, or `undefined` to run that path. */
export interface StoredPush {
  row: WebhookDelivery;
  result: BuildRequestResult;
}

interface Write {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class SqliteIntake {
  private readonly statements: Statements;
  /** Deliveries stored per site since its last prune, in this process. */
  private readonly sincePrune = new Map<string, number>();
  private queue: Write[] = [];
  private scheduled = false;

  /**
   * `whenFree` runs its work once Kysely's connection is free (no transaction open);
   * `writesPaused`, while the WAL is being started over, tells when to write again.
   */
  constructor(
    private readonly connection: SQLite.Database,
    private readonly whenFree: (work: () => void) => Promise<void>,
    private readonly writesPaused: () => Promise<void> | undefined = () => undefined,
  ) {
    this.statements = prepare(connection);
  }

  /** Whether a statement may run now (no transaction of someone else's is open). */
  get ready(): boolean {
    return !this.connection.inTransaction;
  }

  site(id: string): Site | undefined {
    return this.statements.site.get(id);
  }

  builtDelivery(siteId: string, key: string): WebhookDelivery | undefined {
    return this.statements.builtDelivery.get(siteId, key);
  }

  /** Stores one delivery, pruning the site's oldest now and then (see `pruneNowAndThen`). */
  record(row: WebhookDelivery): Promise<void> {
    return this.write(() => this.store(row));
  }

  /**
   * Runs `work` (synchronous statements) in its own savepoint of the next shared transaction:
   * the writes that arrive in one turn of the event loop commit together, so the pages they
   * share (a table's last leaf, an index's) are written to the WAL once, not once per
   * delivery. A failing `work` rolls back to its savepoint and rejects alone; a failing commit
   * rejects them all. Nothing resolves before the commit.
   */
  private write<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    });
  }

  private flush(): void {
    if (this.queue.length === 0) return;
    // The checkpointer copies the WAL's last frames so that this batch starts it over (a few
    // milliseconds): the batch grows meanwhile, the event loop goes on.
    const paused = this.writesPaused();
    if (paused !== undefined) {
      void paused.then(() => this.flush());
      return;
    }
    // Someone's Kysely transaction is open on the connection: after it, not inside it.
    if (this.connection.inTransaction) {
      this.whenFree(() => this.flush()).catch((error: unknown) => this.rejectAll(error));
      return;
    }
    const batch = this.queue;
    this.queue = [];
    const outcomes: Array<{ value: unknown } | { error: unknown }> = [];
    try {
      this.connection
        .transaction(() => {
          for (const write of batch) {
            try {
              // Nested: a savepoint.
              outcomes.push({ value: this.connection.transaction(write.work)() });
            } catch (error) {
              outcomes.push({ error });
            }
          }
        })
        .immediate();
    } catch (error) {
      for (const write of batch) write.reject(error);
      return;
    }
    batch.forEach((write, i) => {
      const outcome = outcomes[i]!;
      if ("error" in outcome) write.reject(outcome.error);
      else write.resolve(outcome.value);
    });
  }

  private rejectAll(error: unknown): void {
    const batch = this.queue;
    this.queue = [];
    for (const write of batch) write.reject(error);
  }

  /**
   * A one-branch push's build request and its delivery's record in one transaction, or
   * `undefined` (nothing written) for a request the portable path must make: a site with
   * deploy notification hooks (their jobs carry the deploy), a pull/merge request, a rebuild.
   * `row` makes the delivery's record from the request's result.
   */
  buildAndRecord(
    ctx: PlatformContext,
    request: BuildRequest,
    row: (result: BuildRequestResult) => WebhookDelivery,
  ): Promise<StoredPush | undefined> {
    if (request.review !== undefined || request.clearCache === true) {
      return Promise.resolve(undefined);
    }
    if (request.trigger === "retry") return Promise.resolve(undefined);
    const branch = checkBranch("branch", request.branch);
    const sha = request.sha?.toLowerCase();
    if (sha !== undefined && !isGitObjectId(sha)) {
      throw invalidField("sha", "must be a full commit id (40 or 64 hexadecimal characters)");
    }
    return this.write((): StoredPush | undefined => {
      const s = this.statements;
      const site = linkedForBuilds(s.site.get(request.siteId));
      if (s.hasCreatedHooks.get(site.id) !== undefined) return undefined;
      const existing =
        sha !== undefined
          ? s.sameCommit.get(site.id, branch, sha)
          : s.queuedHead.get(site.id, branch);
      let result: BuildRequestResult;
      if (existing !== undefined) {
        const deploy = s.deploy.get(existing.deploy_id ?? "");
        if (deploy === undefined) throw new Error(`build ${existing.id} has no deploy`);
        result = { build: existing, deploy, coalescedWith: existing.id };
      } else {
        result = this.newBuild(ctx, site, branch, sha, request);
      }
      const stored = { row: row(result), result };
      this.store(stored.row);
      return stored;
    });
  }

  private newBuild(
    ctx: PlatformContext,
    site: Site,
    branch: string,
    sha: string | undefined,
    request: BuildRequest,
  ): BuildRequestResult {
    const s = this.statements;
    const now = isoNow(ctx);
    const buildId = objectId();
    const deployId = objectId();
    // `supersedeQueued`: the branch's queued builds never start; this one is newer.
    for (const old of s.queued.all(site.id, branch)) {
      const reason = `Superseded by build ${buildId}, a newer request for branch "${branch}"; this build never started`;
      s.supersedeBuild.run({ reason, now, id: old.id });
      if (old.deploy_id !== null) s.supersedeDeploy.run(reason, now, old.deploy_id);
      s.cancelJob.run({ reason, now: new Date().toISOString(), key: buildJobKey(old.id) });
      s.appendLog.run({ build: old.id, now, message: reason });
    }
    const number = s.nextNumber.get(site.id)!.n;
    const deploy: Deploy = {
      id: deployId,
      site_id: site.id,
      build_id: buildId,
      state: "new",
      context: deployContext(site, branch),
      branch,
      commit_ref: sha ?? null,
      title: request.title ?? null,
      draft: 0,
      locked: 0,
      error_message: null,
      required: "[]",
      file_count: null,
      size_bytes: null,
      deploy_source: "build",
      required_functions: "[]",
      warnings: "[]",
      review_id: null,
      review_url: null,
      review_state: null,
      approved_by: null,
      commit_url: null,
      committer: null,
      created_at: now,
      updated_at: now,
      published_at: null,
      expired_at: null,
      summary: null,
    };
    const build: Build = {
      id: buildId,
      site_id: site.id,
      deploy_id: deployId,
      state: "enqueued",
      trigger: request.trigger,
      branch,
      sha: sha ?? null,
      title: request.title ?? null,
      clear_cache: 0,
      error: null,
      webhook_delivery_id: request.webhookDeliveryId ?? null,
      build_hook_id: request.buildHookId ?? null,
      attempts: 0,
      number,
      created_at: now,
      started_at: null,
      finished_at: null,
      updated_at: now,
    };
    s.insertDeploy.run(deploy);
    s.insertBuild.run(build);
    // The queue's own clock (`SqlJobQueue` stamps jobs with the wall clock).
    s.insertJob.run(
      pendingJobRow(
        {
          queue: BUILD_QUEUE,
          payload: { buildId },
          maxAttempts: BUILD_MAX_ATTEMPTS,
          concurrencyKey: siteConcurrencyKey(site.id),
          dedupeKey: buildJobKey(buildId),
        },
        new Date(),
      ),
    );
    ctx.log.debug(
      { siteId: site.id, buildId, number, branch, trigger: request.trigger },
      "build enqueued",
    );
    return { build, deploy };
  }

  private store(row: WebhookDelivery): void {
    this.statements.insertDelivery.run(row);
    this.pruneNowAndThen(row.site_id);
  }

  /**
   * Keeps a site's newest deliveries: the prune walks all of the site's rows, so it is
   * done at a site's first delivery in this process and then every `PRUNE_EVERY`th; a site
   * holds at most `PRUNE_EVERY - 1` more than the limit meanwhile.
   */
  private pruneNowAndThen(siteId: string): void {
    const count = this.sincePrune.get(siteId);
    if (count !== undefined && count + 1 < PRUNE_EVERY) {
      this.sincePrune.set(siteId, count + 1);
      return;
    }
    this.sincePrune.set(siteId, 0);
    this.statements.prune.run({ site: siteId, kept: DELIVERIES_KEPT_PER_SITE });
  }
}
