import type { Kysely } from "kysely";

/**
 * Build caches (`0016_build_cache`): each row is one immutable tar in the blob store that a
 * site's builds restore (`builds/cache/`); the garbage collector keeps its blob while the row
 * exists. Rows go with their site.
 */
export async function buildCacheMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("build_cache_entries")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("site_id", "text", (c) => c.notNull().references("sites.id").onDelete("cascade"))
    .addColumn("layer", "text", (c) => c.notNull())
    .addColumn("key", "text", (c) => c.notNull())
    .addColumn("branch", "text")
    .addColumn("inputs", "text")
    .addColumn("blob_sha1", "text", (c) => c.notNull())
    .addColumn("format", "text", (c) => c.notNull())
    .addColumn("size_bytes", "integer", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("last_used_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("build_cache_entries_lookup")
    .on("build_cache_entries")
    .columns(["site_id", "layer", "key"])
    .execute();
  await db.schema
    .createIndex("build_cache_entries_lru")
    .on("build_cache_entries")
    .column("last_used_at")
    .execute();
}
