import type { Kysely } from "kysely";

/**
 * Indexes for the webhook intake's hot queries (`0017_intake_indexes`). Each replaced a walk
 * over a site's rows (or the whole `jobs` table) per delivery: the partial unique indexes on
 * `delivery_key` and `dedupe_key` cannot serve them, since SQLite uses a partial index only for
 * a query repeating its literal condition, and Kysely binds values as parameters.
 */
export async function intakeIndexesMigration(db: Kysely<unknown>): Promise<void> {
  // Coalescing: is this commit already queued, building or built? (`builds/service.ts`)
  await db.schema
    .createIndex("builds_site_sha")
    .on("builds")
    .columns(["site_id", "sha", "number"])
    .execute();
  // Superseding a queued build cancels its job by dedupe key (`jobs/queue.ts`).
  await db.schema.createIndex("jobs_dedupe_key").on("jobs").column("dedupe_key").execute();
  // Dedupe of redeliveries by the provider's delivery id (`webhooks/intake.ts`).
  await db.schema
    .createIndex("webhook_deliveries_site_key")
    .on("webhook_deliveries")
    .columns(["site_id", "delivery_key", "received_at"])
    .execute();
}
