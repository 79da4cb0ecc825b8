import { objectId } from "../../../lib/ids.ts";
import { isoNow, type PlatformContext } from "../../context.ts";
import type { BuildCacheEntriesTable } from "../../db/schema-build-cache.ts";
import type { Selectable } from "kysely";

/**
 * The index of build-cache entries (`build_cache_entries`). Entries are immutable: a new one of
 * the same layer and key (and branch) replaces the old row, whose blob the garbage collector
 * then frees. Eviction is least-recently-used, per site and across all sites.
 */

export type CacheEntry = Selectable<BuildCacheEntriesTable>;
export type CacheLayer = BuildCacheEntriesTable["layer"];

type Ctx = Pick<PlatformContext, "db" | "now">;

export async function findEntry(
  ctx: Ctx,
  siteId: string,
  layer: CacheLayer,
  key: string,
  branch?: string,
): Promise<CacheEntry | undefined> {
  let query = ctx.db
    .selectFrom("build_cache_entries")
    .selectAll()
    .where("site_id", "=", siteId)
    .where("layer", "=", layer)
    .where("key", "=", key);
  if (branch !== undefined) query = query.where("branch", "=", branch);
  return query.orderBy("created_at", "desc").executeTakeFirst();
}

/** The site's most recent `node_modules` snapshots, newest first (to say what changed). */
export async function recentSnapshots(ctx: Ctx, siteId: string): Promise<CacheEntry[]> {
  return ctx.db
    .selectFrom("build_cache_entries")
    .selectAll()
    .where("site_id", "=", siteId)
    .where("layer", "=", "node_modules")
    .orderBy("created_at", "desc")
    .limit(20)
    .execute();
}

export async function touchEntry(ctx: Ctx, id: string): Promise<void> {
  await ctx.db
    .updateTable("build_cache_entries")
    .set({ last_used_at: isoNow(ctx) })
    .where("id", "=", id)
    .execute();
}

export async function deleteEntry(ctx: Ctx, id: string): Promise<void> {
  await ctx.db.deleteFrom("build_cache_entries").where("id", "=", id).execute();
}

/** Records a new entry, replacing those of the same site, layer, key and branch. */
export async function recordEntry(
  ctx: Ctx,
  entry: Omit<CacheEntry, "id" | "created_at" | "last_used_at">,
): Promise<CacheEntry> {
  const now = isoNow(ctx);
  const row: CacheEntry = { ...entry, id: objectId(), created_at: now, last_used_at: now };
  await ctx.db.transaction().execute(async (trx) => {
    let old = trx
      .deleteFrom("build_cache_entries")
      .where("site_id", "=", entry.site_id)
      .where("layer", "=", entry.layer)
      .where("key", "=", entry.key);
    old =
      entry.branch === null
        ? old.where("branch", "is", null)
        : old.where("branch", "=", entry.branch);
    await old.execute();
    await trx.insertInto("build_cache_entries").values(row).execute();
  });
  return row;
}

export interface Evicted {
  entry: CacheEntry;
  cap: "site" | "global";
}

/**
 * Drops least-recently-used entries until the site's entries fit `siteMaxBytes` and all
 * entries fit `maxBytes`; what went, for the log.
 */
export async function evictLeastRecentlyUsed(
  ctx: Ctx,
  siteId: string,
  caps: { siteMaxBytes: number; maxBytes: number },
): Promise<Evicted[]> {
  const evicted: Evicted[] = [];
  const columns = ["id", "site_id", "size_bytes", "last_used_at"] as const;
  const siteRows = await ctx.db
    .selectFrom("build_cache_entries")
    .selectAll()
    .where("site_id", "=", siteId)
    .orderBy("last_used_at", "asc")
    .orderBy("created_at", "asc")
    .execute();
  let siteTotal = siteRows.reduce((sum, row) => sum + row.size_bytes, 0);
  for (const row of siteRows) {
    if (siteTotal <= caps.siteMaxBytes) break;
    await deleteEntry(ctx, row.id);
    siteTotal -= row.size_bytes;
    evicted.push({ entry: row, cap: "site" });
  }
  const total = await ctx.db
    .selectFrom("build_cache_entries")
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>("size_bytes"), eb.val(0)).as("bytes"))
    .executeTakeFirstOrThrow();
  let allTotal = Number(total.bytes);
  if (allTotal <= caps.maxBytes) return evicted;
  const all = await ctx.db
    .selectFrom("build_cache_entries")
    .select(columns)
    .orderBy("last_used_at", "asc")
    .orderBy("created_at", "asc")
    .execute();
  for (const row of all) {
    if (allTotal <= caps.maxBytes) break;
    const full = await ctx.db
      .deleteFrom("build_cache_entries")
      .where("id", "=", row.id)
      .returningAll()
      .executeTakeFirst();
    allTotal -= row.size_bytes;
    if (full !== undefined) evicted.push({ entry: full, cap: "global" });
  }
  return evicted;
}
