import type { Kysely } from "kysely";

/**
 * Scoped access tokens (`0012_access_token_scopes`): `all` (what every token could do before),
 * `read` (GET only) or `deploy` (what a CI job needs). Expiry already has its column.
 */
export async function accessTokenScopesMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("access_tokens")
    .addColumn("scope", "text", (c) => c.notNull().defaultTo("all"))
    .execute();
}
