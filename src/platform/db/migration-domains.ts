import type { Kysely } from "kysely";

/**
 * Custom domains and certificates (`0008_domains`): each domain a site answers to (one owner
 * across all accounts: the domain is the key), the site's certificate and where obtaining it
 * stands, the ACME account per directory, and the http-01 answers every platform node serves.
 * Private keys are sealed (`*_sealed`); a challenge's key authorization is public by design.
 */
export async function domainsMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("sites").addColumn("custom_domain", "text").execute();
  await db.schema
    .alterTable("sites")
    .addColumn("domain_aliases", "text", (c) => c.notNull().defaultTo("[]"))
    .execute();
  await db.schema
    .alterTable("sites")
    .addColumn("force_ssl", "integer", (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable("sites").addColumn("hsts_max_age", "integer").execute();

  await db.schema
    .createTable("site_domains")
    .addColumn("domain", "text", (c) => c.primaryKey())
    .addColumn("site_id", "text", (c) => c.notNull().references("sites.id").onDelete("cascade"))
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("reason", "text")
    .addColumn("checked_at", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("site_domains_site").on("site_domains").column("site_id").execute();

  await db.schema
    .createTable("site_certificates")
    .addColumn("site_id", "text", (c) => c.primaryKey().references("sites.id").onDelete("cascade"))
    .addColumn("source", "text")
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("reason", "text")
    .addColumn("domains", "text", (c) => c.notNull().defaultTo("[]"))
    .addColumn("certificate_pem", "text")
    .addColumn("ca_certificates_pem", "text")
    .addColumn("private_key_sealed", "text")
    .addColumn("not_before", "text")
    .addColumn("not_after", "text")
    .addColumn("renew_at", "text")
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "text")
    .addColumn("renewal_failures", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("site_certificates_due")
    .on("site_certificates")
    .columns(["next_attempt_at"])
    .execute();
  await db.schema
    .createIndex("site_certificates_renew")
    .on("site_certificates")
    .columns(["renew_at"])
    .execute();

  await db.schema
    .createTable("acme_accounts")
    .addColumn("directory_url", "text", (c) => c.primaryKey())
    .addColumn("key_sealed", "text", (c) => c.notNull())
    .addColumn("account_url", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("acme_challenges")
    .addColumn("token", "text", (c) => c.primaryKey())
    .addColumn("key_authorization", "text", (c) => c.notNull())
    .addColumn("domain", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("expires_at", "text", (c) => c.notNull())
    .execute();
}
