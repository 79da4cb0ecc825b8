/** The API's shapes, as far as the dashboard reads them. */

export interface User {
  id: string;
  email: string;
  full_name: string;
  site_count: number;
  admin: boolean;
}

export interface SessionInfo {
  user: User;
  session: { id: string; method: string; created_at: string; expires_at: string } | null;
  csrf_token: string | null;
}

export interface Deploy {
  id: string;
  site_id: string;
  build_id: string | null;
  state: string;
  name: string;
  url: string;
  admin_url: string;
  deploy_url: string;
  error_message: string | null;
  branch: string | null;
  commit_ref: string | null;
  commit_url: string | null;
  review_id: number | null;
  review_url: string | null;
  context: string;
  /** The commit's subject for a git build (or what its trigger named it). */
  title: string | null;
  /** The commit's author, for a git build. */
  committer: string | null;
  draft: boolean;
  locked: boolean;
  deploy_source: string | null;
  warnings: string[];
  /** Netlify's deploy summary: the redirect and header rules published, and the ones ignored. */
  summary: DeploySummary | null;
  file_count: number | null;
  size_bytes: number | null;
  created_at: string;
  updated_at: string;
  published_at: string | null;
}

export interface SummaryMessage {
  type: "info" | "warning";
  title: string;
  description: string;
  details: string | null;
}

export interface DeploySummary {
  status: string;
  messages: SummaryMessage[];
}

export interface BuildSettings {
  provider: string | null;
  repo_url: string | null;
  repo_path: string | null;
  repo_branch: string | null;
  cmd: string | null;
  dir: string | null;
  base: string | null;
  deploy_key_id: string | null;
  allowed_branches: string[];
  env_keys: string[];
  stop_builds: boolean;
  build_network: boolean;
  deploy_previews: boolean;
}

export interface Site {
  id: string;
  name: string;
  url: string;
  admin_url: string;
  created_at: string;
  updated_at: string;
  account_id: string;
  account_slug: string;
  account_name: string;
  git_provider: string | null;
  git_webhook: { url: string; secret: string } | null;
  build_settings: BuildSettings;
  published_deploy: Deploy | null;
  git_connection_id: string | null;
  link_broken_reason: string | null;
  /** The primary domain (IDNA form), or null. */
  custom_domain: string | null;
  domain_aliases: string[];
  /** Whether a certificate serves the primary domain. */
  ssl: boolean;
  ssl_url: string;
  force_ssl: boolean;
  /** HSTS max-age in seconds; null: off. */
  hsts_max_age: number | null;
}

export type DomainState =
  "pending_dns" | "verifying" | "issuing" | "active" | "failed" | "renewing";

/** One name of a site (`GET /sites/:id/domains`). */
export interface SiteDomain {
  domain: string;
  kind: "primary" | "www" | "alias" | "wildcard";
  state: DomainState;
  /** Why it is in its state and what to do, in Slipway's words. */
  reason: string | null;
  checked_at: string | null;
  created_at: string;
  updated_at: string;
}

/** A site's certificate (`GET /sites/:id/ssl`): Netlify's shape with Slipway's additions. */
export interface Certificate {
  state: DomainState | "custom";
  domains: string[];
  created_at: string;
  updated_at: string;
  expires_at: string | null;
  source: "acme" | "custom" | null;
  reason: string | null;
  issued_at: string | null;
  renew_at: string | null;
  next_attempt_at: string | null;
  renewal_failures: number;
  issuer: string | null;
}

/** What a repository's files say about its build (`…/repos/:repo/build_settings`). */
export interface DetectedBuildSettings {
  framework: { id: string; name: string } | null;
  cmd: string | null;
  dir: string | null;
  base: string | null;
  source: "netlify.toml" | "framework" | null;
}

