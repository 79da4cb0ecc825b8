import type SQLite from "better-sqlite3";
import type { SqliteDatabase, SqliteStatement } from "kysely";

/** How many distinct SQL texts keep their prepared statement (queries with `in (?, ?, …)` vary). */
export const STATEMENT_CACHE_SIZE = 500;

/**
 * The database Kysely's `SqliteDialect` talks to, preparing each SQL text once: Kysely's driver
 * calls `prepare` for every query, and preparing costs as much CPU as running the small
 * queries the platform makes (a sixth of a webhook delivery's CPU, `bench/RESULTS.md`).
 *
 * Reusing a statement is safe because the driver only ever calls `all` or `run`, which reset
 * the statement when they return, or `iterate`, which keeps it busy until the iteration ends:
 * a statement that is busy (a stream still open on the same connection, in the middle of
 * which the same SQL runs again) is not reused, a fresh one is prepared for that call. A
 * statement belongs to its connection, not to a transaction, and SQLite re-prepares it by
 * itself when a migration changes the schema under it.
 */
export function cachingStatements(
  database: SQLite.Database,
  capacity = STATEMENT_CACHE_SIZE,
): SqliteDatabase {
  // A Map iterates in insertion order: re-inserting on every hit keeps the least recently used
  // first, the one to evict.
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => database.close(),
    prepare(sql: string): SqliteStatement {
      const cached = cache.get(sql);
      if (cached !== undefined && !cached.busy) {
        cache.delete(sql);
        cache.set(sql, cached);
        return cached as SqliteStatement;
      }
      const statement = database.prepare(sql);
      if (cached === undefined) {
        cache.set(sql, statement);
        if (cache.size > capacity) cache.delete(cache.keys().next().value!);
      }
      return statement as SqliteStatement;
    },
  };
}
