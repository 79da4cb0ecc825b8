import type { Generated, Insertable, Selectable, Updateable } from "kysely";
import type { AuditEventsTable } from "./schema-audit.ts";
import type { BuildCacheEntriesTable } from "./schema-build-cache.ts";
import type {
  AcmeAccountsTable,
  AcmeChallengesTable,
  DomainKind,
  DomainState,
  SiteCertificate,
  SiteCertificatesTable,
  SiteDomain,
  SiteDomainsTable,
} from "./schema-domains.ts";
import type { SitePasswordsTable } from "./schema-site-passwords.ts";

export type {
  AcmeAccountsTable,
  AcmeChallengesTable,
  AuditEventsTable,
  BuildCacheEntriesTable,
  DomainKind,
  DomainState,
  SiteCertificate,
  SiteCertificatesTable,
  SiteDomain,
  SiteDomainsTable,
  SitePasswordsTable,
};

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
  deploy_functions: DeployFunctionsTable;
  account_blobs: AccountBlobsTable;
  deploy_files: DeployFilesTable;
  deploy_uploads: DeployUploadsTable;
  env_vars: EnvVarsTable;
  git_connections: GitConnectionsTable;
  site_links: SiteLinksTable;
  user_passwords: UserPasswordsTable;
  sessions: SessionsTable;
  invites: InvitesTable;
  sign_in_throttles: SignInThrottlesTable;
  site_domains: SiteDomainsTable;
  site_certificates: SiteCertificatesTable;
  acme_accounts: AcmeAccountsTable;
  acme_challenges: AcmeChallengesTable;
  build_uid_leases: BuildUidLeasesTable;
  site_passwords: SitePasswordsTable;
  audit_events: AuditEventsTable;
  build_cache_entries: BuildCacheEntriesTable;
  account_quotas: AccountQuotasTable;
  storage_gc_lock: StorageGcLockTable;
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
  /** What the token may do: `all`, `read` (GET only) or `deploy` (accounts/token-scopes.ts). */
  scope: Generated<TokenScope>;
}

export type TokenScope = "all" | "read" | "deploy";

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
  /** 1: pull/merge requests build deploy previews (the default); 0: their events are ignored. */
  deploy_previews: number;
  /** The secret providers must present (token or HMAC key), sealed with `site_webhook:<id>`. */
  webhook_secret_sealed: string | null;
  /** GitHub App installation the site's repository is cloned through (`repo.installation_id`). */
  installation_id: number | null;
  /** The account's provider connection that linked the repository (see `site_links`). */
  connection_id: string | null;
  /**
   * Why builds are stopped because the link to the provider is broken (key removed, token
   * revoked...), for a human; null when the link is healthy or the site has no connection.
   */
  link_broken_reason: string | null;
  /** The deploy served at the site's own host name (no foreign key: deploys reference sites). */
  published_deploy_id: string | null;
  created_at: string;
  updated_at: string;
  /** Netlify's `custom_domain` (ASCII form); its claim and state are in `site_domains`. */
  custom_domain: Generated<string | null>;
  /** JSON array of Netlify's `domain_aliases` (ASCII; `*.example.com` allowed). */
  domain_aliases: Generated<string>;
  /** 1: plain HTTP requests to a domain with a certificate are redirected to HTTPS. */
  force_ssl: Generated<number>;
  /** `Strict-Transport-Security: max-age=N` on HTTPS answers of the custom domains; null: off. */
  hsts_max_age: Generated<number | null>;
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
  | "retrying"
  /** Netlify's ignored build: nothing the site is built from changed (`builds/ignore.ts`). */
  | "skipped";

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
  /** Who made it: `build` (a git build), `cli`, `api`, `zip`... (Netlify's `deploy_source`). */
  deploy_source: string | null;
  /** JSON array of SHA-256s of functions the platform still needs. */
  required_functions: Generated<string>;
  /** Human-readable warnings shown with the deploy (JSON array of strings). */
  warnings: Generated<string>;
  /** Deploy previews: the pull/merge request number, its web URL and the head's source. */
  review_id: number | null;
  review_url: string | null;
  /** `open`, `closed` or `merged` for deploy previews; null otherwise. */
  review_state: string | null;
  /** Who approved an untrusted preview build (`POST /deploys/:id/approve`). */
  approved_by: string | null;
  commit_url: string | null;
  /** The built commit's author (Netlify's `committer`), read by the build's fetch. */
  committer: string | null;
  created_at: string;
  updated_at: string;
  published_at: string | null;
  /** When retention let the deploy go: its manifest is dropped, it can no longer be published. */
  expired_at: Generated<string | null>;
  /** JSON `DeploySummary` (its rules), written as it becomes ready; null before that. */
  summary: Generated<string | null>;
}

/** Functions declared in a deploy (stored, not served: Slipway serves static files). */
export interface DeployFunctionsTable {
  deploy_id: string;
  name: string;
  /** SHA-256 of the function's zip, as the client declared it. */
  sha256: string;
  runtime: string | null;
  /** SHA-1 of the uploaded zip in the blob store; null until uploaded. */
  blob_sha1: string | null;
  size_bytes: number | null;
  created_at: string;
}

/**
 * Content an account has provided (uploaded, or published by one of its builds): a digest deploy
 * asks an account only for SHA-1s it has no row for here, so one tenant can never skip uploading,
 * or learn of, content that only another tenant has.
 */
export interface AccountBlobsTable {
  account_id: string;
  sha1: string;
  created_at: string;
}

/** The paths a digest deploy declared (path → SHA-1), until its manifest is written. */
export interface DeployFilesTable {
  deploy_id: string;
  /** Canonical manifest path (no leading slash). */
  path: string;
  sha1: string;
}

