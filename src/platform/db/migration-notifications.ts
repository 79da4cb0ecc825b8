import type { Kysely } from "kysely";

/**
 * Deploy notifications (`notifications/tables.ts`): Netlify's outgoing hooks of a site, one
 * event each, their settings sealed (`notification_hook:<id>`: JWS secrets and Slack URLs are
 * capabilities), and the log of every delivery attempt, newest kept per hook.
 */
export async function notificationsMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("notification_hooks")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("site_id", "text", (c) => c.notNull().references("sites.id").onDelete("cascade"))
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("event", "text", (c) => c.notNull())
    .addColumn("data_sealed", "text", (c) => c.notNull())
    .addColumn("disabled", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("notification_hooks_site_event")
    .on("notification_hooks")
    .columns(["site_id", "event"])
    .execute();
  await db.schema
    .createTable("notification_deliveries")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("hook_id", "text", (c) =>
      c.notNull().references("notification_hooks.id").onDelete("cascade"),
    )
    .addColumn("deploy_id", "text", (c) => c.notNull())
    .addColumn("event", "text", (c) => c.notNull())
    .addColumn("attempt", "integer", (c) => c.notNull())
    .addColumn("outcome", "text", (c) => c.notNull())
    .addColumn("status_code", "integer")
    .addColumn("error", "text")
    .addColumn("next_attempt_at", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("notification_deliveries_hook")
    .on("notification_deliveries")
    .columns(["hook_id", "id"])
    .execute();
}
