import type { Generated, Insertable, Selectable, Updateable } from "kysely";

/**
 * The platform's tables. Ids are text: sites are UUID v4, everything else a 24-hex id (as
 * Netlify's); internal rows (log lines, jobs) use integer keys. Timestamps are ISO-8601 strings
 * in UTC; booleans are 0/1 integers; lists and maps are JSON text. Columns ending in `_sealed`
 * hold values sealed with the master key (`SecretBox`, with the row as associated data).
 */
export interface PlatformDatabase {
  meta: MetaTable;
  users: UsersTable;
  accounts: AccountsTable;
  account_memberships: AccountMembershipsTable;
  access_tokens: AccessTokensTable;
  deploy_keys: DeployKeysTable;
  sites: SitesTable;
  deploys: DeploysTable;
  builds: BuildsTable;
  build_log_lines: BuildLogLinesTable;
  webhook_deliveries: WebhookDeliveriesTable;
  build_hooks: BuildHooksTable;
  known_hosts: KnownHostsTable;
  jobs: JobsTable;
}

/** Small platform facts, e.g. `master_key_check` (a value sealed with the master key). */
export interface MetaTable {
  key: string;
  value: string;
}

export interface UsersTable {
  id: string;
  email: string;
  full_name: string;
  /** Platform administrators may create users (`POST /api/v1/admin/users`); nothing more. */
  is_admin: number;
  created_at: string;
  updated_at: string;
  last_login: string | null;
}

/** A tenant: sites, deploy keys and everything under them belong to exactly one account. */
export interface AccountsTable {
  id: string;
  /** URL segment (`POST /{account_slug}/sites`); unique, lower case. */
  slug: string;
  name: string;
  type: "personal" | "team";
  created_at: string;
  updated_at: string;
}

export type AccountRole = "Owner" | "Developer";

export interface AccountMembershipsTable {
  account_id: string;
  user_id: string;
  role: AccountRole;
  /**
   * The account used when a request names none (`POST /sites`, `POST /deploy_keys`): each
   * user's own personal account. It is per user, so it lives on the membership.
   */
  is_default: number;
  created_at: string;
}

