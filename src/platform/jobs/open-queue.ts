import type { Kysely } from "kysely";
import type { Logger } from "../../lib/logger.ts";
import { isPostgres, withMigrationLock } from "../../lib/postgres.ts";
import type { PlatformDatabase } from "../db/schema.ts";
import { SqlJobQueue, type JobQueue } from "./queue.ts";

/**
 * The platform's job queue: on Postgres (`SLIPWAY_DATABASE_URL=postgres://…`) graphile-worker's
 * (its schema installed or upgraded first, one node at a time; idle workers woken by other nodes' enqueues through
 * `LISTEN`), otherwise the `jobs` table on SQLite.
 */
export async function openJobQueue(
  db: Kysely<PlatformDatabase>,
  databaseUrl: string | undefined,
  log: Logger,
  /** `listen: false`: a queue only enqueued to (`slipway migrate-to`), no connection of its own. */
  options: { listen?: boolean } = {},
): Promise<JobQueue> {
  if (databaseUrl === undefined || !isPostgres(db as Kysely<unknown>)) return new SqlJobQueue(db);
  // Loaded only on Postgres, as `pg` itself (`lib/postgres.ts`).
  const { GraphileJobQueue, migrateGraphileWorker } = await import("./graphile-queue.ts");
  // Under the nodes' migration lock: graphile's DDL (tables renamed and dropped) beside another
  // node's schema introspection failed it with "relation … does not exist".
  await withMigrationLock(db as Kysely<unknown>, () => migrateGraphileWorker(databaseUrl, log));
  if (options.listen === false) return new GraphileJobQueue(db);
  return new GraphileJobQueue(db, undefined, {
    listen: { url: databaseUrl, log: log.child({ component: "jobs" }) },
  });
}
