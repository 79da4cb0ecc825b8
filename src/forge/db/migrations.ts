import { type Kysely, type Migration } from "kysely";

// Migrations use only portable column types (integer, text) so that Postgres can run them too.
// `autoIncrement` is SQLite's spelling; a Postgres dialect maps ids to `serial` in its own list.

async function initial(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("users")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("username", "text", (c) => c.notNull().unique())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("email", "text", (c) => c.notNull())
    .addColumn("is_admin", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("state", "text", (c) => c.notNull().defaultTo("active"))
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("personal_access_tokens")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("token_digest", "text", (c) => c.notNull().unique())
    .addColumn("scopes", "text", (c) => c.notNull())
    .addColumn("expires_at", "text")
    .addColumn("revoked", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("last_used_at", "text")
    .execute();

  await db.schema
    .createTable("namespaces")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("path", "text", (c) => c.notNull().unique())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("owner_id", "integer", (c) => c.references("users.id").onDelete("cascade"))
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("projects")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("namespace_id", "integer", (c) => c.notNull().references("namespaces.id"))
    .addColumn("creator_id", "integer", (c) => c.notNull().references("users.id"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("path", "text", (c) => c.notNull())
    .addColumn("description", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("visibility", "text", (c) => c.notNull())
    .addColumn("default_branch", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .addColumn("last_activity_at", "text", (c) => c.notNull())
    .addUniqueConstraint("projects_namespace_path", ["namespace_id", "path"])
    .execute();

  await db.schema
    .createTable("members")
    .addColumn("project_id", "integer", (c) =>
      c.notNull().references("projects.id").onDelete("cascade"),
    )
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("access_level", "integer", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("members_pk", ["project_id", "user_id"])
    .execute();

  await db.schema
    .createTable("keys")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("user_id", "integer", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("title", "text", (c) => c.notNull())
    .addColumn("key", "text", (c) => c.notNull())
    .addColumn("key_type", "text", (c) => c.notNull())
    .addColumn("bits", "integer", (c) => c.notNull())
    .addColumn("fingerprint", "text", (c) => c.notNull())
    .addColumn("fingerprint_sha256", "text", (c) => c.notNull().unique())
    .addColumn("public", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("expires_at", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .addColumn("last_used_at", "text")
    .execute();

  await db.schema
    .createTable("deploy_keys_projects")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("deploy_key_id", "integer", (c) =>
      c.notNull().references("keys.id").onDelete("cascade"),
    )
    .addColumn("project_id", "integer", (c) =>
      c.notNull().references("projects.id").onDelete("cascade"),
    )
    .addColumn("can_push", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .addUniqueConstraint("deploy_keys_projects_unique", ["deploy_key_id", "project_id"])
    .execute();

  await db.schema
    .createTable("hooks")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) =>
      c.notNull().references("projects.id").onDelete("cascade"),
    )
    .addColumn("url", "text", (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("description", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("token_sealed", "text")
    .addColumn("push_events", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("tag_push_events", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("merge_requests_events", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("enable_ssl_verification", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("push_events_branch_filter", "text")
    .addColumn("branch_filter_strategy", "text", (c) => c.notNull().defaultTo("wildcard"))
    .addColumn("recent_failures", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("backoff_count", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("disabled_until", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("hook_deliveries")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("hook_id", "integer", (c) => c.notNull().references("hooks.id").onDelete("cascade"))
    .addColumn("event_name", "text", (c) => c.notNull())
    .addColumn("idempotency_key", "text", (c) => c.notNull())
    .addColumn("event_uuid", "text", (c) => c.notNull())
    .addColumn("payload", "text", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("hook_deliveries_due")
    .on("hook_deliveries")
    .columns(["state", "next_attempt_at"])
    .execute();

  await db.schema
    .createTable("hook_attempts")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("delivery_id", "integer", (c) =>
      c.notNull().references("hook_deliveries.id").onDelete("cascade"),
    )
    .addColumn("hook_id", "integer", (c) => c.notNull().references("hooks.id").onDelete("cascade"))
    .addColumn("started_at", "text", (c) => c.notNull())
    .addColumn("duration_ms", "integer", (c) => c.notNull())
    .addColumn("response_status", "integer")
    .addColumn("response_body", "text")
    .addColumn("error", "text")
    .execute();
}

/** Hook attempts keep what was sent (URL, headers with the token redacted, request UUID). */
async function hookAttemptRequests(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("hook_attempts").addColumn("url", "text").execute();
  await db.schema.alterTable("hook_attempts").addColumn("request_headers", "text").execute();
  await db.schema.alterTable("hook_attempts").addColumn("webhook_uuid", "text").execute();
  await db.schema
    .createIndex("hook_attempts_hook")
    .on("hook_attempts")
    .columns(["hook_id", "id"])
    .execute();
  await db.schema
    .createIndex("hook_deliveries_hook")
    .on("hook_deliveries")
    .columns(["hook_id", "state"])
    .execute();
}

/** Merge requests (per-project `iid`) and commit statuses with their external pipelines. */
async function mergeRequestsAndCommitStatuses(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("merge_requests")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) =>
      c.notNull().references("projects.id").onDelete("cascade"),
    )
    .addColumn("iid", "integer", (c) => c.notNull())
    .addColumn("source_project_id", "integer", (c) =>
      c.notNull().references("projects.id").onDelete("cascade"),
    )
    .addColumn("source_branch", "text", (c) => c.notNull())
    .addColumn("target_branch", "text", (c) => c.notNull())
    .addColumn("title", "text", (c) => c.notNull())
    .addColumn("description", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("author_id", "integer", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("head_sha", "text", (c) => c.notNull())
    .addColumn("updated_by_id", "integer", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("last_edited_at", "text")
    .addColumn("last_edited_by_id", "integer", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("closed_at", "text")
    .addColumn("closed_by_id", "integer", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("merged_at", "text")
    .addColumn("merged_by_id", "integer", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .addUniqueConstraint("merge_requests_project_iid", ["project_id", "iid"])
    .execute();
  await db.schema
    .createIndex("merge_requests_source")
    .on("merge_requests")
    .columns(["source_project_id", "source_branch", "state"])
    .execute();
  await db.schema
    .createIndex("merge_requests_target")
    .on("merge_requests")
    .columns(["project_id", "target_branch", "state"])
    .execute();

  await db.schema
    .createTable("commit_status_pipelines")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) =>
      c.notNull().references("projects.id").onDelete("cascade"),
    )
    .addColumn("sha", "text", (c) => c.notNull())
    .addColumn("ref", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addUniqueConstraint("commit_status_pipelines_unique", ["project_id", "sha", "ref"])
    .execute();

  await db.schema
    .createTable("commit_statuses")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) =>
      c.notNull().references("projects.id").onDelete("cascade"),
    )
    .addColumn("pipeline_id", "integer", (c) =>
      c.notNull().references("commit_status_pipelines.id").onDelete("cascade"),
    )
    .addColumn("sha", "text", (c) => c.notNull())
    .addColumn("ref", "text", (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("target_url", "text")
    .addColumn("description", "text")
    .addColumn("coverage", "text")
    .addColumn("author_id", "integer", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("allow_failure", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("retried", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .addColumn("started_at", "text")
    .addColumn("finished_at", "text")
    .execute();
  await db.schema
    .createIndex("commit_statuses_commit")
    .on("commit_statuses")
    .columns(["project_id", "sha", "ref", "name"])
    .execute();
}

export const forgeMigrations: Record<string, Migration> = {
  "0001_initial": { up: initial },
  "0002_hook_attempt_requests": { up: hookAttemptRequests },
  "0003_merge_requests_and_commit_statuses": { up: mergeRequestsAndCommitStatuses },
};
