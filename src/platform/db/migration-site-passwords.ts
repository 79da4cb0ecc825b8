import type { Kysely } from "kysely";

/**
 * Password-protected sites (`0011_site_passwords`): one row per protected site, holding the
 * password's scrypt hash sealed with `site_password:<site id>` (never the password) and which
 * deploys it protects (`all`, or `non_production`: previews, branch deploys and permalinks).
 * A new hash (a fresh salt every time) ends every visitor's cookie, which is signed with it.
 */
export async function sitePasswordsMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("site_passwords")
    .addColumn("site_id", "text", (c) => c.primaryKey().references("sites.id").onDelete("cascade"))
    .addColumn("password_hash_sealed", "text", (c) => c.notNull())
    .addColumn("context", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();
}
