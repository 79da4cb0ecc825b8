import type { Kysely } from "kysely";

/** The audit log (`schema-audit.ts`), read newest first per account and pruned by age. */
export async function auditLogMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("audit_events")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("account_id", "text")
    .addColumn("user_id", "text")
    .addColumn("actor_kind", "text", (c) => c.notNull())
    .addColumn("actor_id", "text")
    .addColumn("actor_name", "text")
    .addColumn("actor_email", "text")
    .addColumn("actor_via", "text")
    .addColumn("token_id", "text")
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("target_type", "text")
    .addColumn("target_id", "text")
    .addColumn("target_name", "text")
    .addColumn("route", "text")
    .addColumn("fields", "text", (c) => c.notNull())
    .addColumn("result", "text", (c) => c.notNull())
    .addColumn("reason", "text")
    .addColumn("source_address", "text")
    .addColumn("request_id", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("audit_events_account")
    .on("audit_events")
    .columns(["account_id", "id"])
    .execute();
  await db.schema
    .createIndex("audit_events_user")
    .on("audit_events")
    .columns(["user_id", "id"])
    .execute();
  await db.schema
    .createIndex("audit_events_created")
    .on("audit_events")
    .column("created_at")
    .execute();
}
