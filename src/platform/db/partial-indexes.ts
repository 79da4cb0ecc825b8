import { sql, type RawBuilder, type SqlBool } from "kysely";

/**
 * The conditions of the partial indexes, in one place for the queries that read those indexes.
 * SQLite uses a partial index only for a query whose WHERE clause repeats each term of the
 * index's condition literally (a value Kysely binds as a parameter does not count), except a term
 * `x is not null`, which the query's `x = ?` implies. So `condition` is the index's condition
 * without such terms, and the queries repeat it from here.
 *
 * The migrations that created the indexes keep their own text (they are history);
 * `partial-indexes.test.ts` checks each index, as migrated, against its condition here.
 */
export interface PartialIndex {
  readonly name: string;
  readonly table: string;
  /** As SQL text, for prepared statements (`webhooks/sqlite-intake.ts`). */
  readonly condition: string;
  /** The same condition, for a Kysely `where`. */
  readonly where: RawBuilder<SqlBool>;
}

function partialIndex(name: string, table: string, condition: string): PartialIndex {
  return { name, table, condition, where: sql.raw<SqlBool>(condition) };
}

/** One live (pending or running) job per dedupe key (and `dedupe_key is not null`). */
export const JOBS_DEDUPE = partialIndex("jobs_dedupe", "jobs", "state in ('pending', 'running')");

/** One running job per concurrency key (and `concurrency_key is not null`): no query reads it. */
export const JOBS_ONE_RUNNING_PER_KEY = partialIndex(
  "jobs_one_running_per_key",
  "jobs",
  "state = 'running'",
);

/** The deliveries that reserve a provider's delivery id (and `delivery_key is not null`). */
export const WEBHOOK_DELIVERIES_KEY = partialIndex(
  "webhook_deliveries_key",
  "webhook_deliveries",
  "outcome in ('built', 'coalesced')",
);

/** The builds of a commit a request may join (coalescing). */
export const BUILDS_SITE_SHA = partialIndex(
  "builds_site_sha",
  "builds",
  "state in ('enqueued', 'building', 'done')",
);

/** The deploys of pull/merge requests: every look-up asks for `review_id = ?`, which implies it. */
export const DEPLOYS_SITE_REVIEW = partialIndex(
  "deploys_site_review",
  "deploys",
  "review_id is not null",
);

/**
 * One variable per key for an account, and one per key per site (a unique index counts NULL
 * site ids as distinct). Kysely writes `site_id is null` literally (`env/env.ts`).
 */
export const ENV_VARS_ACCOUNT_KEY = partialIndex(
  "env_vars_account_key",
  "env_vars",
  "site_id is null",
);
export const ENV_VARS_SITE_KEY = partialIndex(
  "env_vars_site_key",
  "env_vars",
  "site_id is not null",
);

/** Every partial index of the platform's schema. */
export const PARTIAL_INDEXES: readonly PartialIndex[] = [
  JOBS_DEDUPE,
  JOBS_ONE_RUNNING_PER_KEY,
  WEBHOOK_DELIVERIES_KEY,
  BUILDS_SITE_SHA,
  DEPLOYS_SITE_REVIEW,
  ENV_VARS_ACCOUNT_KEY,
  ENV_VARS_SITE_KEY,
];