export interface AccessTokensTable {
  id: string;
  user_id: string;
  name: string;
  /** SHA-256 of the token; the token itself is shown once and never stored. */
  token_digest: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

/** An SSH key pair the platform generated; its private half never leaves the platform. */
export interface DeployKeysTable {
  id: string;
  account_id: string;
  created_by: string | null;
  /** `ssh-ed25519 AAAA... comment` */
  public_key: string;
  /** `SHA256:...` of the public key blob. */
  fingerprint: string;
  /** The OpenSSH private key, sealed with context `deploy_key:<id>`. */
  private_key_sealed: string;
  created_at: string;
}

export type RepoProvider = "gitlab" | "github" | "bitbucket" | "gitea" | "git" | "manual";

export interface SitesTable {
  /** UUID v4. */
  id: string;
  account_id: string;
  created_by: string | null;
  /** Unique; the site's host name label (`{name}.{sites domain}`). */
  name: string;
  state: "current";
  /** Repository settings (Netlify's `repo` / `build_settings`); all null when not linked. */
  repo_provider: RepoProvider | null;
  repo_url: string | null;
  repo_path: string | null;
  /** The provider's repository id as JSON (an integer, or Bitbucket's `"workspace/repo"`). */
  repo_id: string | null;
  repo_branch: string | null;
  build_cmd: string | null;
  publish_dir: string | null;
  base_dir: string | null;
  deploy_key_id: string | null;
  /** JSON array of branch names that build. */
  allowed_branches: string;
  /** JSON object of build environment variables, sealed with context `site_env:<id>`. */
  env_sealed: string | null;
  stop_builds: number;
  /** 1: the build command has network access (the default); 0: none. */
  build_network: number;
  /** The secret providers must present (token or HMAC key), sealed with `site_webhook:<id>`. */
  webhook_secret_sealed: string | null;
  /** The deploy served at the site's own host name (no foreign key: deploys reference sites). */
  published_deploy_id: string | null;
  created_at: string;
  updated_at: string;
}

/** Netlify's deploy states. */
export type DeployState =
  | "new"
  | "pending_review"
  | "accepted"
  | "rejected"
  | "enqueued"
  | "building"
  | "uploading"
  | "uploaded"
  | "preparing"
  | "prepared"
  | "processing"
  | "processed"
  | "ready"
  | "error"
  | "retrying";

export interface DeploysTable {
  id: string;
  site_id: string;
  /** The build that produced it; null for deploys uploaded through the API. */
  build_id: string | null;
  state: DeployState;
  /** `production`, `branch-deploy` or `deploy-preview`. */
  context: string;
  branch: string | null;
  commit_ref: string | null;
  title: string | null;
  draft: number;
  locked: number;
  error_message: string | null;
  /** JSON array of SHA-1s the platform still needs (the digest upload protocol). */
  required: string;
  file_count: number | null;
  size_bytes: number | null;
  created_at: string;
  updated_at: string;
  published_at: string | null;
}

export type BuildState = "enqueued" | "building" | "done" | "error" | "cancelled" | "superseded";

export interface BuildsTable {
  id: string;
  site_id: string;
  /** Every build has its deploy from the start, so both ids can be returned at once. */
  deploy_id: string | null;
  state: BuildState;
  /** What started it: `link`, `webhook`, `build_hook`, `manual`, `retry`. */
  trigger: string;
  branch: string;
  /** The commit built; null until the fetch has resolved the branch. */
  sha: string | null;
  title: string | null;
  clear_cache: number;
  error: string | null;
  webhook_delivery_id: string | null;
  build_hook_id: string | null;
  /** How many times a worker has started it (a restart re-runs an interrupted build once). */
  attempts: number;
  /** Per-site sequence (1, 2, 3 …) in creation order: a lower number never publishes over a higher. */
  number: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

/** Netlify's build log sections plus `preparing_repo`. */
export type LogSection =
  "initializing" | "preparing_repo" | "building" | "deploying" | "cleanup" | "postprocessing";

export interface BuildLogLinesTable {
  id: Generated<number>;
  build_id: string;
  /** Order within the build (0, 1, 2, ...); unique per build, so a retried append is harmless. */
  seq: number;
  time: string;
  section: LogSection;
  /** 1 for lines that explain a failure. */
  error: number;
  message: string;
}

/**
 * `coalesced`: the push asked for a commit already queued or built (that build's id is kept).
 * Only `built` and `coalesced` deliveries hold their provider delivery id (`delivery_key`) for
 * dedupe: a rejected one must not let a forger block the real delivery, and an ignored or
 * failed one is evaluated again when the provider redelivers it.
 */
export type DeliveryOutcome =
  "built" | "coalesced" | "ignored" | "duplicate" | "rejected" | "failed";

/** Every request to a site's git webhook URL, recorded before it is answered. */
export interface WebhookDeliveriesTable {
  id: string;
  site_id: string;
  provider: string | null;
  /** The provider's event name (`push`, `Push Hook`, `repo:push`, `ping`...). */
  event: string | null;
  /** The provider's delivery id (`X-GitHub-Delivery`, `Idempotency-Key`...), for dedupe. */
  delivery_key: string | null;
  ref: string | null;
  sha: string | null;
  outcome: DeliveryOutcome;
  /** Why, for a human: `branch "dev" is not in allowed_branches [main]`, `bad signature`... */
  reason: string;
  status_code: number;
  build_id: string | null;
  duplicate_of: string | null;
  received_at: string;
}

/** Netlify's incoming build hooks: `POST /build_hooks/<id>` (the id is the capability). */
export interface BuildHooksTable {
  id: string;
  site_id: string;
  title: string;
  branch: string;
  created_at: string;
  updated_at: string;
}

/**
 * SSH host keys of repository hosts. `scope` is `*` for keys pinned by the platform (e.g. the
 * keys GitHub publishes) or an account id for keys first seen by that account's builds, so one
 * tenant can never pin a host key for another.
 */
export interface KnownHostsTable {
  id: Generated<number>;
  scope: string;
  /** `host` or `[host]:port`, as in OpenSSH's known_hosts. */
  host: string;
  key_type: string;
  /** Base64 key blob. */
  public_key: string;
  fingerprint: string;
  source: "pinned" | "first_seen";
  created_at: string;
}

export type JobState = "pending" | "running" | "completed" | "failed";

/**
 * A durable job queue with at-least-once delivery: a worker leases a pending job whose `run_at`
 * has come (`lease_owner`, `lease_expires_at`), heartbeats by extending the lease, and completes
 * it; a lease that expires (a crash) makes the job pending again until `max_attempts`. Jobs
 * therefore must be idempotent. `concurrency_key` (e.g. `site:<id>`) allows at most one running
 * job per key; `dedupe_key` makes a second enqueue of the same pending work a no-op.
 */
export interface JobsTable {
  id: Generated<number>;
  /** Which handler runs it: `build`, `publish`, ... */
  queue: string;
  /** JSON input of the handler. */
  payload: string;
  state: JobState;
  priority: number;
  run_at: string;
  attempts: number;
  max_attempts: number;
  lease_owner: string | null;
  lease_expires_at: string | null;
  concurrency_key: string | null;
  dedupe_key: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

export type User = Selectable<UsersTable>;
export type Account = Selectable<AccountsTable>;
export type AccountMembership = Selectable<AccountMembershipsTable>;
export type DeployKey = Selectable<DeployKeysTable>;
export type Site = Selectable<SitesTable>;
export type NewSite = Insertable<SitesTable>;
export type SiteUpdate = Updateable<SitesTable>;
export type Deploy = Selectable<DeploysTable>;
export type Build = Selectable<BuildsTable>;
export type WebhookDelivery = Selectable<WebhookDeliveriesTable>;
export type BuildHook = Selectable<BuildHooksTable>;
export type Job = Selectable<JobsTable>;