/** What a digest deploy still waits for: one row per missing file SHA-1 or function SHA-256. */
export interface DeployUploadsTable {
  deploy_id: string;
  kind: "file" | "function";
  digest: string;
}

/**
 * Netlify's environment variables ("Envelope", `/accounts/:account_id/env`): one row per key,
 * for the whole account (`site_id` null) or for one site. `values_sealed` holds the JSON array
 * of `{id, value, context, context_parameter}`, sealed with context `env_var:<id>`.
 */
export interface EnvVarsTable {
  id: string;
  account_id: string;
  site_id: string | null;
  key: string;
  /** JSON array of scopes: builds, functions, runtime, post-processing. */
  scopes: string;
  is_secret: number;
  values_sealed: string;
  updated_by: string | null;
  created_at: string;
  updated_at: string;
}

export type GitProviderName = "github" | "gitlab" | "bitbucket" | "gitea";

/**
 * An account's credentials at a git provider. `credential_sealed` is the JSON credential
 * (`{kind:"token", token}`, `{kind:"app_password", username, password}` or
 * `{kind:"github_app", app_id, private_key}`) sealed with context `git_connection:<id>`;
 * it is never returned by the API.
 */
export interface GitConnectionsTable {
  id: string;
  account_id: string;
  provider: GitProviderName;
  /** The provider's API base URL (`https://api.github.com`, `https://gitlab.example.com`...). */
  base_url: string;
  kind: "token" | "app_password" | "github_app";
  /** Who the credential is at the provider (user name, or the App's slug), when it was checked. */
  remote_identity: string;
  credential_sealed: string;
  created_by: string | null;
  created_at: string;
  updated_at: string;
  last_checked_at: string | null;
  last_error: string | null;
}

/**
 * What Slipway did at the provider for a site linked through a connection, so that linking
 * again, unlinking and repairing are exact: the provider's ids of the deploy key and webhook
 * it installed, each step's result, and the last health check.
 */
export interface SiteLinksTable {
  site_id: string;
  connection_id: string;
  provider: GitProviderName;
  /** The repository in the provider's native form (`42`, `group/project`, `workspace/slug`). */
  repo_ref: string;
  remote_key_id: string | null;
  remote_hook_id: string | null;
  /** JSON array of `{step, status: ok|failed|skipped, message, hint?, at}`. */
  steps: string;
  /** JSON object: the last health check (key, webhook, last delivery, branch readable). */
  health: string | null;
  checked_at: string | null;
  created_at: string;
  updated_at: string;
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

/** A user's dashboard password: `scrypt$N$r$p$<salt>$<hash>` (base64url), never the password. */
export interface UserPasswordsTable {
  user_id: string;
  password_hash: string;
  updated_at: string;
}

/** How a browser session was opened. */
export type SessionMethod = "password" | "token" | "invite";

/**
 * A signed-in browser (the dashboard): the cookie's SHA-256 digest, never the cookie. A session
 * opened with a pasted access token ends when that token is revoked (`access_token_id`).
 */
export interface SessionsTable {
  id: string;
  user_id: string;
  token_digest: string;
  access_token_id: string | null;
  method: SessionMethod;
  ip: string | null;
  user_agent: string | null;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
}

/** A one-time link (`/invite/<token>`) with which a user sets their password. */
export interface InvitesTable {
  id: string;
  user_id: string;
  token_digest: string;
  created_by: string | null;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

/** Failed sign-ins per key (`ip:<address>`, `account:<email>`) in the current window. */
export interface SignInThrottlesTable {
  key: string;
  failures: number;
  window_started_at: string;
  blocked_until: string | null;
}

export type User = Selectable<UsersTable>;
export type Account = Selectable<AccountsTable>;
export type AccountMembership = Selectable<AccountMembershipsTable>;
export type DeployKey = Selectable<DeployKeysTable>;
// The domain settings (migration 0008) are optional in `Site`, so that code which builds a site
// row by hand needs none of them; absent reads as the column's default.
type SiteDomainColumns = "custom_domain" | "domain_aliases" | "force_ssl" | "hsts_max_age";
export type Site = Omit<Selectable<SitesTable>, SiteDomainColumns> &
  Partial<Pick<Selectable<SitesTable>, SiteDomainColumns>>;
export type NewSite = Insertable<SitesTable>;
export type SiteUpdate = Updateable<SitesTable>;
export type Deploy = Selectable<DeploysTable>;
export type Build = Selectable<BuildsTable>;
export type WebhookDelivery = Selectable<WebhookDeliveriesTable>;
export type BuildHook = Selectable<BuildHooksTable>;
export type Job = Selectable<JobsTable>;
export type DeployFunction = Selectable<DeployFunctionsTable>;
export type EnvVar = Selectable<EnvVarsTable>;
export type GitConnection = Selectable<GitConnectionsTable>;
export type SiteLink = Selectable<SiteLinksTable>;
export type Session = Selectable<SessionsTable>;
export type Invite = Selectable<InvitesTable>;

/** An administrator's per-account quota overrides; null: the instance's default. */
export interface AccountQuotasTable {
  account_id: string;
  storage_bytes: number | null;
  sites: number | null;
  concurrent_builds: number | null;
  updated_at: string;
}

/** The garbage collector's lease: one run at a time across every process on this database. */
export interface StorageGcLockTable {
  name: string;
  owner: string;
  expires_at: string;
}

/** A build uid in use (`sandbox/uid-leases.ts`): held while its holder heartbeats it. */
export interface BuildUidLeasesTable {
  uid: number;
  /** The holder: one allocation of one platform process. */
  owner: string;
  expires_at: string;
  created_at: string;
}
