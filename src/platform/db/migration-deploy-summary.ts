import type { Kysely } from "kysely";

/**
 * A deploy's summary (`0019_deploy_summary`): JSON written as it becomes ready — its redirect
 * and header rules counted and the ignored ones with the reason (`deploys/summary.ts`). Null for
 * deploys published before, and for deploys not ready.
 */
export async function deploySummaryMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("deploys").addColumn("summary", "text").execute();
}
