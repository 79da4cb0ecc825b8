import type { Kysely } from "kysely";

/**
 * Bounded storage (`0010_storage_retention_quotas`): a deploy that retention let go keeps its
 * row (the API still shows it) but not its manifest (`expired_at`); an administrator's per-account
 * quota overrides (null: the instance's default from the environment); and the one row that
 * keeps the garbage collector to one run at a time across every process on the database.
 */
export async function storageMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("deploys").addColumn("expired_at", "text").execute();
  await db.schema
    .createTable("account_quotas")
    .addColumn("account_id", "text", (c) =>
      c.primaryKey().references("accounts.id").onDelete("cascade"),
    )
    .addColumn("storage_bytes", "bigint")
    .addColumn("sites", "integer")
    .addColumn("concurrent_builds", "integer")
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("storage_gc_lock")
    .addColumn("name", "text", (c) => c.primaryKey())
    .addColumn("owner", "text", (c) => c.notNull())
    .addColumn("expires_at", "text", (c) => c.notNull())
    .execute();
}
