import { sql, type Kysely } from "kysely";

/**
 * Fewer index pages written per webhook delivery (`0018_lean_intake_indexes`): on SQLite the
 * intake is bound by the WAL it writes, and an index on a random key (a sha, a delivery id, a
 * delivery's key) costs a page of its own per delivery. Each query these served now reads a
 * partial index instead, repeating its condition literally (SQLite uses a partial index only
 * then; Kysely binds values as parameters, so those conditions are written with `sql.lit`).
 */
export async function leanIntakeIndexesMigration(db: Kysely<unknown>): Promise<void> {
  // The redelivery look-up asks for built or coalesced deliveries only: the unique
  // `webhook_deliveries_key` holds exactly those.
  await db.schema.dropIndex("webhook_deliveries_site_key").execute();
  // `jobs_dedupe_key` stays: `jobs` is never pruned, and `findByDedupeKey` reads a key's ended
  // jobs through it when the key has no live one (the sweeps).
  // Coalescing looks for a commit's enqueued, building or done build: superseded, failed and
  // cancelled builds (a burst of pushes supersedes all but its last) need no entry.
  await db.schema.dropIndex("builds_site_sha").execute();
  await db.schema
    .createIndex("builds_site_sha")
    .on("builds")
    .columns(["site_id", "sha", "number"])
    .where(
      sql.ref("state"),
      "in",
      sql`(${sql.lit("enqueued")}, ${sql.lit("building")}, ${sql.lit("done")})`,
    )
    .execute();
  // Every look-up by request asks for `review_id = ?`: branch deploys need no entry.
  await db.schema.dropIndex("deploys_site_review").execute();
  await db.schema
    .createIndex("deploys_site_review")
    .on("deploys")
    .columns(["site_id", "review_id"])
    .where(sql.ref("review_id"), "is not", null)
    .execute();
}