export interface Build {
  id: string;
  /** Null once its deploy was deleted (`DELETE /deploys/:id`); a new build always has one. */
  deploy_id: string | null;
  site_id: string;
  sha: string | null;
  branch: string;
  state: string;
  done: boolean;
  error: string | null;
  number: number;
  trigger: string;
  title: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface LogLine {
  seq: number;
  time: string;
  section: string;
  message: string;
  error: boolean;
}

export interface Delivery {
  id: string;
  site_id: string;
  /** Null when no known provider's headers identified the sender. */
  provider: string | null;
  event: string | null;
  delivery_key: string | null;
  ref: string | null;
  branch: string | null;
  sha: string | null;
  outcome: string;
  reason: string;
  status_code: number;
  build_id: string | null;
  duplicate_of: string | null;
  received_at: string;
}

export interface HealthItem {
  ok: boolean | null;
  message: string;
  hint?: string;
}

export interface LinkHealth {
  checked_at: string;
  healthy: boolean;
  broken_reason: string | null;
  connection: HealthItem | null;
  deploy_key: HealthItem & { present: boolean | null };
  webhook: HealthItem & { present: boolean | null; enabled: boolean | null };
  last_delivery: { received: boolean; message: string; outcome?: string; reason?: string };
  branch: HealthItem & { readable: boolean | null };
}

export interface LinkStep {
  step: string;
  status: "ok" | "failed" | "skipped";
  message: string;
  hint?: string;
  at: string;
}

export interface ManualStep {
  title?: string;
  text?: string;
  [key: string]: unknown;
}

export interface SiteLink {
  site_id: string;
  site_name: string;
  provider: string | null;
  through_connection: boolean;
  connection: GitConnection | null;
  repository: {
    ref: string | null;
    path: string | null;
    url: string | null;
    branch: string | null;
  };
  deploy_key: { id: string; fingerprint: string; public_key: string } | null;
  webhook: { url: string; events: string[] };
  steps: LinkStep[];
  health: LinkHealth | null;
  checked_at: string | null;
  link_broken_reason: string | null;
  manual: unknown;
}

export interface GitConnection {
  id: string;
  account_id: string;
  provider: string;
  base_url: string;
  kind: string;
  remote_identity: string | null;
  created_at: string;
  last_checked_at: string | null;
  last_error: string | null;
}

export interface ProviderRepo {
  id: string;
  full_path: string;
  ssh_url: string;
  https_url: string;
  web_url: string;
  default_branch: string;
  private: boolean;
}

export interface ProviderBranch {
  name: string;
  default: boolean;
}

export interface EnvValue {
  id: string;
  value?: string;
  context: string;
  context_parameter?: string;
}

export interface EnvVar {
  key: string;
  scopes: string[];
  values: EnvValue[];
  is_secret: boolean;
  updated_at: string;
}

export interface BuildHook {
  id: string;
  title: string;
  branch: string;
  url: string;
  created_at: string;
}

export interface AccessToken {
  id: string;
  name: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  current: boolean;
}

export interface AdminUser {
  id: string;
  email: string;
  full_name: string;
  admin: boolean;
  has_password: boolean;
  created_at: string;
  last_login: string | null;
}

export interface DeployKey {
  id: string;
  public_key: string;
  fingerprint?: string;
}

export interface AccountSummary {
  id: string;
  name: string;
  slug: string;
  role: string;
  default: boolean;
}

/** `GET /accounts/:account_id/audit`: Netlify's entry, Slipway's facts in the payload. */
export interface AuditEntry {
  id: string;
  account_id: string;
  payload: {
    actor_id: string;
    actor_name: string;
    actor_email: string;
    action: string;
    timestamp: string;
    log_type: string;
    actor_kind: "user" | "anonymous" | "system";
    actor_via: "token" | "session" | null;
    target_type: string | null;
    target_id: string | null;
    target_name: string | null;
    route: string | null;
    changed_fields: string[];
    result: "success" | "failure";
    reason: string | null;
    source_address: string | null;
  };
}
