import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { sql, type Kysely } from "kysely";
import { sqliteConnection } from "../../lib/database.ts";
import { isPostgres } from "../../lib/postgres.ts";
import { requestBuild } from "../builds/service.ts";
import { sqliteIntake } from "../webhooks/sqlite-intake.ts";
import { memoryContext, type MemoryContext } from "../../../test/helpers/memory-ctx.ts";
import { recordPrepared } from "../../../test/helpers/prepared-statements.ts";
import {
  BUILDS_SITE_SHA,
  JOBS_DEDUPE,
  PARTIAL_INDEXES,
  WEBHOOK_DELIVERIES_KEY,
  type PartialIndex,
} from "./partial-indexes.ts";

/** The condition of each partial index of the migrated schema, by index name. */
async function indexConditions(db: Kysely<unknown>): Promise<Map<string, string>> {
  const { rows } = isPostgres(db)
    ? await sql<{ name: string; definition: string }>`
        select indexname as name, indexdef as definition from pg_indexes
        where schemaname = current_schema() and indexdef like '% WHERE %'`.execute(db)
    : await sql<{ name: string; definition: string }>`
        select name, sql as definition from sqlite_master
        where type = 'index' and sql like '% where %'`.execute(db);
  return new Map(rows.map((row) => [row.name, row.definition.replace(/^.*? where /is, "")]));
}

/**
 * `index.condition` as the database writes it in an index's definition: Postgres rewrites it
 * (`state in ('a', 'b')` becomes `(state = ANY (ARRAY['a'::text, 'b'::text]))`), so it is read
 * back from a probe index; SQLite keeps the text as written.
 */
async function asWritten(db: Kysely<unknown>, index: PartialIndex): Promise<string> {
  if (!isPostgres(db)) return index.condition;
  const probe = `${index.name}_probe`;
  await sql`create index ${sql.id(probe)} on ${sql.table(index.table)} (id) where ${index.where}`.execute(
    db,
  );
  try {
    return (await indexConditions(db)).get(probe)!;
  } finally {
    await sql`drop index ${sql.id(probe)}`.execute(db);
  }
}

const normalise = (condition: string): string =>
  condition.replaceAll('"', "").replace(/\s+/g, " ").toLowerCase();

describe("partial indexes", () => {
  let m: MemoryContext;
  beforeEach(async () => {
    m = await memoryContext();
  });
  afterEach(async () => {
    await m.close();
  });

  it("as migrated, have the conditions the queries repeat", async () => {
    const db = m.ctx.db as Kysely<unknown>;
    const migrated = await indexConditions(db);
    assert.deepEqual(
      [...migrated.keys()].sort(),
      PARTIAL_INDEXES.map((index) => index.name).sort(),
      "every partial index is listed in partial-indexes.ts",
    );
    for (const index of PARTIAL_INDEXES) {
      const condition = normalise(migrated.get(index.name)!);
      const shared = normalise(await asWritten(db, index));
      assert.ok(condition.includes(shared), `${index.name}: "${condition}" lacks "${shared}"`);
    }
  });

  it("are read by the SQLite statements repeating their conditions", async (t) => {
    const connection = sqliteConnection(m.ctx.db);
    if (connection === undefined) return t.skip("SQLite's query planner");
    // Every statement prepared from here on (Kysely's and the intake's), to explain.
    const { sources: prepared, prepare } = recordPrepared(connection);
    sqliteIntake(m.ctx);
    const site = await m.createSite();
    const push = (sha?: string) =>
      requestBuild(m.ctx, { siteId: site.id, branch: "main", sha, trigger: "webhook" });
    await push("1".repeat(40));
    await push("1".repeat(40)); // coalesced: the same commit
    await push(); // coalesced: the queued head
    await push("2".repeat(40)); // supersedes the queued build, cancelling its job
    await m.queue.enqueue({ queue: "q", payload: {}, dedupeKey: "k" });
    await m.queue.enqueue({ queue: "q", payload: {}, dedupeKey: "k" }); // finds the live job

    const indexesRead = (statement: string): string => {
      const named = Object.fromEntries([...statement.matchAll(/@(\w+)/g)].map((p) => [p[1], ""]));
      const explain = prepare(`explain query plan ${statement}`);
      const plan =
        Object.keys(named).length > 0
          ? explain.all(named)
          : explain.all(...(statement.match(/\?/g) ?? []).map(() => ""));
      return (plan as { detail: string }[]).map((row) => row.detail).join("; ");
    };
    const read: Record<string, number> = {};
    for (const index of [JOBS_DEDUPE, WEBHOOK_DELIVERIES_KEY, BUILDS_SITE_SHA]) {
      const statements = [...new Set(prepared)].filter((s) => s.includes(index.condition));
      for (const statement of statements) {
        const plan = indexesRead(statement);
        assert.match(plan, new RegExp(`INDEX ${index.name}\\b`), `${statement}\n-> ${plan}`);
      }
      read[index.name] = statements.length;
    }
    // Kysely's and the intake's statements; `findBuiltDelivery`'s Kysely query runs on Postgres.
    assert.deepEqual(read, { jobs_dedupe: 3, webhook_deliveries_key: 1, builds_site_sha: 4 });
  });
});
