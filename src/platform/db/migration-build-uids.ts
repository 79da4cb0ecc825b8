import type { Kysely } from "kysely";

/**
 * Build uids through the database (`0013_build_uid_leases`): one row per uid a build runs as,
 * so that platform processes sharing a data directory never pick the same uid (and one build's
 * kill-by-uid never reaches another's). A row lives while its holder heartbeats it; an expired
 * row is taken over (once no process of the uid is left on the machine).
 */
export async function buildUidLeasesMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("build_uid_leases")
    .addColumn("uid", "integer", (c) => c.primaryKey())
    .addColumn("owner", "text", (c) => c.notNull())
    .addColumn("expires_at", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
}
