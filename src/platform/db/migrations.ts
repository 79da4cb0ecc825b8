import { sql, type Kysely, type Migration } from "kysely";
import { auditLogMigration } from "./migration-audit.ts";
import { buildCacheMigration } from "./migration-build-cache.ts";
import { notificationsMigration } from "./migration-notifications.ts";
import { domainsMigration } from "./migration-domains.ts";
import { buildUidLeasesMigration } from "./migration-build-uids.ts";
import { accessTokenScopesMigration } from "./migration-token-scopes.ts";
import { sitePasswordsMigration } from "./migration-site-passwords.ts";
import { storageMigration } from "./migration-storage.ts";
import { intakeIndexesMigration } from "./migration-intake-indexes.ts";
import { leanIntakeIndexesMigration } from "./migration-lean-intake-indexes.ts";
import { deploySummaryMigration } from "./migration-deploy-summary.ts";

// Portable column types only (text, integer), so that a Postgres dialect can run the same
// migrations; `autoIncrement` is SQLite's spelling for the few integer keys (log lines, jobs).
// Partial indexes (`where`) exist in both SQLite and Postgres.

async function initial(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("meta")
    .addColumn("key", "text", (c) => c.primaryKey())
    .addColumn("value", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("users")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("email", "text", (c) => c.notNull().unique())
    .addColumn("full_name", "text", (c) => c.notNull())
    .addColumn("is_admin", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .addColumn("last_login", "text")
    .execute();

  await db.schema
    .createTable("accounts")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("slug", "text", (c) => c.notNull().unique())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("account_memberships")
    .addColumn("account_id", "text", (c) =>
      c.notNull().references("accounts.id").onDelete("cascade"),
    )
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("role", "text", (c) => c.notNull())
    .addColumn("is_default", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("account_memberships_pk", ["account_id", "user_id"])
    .execute();
  await db.schema
    .createIndex("account_memberships_user")
    .on("account_memberships")
    .column("user_id")
    .execute();

  await db.schema
    .createTable("access_tokens")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("token_digest", "text", (c) => c.notNull().unique())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("expires_at", "text")
    .addColumn("last_used_at", "text")
    .execute();

  await db.schema
    .createTable("deploy_keys")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) =>
      c.notNull().references("accounts.id").onDelete("cascade"),
    )
    .addColumn("created_by", "text", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("public_key", "text", (c) => c.notNull())
    .addColumn("fingerprint", "text", (c) => c.notNull())
    .addColumn("private_key_sealed", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("deploy_keys_account")
    .on("deploy_keys")
    .columns(["account_id", "created_at"])
    .execute();

  await db.schema
    .createTable("sites")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) =>
      c.notNull().references("accounts.id").onDelete("cascade"),
    )
    .addColumn("created_by", "text", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("repo_provider", "text")
    .addColumn("repo_url", "text")
    .addColumn("repo_path", "text")
    .addColumn("repo_id", "text")
    .addColumn("repo_branch", "text")
    .addColumn("build_cmd", "text")
    .addColumn("publish_dir", "text")
    .addColumn("base_dir", "text")
    // No cascade: a deploy key in use cannot be deleted (the service says which sites use it).
    .addColumn("deploy_key_id", "text", (c) => c.references("deploy_keys.id"))
    .addColumn("allowed_branches", "text", (c) => c.notNull().defaultTo("[]"))
    .addColumn("env_sealed", "text")
    .addColumn("stop_builds", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("webhook_secret_sealed", "text")
    .addColumn("published_deploy_id", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("sites_account")
    .on("sites")
    .columns(["account_id", "name"])
    .execute();
  await db.schema.createIndex("sites_deploy_key").on("sites").column("deploy_key_id").execute();

  await db.schema
    .createTable("deploys")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("site_id", "text", (c) => c.notNull().references("sites.id").onDelete("cascade"))
    .addColumn("build_id", "text")
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("context", "text", (c) => c.notNull())
    .addColumn("branch", "text")
    .addColumn("commit_ref", "text")
    .addColumn("title", "text")
    .addColumn("draft", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("locked", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("error_message", "text")
    .addColumn("required", "text", (c) => c.notNull().defaultTo("[]"))
    .addColumn("file_count", "integer")
    .addColumn("size_bytes", "integer")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .addColumn("published_at", "text")
    .execute();
  await db.schema
    .createIndex("deploys_site")
    .on("deploys")
    .columns(["site_id", "created_at"])
    .execute();

  await db.schema
    .createTable("build_hooks")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("site_id", "text", (c) => c.notNull().references("sites.id").onDelete("cascade"))
    .addColumn("title", "text", (c) => c.notNull())
    .addColumn("branch", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("build_hooks_site").on("build_hooks").column("site_id").execute();

  await db.schema
    .createTable("builds")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("site_id", "text", (c) => c.notNull().references("sites.id").onDelete("cascade"))
    .addColumn("deploy_id", "text", (c) => c.references("deploys.id").onDelete("set null"))
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("trigger", "text", (c) => c.notNull())
    .addColumn("branch", "text", (c) => c.notNull())
    .addColumn("sha", "text")
    .addColumn("title", "text")
    .addColumn("clear_cache", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("error", "text")
    .addColumn("webhook_delivery_id", "text")
    .addColumn("build_hook_id", "text", (c) => c.references("build_hooks.id").onDelete("set null"))
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("started_at", "text")
    .addColumn("finished_at", "text")
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("builds_site")
    .on("builds")
    .columns(["site_id", "created_at"])
    .execute();
  await db.schema.createIndex("builds_state").on("builds").columns(["state", "site_id"]).execute();

  await db.schema
    .createTable("build_log_lines")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("build_id", "text", (c) => c.notNull().references("builds.id").onDelete("cascade"))
    .addColumn("seq", "integer", (c) => c.notNull())
    .addColumn("time", "text", (c) => c.notNull())
    .addColumn("section", "text", (c) => c.notNull())
    .addColumn("error", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("message", "text", (c) => c.notNull())
    .addUniqueConstraint("build_log_lines_seq", ["build_id", "seq"])
    .execute();

  await db.schema
    .createTable("webhook_deliveries")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("site_id", "text", (c) => c.notNull().references("sites.id").onDelete("cascade"))
    .addColumn("provider", "text")
    .addColumn("event", "text")
    .addColumn("delivery_key", "text")
    .addColumn("ref", "text")
    .addColumn("sha", "text")
    .addColumn("outcome", "text", (c) => c.notNull())
    .addColumn("reason", "text", (c) => c.notNull())
    .addColumn("status_code", "integer", (c) => c.notNull())
    .addColumn("build_id", "text", (c) => c.references("builds.id").onDelete("set null"))
    .addColumn("duplicate_of", "text")
    .addColumn("received_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("webhook_deliveries_site")
    .on("webhook_deliveries")
    .columns(["site_id", "received_at"])
    .execute();
  // The first delivery with a given provider delivery id wins; a redelivery finds it.
  await db.schema
    .createIndex("webhook_deliveries_key")
    .on("webhook_deliveries")
    .columns(["site_id", "delivery_key"])
    .unique()
    .where(sql.ref("delivery_key"), "is not", null)
    .where(sql.ref("outcome"), "!=", sql.lit("duplicate"))
    .execute();

  await db.schema
    .createTable("known_hosts")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("scope", "text", (c) => c.notNull())
    .addColumn("host", "text", (c) => c.notNull())
    .addColumn("key_type", "text", (c) => c.notNull())
    .addColumn("public_key", "text", (c) => c.notNull())
    .addColumn("fingerprint", "text", (c) => c.notNull())
    .addColumn("source", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addUniqueConstraint("known_hosts_unique", ["scope", "host", "key_type"])
    .execute();

  await db.schema
    .createTable("jobs")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("queue", "text", (c) => c.notNull())
    .addColumn("payload", "text", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("priority", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("run_at", "text", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("max_attempts", "integer", (c) => c.notNull())
    .addColumn("lease_owner", "text")
    .addColumn("lease_expires_at", "text")
    .addColumn("concurrency_key", "text")
    .addColumn("dedupe_key", "text")
    .addColumn("last_error", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .addColumn("finished_at", "text")
    .execute();
  await db.schema
    .createIndex("jobs_due")
    .on("jobs")
    .columns(["state", "queue", "run_at"])
    .execute();
  await db.schema
    .createIndex("jobs_lease")
    .on("jobs")
    .columns(["state", "lease_expires_at"])
    .execute();
  // At most one running job per concurrency key (e.g. one build per site at a time)...
  await db.schema
    .createIndex("jobs_one_running_per_key")
    .on("jobs")
    .column("concurrency_key")
    .unique()
    .where(sql.ref("state"), "=", sql.lit("running"))
    .where(sql.ref("concurrency_key"), "is not", null)
    .execute();
  // ...and one pending or running job per dedupe key.
  await db.schema
    .createIndex("jobs_dedupe")
    .on("jobs")
    .column("dedupe_key")
    .unique()
    .where(sql.ref("state"), "in", sql`(${sql.lit("pending")}, ${sql.lit("running")})`)
    .where(sql.ref("dedupe_key"), "is not", null)
    .execute();
}

/**
 * Builds get a per-site sequence `number` (1, 2, 3 …), assigned while the site's row is locked:
 * creation order without ties, which decides at publish time that an older build never replaces
 * a newer one. Plus the index the coalescing look-up (site, branch, state) needs.
 */
async function buildNumbers(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("builds")
    .addColumn("number", "integer", (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createIndex("builds_site_branch_state")
    .on("builds")
    .columns(["site_id", "branch", "state"])
    .execute();
  await db.schema
    .createIndex("builds_site_number")
    .on("builds")
    .columns(["site_id", "number"])
    .execute();
}

/**
 * A provider's delivery id is reserved only by deliveries that started (or joined) a build:
 * a rejected delivery (anyone can send one with any id) must not block the real one, and an
 * ignored or failed one is evaluated again when redelivered (e.g. after allowed_branches changed).
 */
async function webhookDeliveryDedupe(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("webhook_deliveries_key").execute();
  await db.schema
    .createIndex("webhook_deliveries_key")
    .on("webhook_deliveries")
    .columns(["site_id", "delivery_key"])
    .unique()
    .where(sql.ref("delivery_key"), "is not", null)
    .where(sql.ref("outcome"), "in", sql`(${sql.lit("built")}, ${sql.lit("coalesced")})`)
    .execute();
}

/** A site can run its build with no network at all (`repo.build_network: false`). */
async function buildNetwork(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("sites")
    .addColumn("build_network", "integer", (c) => c.notNull().defaultTo(1))
    .execute();
}

/**
 * Direct deploys (digest protocol, functions, drafts), the account env API, provider
 * connections with what linking installed at the provider, and deploy previews.
 */
async function deploysAndProviders(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("deploys").addColumn("deploy_source", "text").execute();
  await db.schema
    .alterTable("deploys")
    .addColumn("required_functions", "text", (c) => c.notNull().defaultTo("[]"))
    .execute();
  await db.schema
    .alterTable("deploys")
    .addColumn("warnings", "text", (c) => c.notNull().defaultTo("[]"))
    .execute();
  await db.schema.alterTable("deploys").addColumn("review_id", "integer").execute();
  await db.schema.alterTable("deploys").addColumn("review_url", "text").execute();
  await db.schema.alterTable("deploys").addColumn("review_state", "text").execute();
  await db.schema.alterTable("deploys").addColumn("approved_by", "text").execute();
  await db.schema.alterTable("deploys").addColumn("commit_url", "text").execute();
  await db.schema
    .createIndex("deploys_site_review")
    .on("deploys")
    .columns(["site_id", "review_id"])
    .execute();

  await db.schema.alterTable("sites").addColumn("installation_id", "integer").execute();
  await db.schema.alterTable("sites").addColumn("connection_id", "text").execute();
  await db.schema.alterTable("sites").addColumn("link_broken_reason", "text").execute();

  await db.schema
    .createTable("deploy_functions")
    .addColumn("deploy_id", "text", (c) => c.notNull().references("deploys.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("sha256", "text", (c) => c.notNull())
    .addColumn("runtime", "text")
    .addColumn("blob_sha1", "text")
    .addColumn("size_bytes", "integer")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("deploy_functions_pk", ["deploy_id", "name"])
    .execute();

  await db.schema
    .createTable("env_vars")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) =>
      c.notNull().references("accounts.id").onDelete("cascade"),
    )
    .addColumn("site_id", "text", (c) => c.references("sites.id").onDelete("cascade"))
    .addColumn("key", "text", (c) => c.notNull())
    .addColumn("scopes", "text", (c) => c.notNull())
    .addColumn("is_secret", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("values_sealed", "text", (c) => c.notNull())
    .addColumn("updated_by", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();
  // One row per key for the account, and one per key per site (NULL site ids are distinct
  // in a unique index, hence two partial indexes).
  await db.schema
    .createIndex("env_vars_account_key")
    .on("env_vars")
    .columns(["account_id", "key"])
    .unique()
    .where(sql.ref("site_id"), "is", null)
    .execute();
  await db.schema
    .createIndex("env_vars_site_key")
    .on("env_vars")
    .columns(["site_id", "key"])
    .unique()
    .where(sql.ref("site_id"), "is not", null)
    .execute();

  await db.schema
    .createTable("git_connections")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) =>
      c.notNull().references("accounts.id").onDelete("cascade"),
    )
    .addColumn("provider", "text", (c) => c.notNull())
    .addColumn("base_url", "text", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("remote_identity", "text", (c) => c.notNull())
    .addColumn("credential_sealed", "text", (c) => c.notNull())
    .addColumn("created_by", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .addColumn("last_checked_at", "text")
    .addColumn("last_error", "text")
    .execute();
  await db.schema
    .createIndex("git_connections_account")
    .on("git_connections")
    .columns(["account_id", "provider"])
    .execute();

  await db.schema
    .createTable("site_links")
    .addColumn("site_id", "text", (c) => c.primaryKey().references("sites.id").onDelete("cascade"))
    .addColumn("connection_id", "text", (c) => c.notNull())
    .addColumn("provider", "text", (c) => c.notNull())
    .addColumn("repo_ref", "text", (c) => c.notNull())
    .addColumn("remote_key_id", "text")
    .addColumn("remote_hook_id", "text")
    .addColumn("steps", "text", (c) => c.notNull().defaultTo("[]"))
    .addColumn("health", "text")
    .addColumn("checked_at", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();
}

/**
 * Direct deploys: which blobs each account has uploaded or built (so a digest deploy asks an
 * account only for content it never provided itself), the paths a digest deploy declared, and
 * the uploads it still waits for (a row per missing file SHA-1 or function SHA-256).
 */
async function directDeploys(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("account_blobs")
    .addColumn("account_id", "text", (c) =>
      c.notNull().references("accounts.id").onDelete("cascade"),
    )
    .addColumn("sha1", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("account_blobs_pk", ["account_id", "sha1"])
    .execute();

  await db.schema
    .createTable("deploy_files")
    .addColumn("deploy_id", "text", (c) => c.notNull().references("deploys.id").onDelete("cascade"))
    .addColumn("path", "text", (c) => c.notNull())
    .addColumn("sha1", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("deploy_files_pk", ["deploy_id", "path"])
    .execute();

  await db.schema
    .createTable("deploy_uploads")
    .addColumn("deploy_id", "text", (c) => c.notNull().references("deploys.id").onDelete("cascade"))
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("digest", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("deploy_uploads_pk", ["deploy_id", "kind", "digest"])
    .execute();

  await db.schema
    .createIndex("deploys_state")
    .on("deploys")
    .columns(["state", "updated_at"])
    .execute();
}

/**
 * The dashboard: users' passwords (scrypt, per-user salt), browser sessions (cookie digests with
 * an expiry), one-time invite links to set a password, and sign-in throttles (per IP and per
 * account, in the database so that every API node sees the same counts).
 */
async function dashboard(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("user_passwords")
    .addColumn("user_id", "text", (c) => c.primaryKey().references("users.id").onDelete("cascade"))
    .addColumn("password_hash", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("sessions")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("token_digest", "text", (c) => c.notNull().unique())
    .addColumn("access_token_id", "text", (c) =>
      c.references("access_tokens.id").onDelete("cascade"),
    )
    .addColumn("method", "text", (c) => c.notNull())
    .addColumn("ip", "text")
    .addColumn("user_agent", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("last_seen_at", "text", (c) => c.notNull())
    .addColumn("expires_at", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("sessions_user").on("sessions").column("user_id").execute();
  await db.schema.createIndex("sessions_expiry").on("sessions").column("expires_at").execute();

  await db.schema
    .createTable("invites")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("token_digest", "text", (c) => c.notNull().unique())
    .addColumn("created_by", "text", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("expires_at", "text", (c) => c.notNull())
    .addColumn("used_at", "text")
    .execute();
  await db.schema.createIndex("invites_user").on("invites").column("user_id").execute();

  await db.schema
    .createTable("sign_in_throttles")
    .addColumn("key", "text", (c) => c.primaryKey())
    .addColumn("failures", "integer", (c) => c.notNull())
    .addColumn("window_started_at", "text", (c) => c.notNull())
    .addColumn("blocked_until", "text")
    .execute();
}

/**
 * Deploy previews can be turned off per site (`repo.deploy_previews`), and a deploy built from
 * git names its commit's author (Netlify's `committer`) beside the message in `title`.
 */
async function previewsSettingAndCommitter(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("sites")
    .addColumn("deploy_previews", "integer", (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.alterTable("deploys").addColumn("committer", "text").execute();
}

export const platformMigrations: Record<string, Migration> = {
  "0001_initial": { up: initial },
  "0002_build_numbers": { up: buildNumbers },
  "0003_webhook_delivery_dedupe": { up: webhookDeliveryDedupe },
  "0004_build_network": { up: buildNetwork },
  "0005_deploys_and_providers": { up: deploysAndProviders },
  "0006_direct_deploys": { up: directDeploys },
  "0007_dashboard": { up: dashboard },
  "0008_domains": { up: domainsMigration },
  "0009_previews_setting_and_committer": { up: previewsSettingAndCommitter },
  "0010_storage_retention_quotas": { up: storageMigration },
  "0011_site_passwords": { up: sitePasswordsMigration },
  "0012_access_token_scopes": { up: accessTokenScopesMigration },
  "0013_build_uid_leases": { up: buildUidLeasesMigration },
  "0014_audit_log": { up: auditLogMigration },
  "0015_deploy_notifications": { up: notificationsMigration },
  "0016_build_cache": { up: buildCacheMigration },
  "0017_intake_indexes": { up: intakeIndexesMigration },
  "0018_lean_intake_indexes": { up: leanIntakeIndexesMigration },
  "0019_deploy_summary": { up: deploySummaryMigration },
};
