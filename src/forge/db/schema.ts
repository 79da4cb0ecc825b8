import type { Generated, Insertable, Selectable, Updateable } from "kysely";

/** Timestamps are ISO-8601 strings in UTC; booleans are 0/1 integers (portable to Postgres). */
export interface ForgeDatabase {
  users: UsersTable;
  personal_access_tokens: PersonalAccessTokensTable;
  namespaces: NamespacesTable;
  projects: ProjectsTable;
  members: MembersTable;
  keys: KeysTable;
  deploy_keys_projects: DeployKeysProjectsTable;
  hooks: HooksTable;
  hook_deliveries: HookDeliveriesTable;
  hook_attempts: HookAttemptsTable;
  merge_requests: MergeRequestsTable;
  commit_status_pipelines: CommitStatusPipelinesTable;
  commit_statuses: CommitStatusesTable;
}

export interface UsersTable {
  id: Generated<number>;
  username: string;
  name: string;
  email: string;
  is_admin: number;
  state: string;
  created_at: string;
}

export interface PersonalAccessTokensTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  /** SHA-256 of the token; the token itself is shown once and never stored. */
  token_digest: string;
  /** JSON array of scope names. */
  scopes: string;
  expires_at: string | null;
  revoked: number;
  created_at: string;
  last_used_at: string | null;
}

export interface NamespacesTable {
  id: Generated<number>;
  path: string;
  name: string;
  kind: "user" | "group";
  owner_id: number | null;
  created_at: string;
}

export interface ProjectsTable {
  id: Generated<number>;
  namespace_id: number;
  creator_id: number;
  name: string;
  path: string;
  description: string;
  visibility: "private" | "internal" | "public";
  default_branch: string;
  created_at: string;
  updated_at: string;
  last_activity_at: string;
}

export interface MembersTable {
  project_id: number;
  user_id: number;
  access_level: number;
  created_at: string;
}

/** One row per SSH public key in the system: a user's key or a (global) deploy key. */
export interface KeysTable {
  id: Generated<number>;
  kind: "user" | "deploy";
  user_id: number | null;
  title: string;
  /** Sanitised `type base64 [comment]`. */
  key: string;
  key_type: string;
  bits: number;
  fingerprint: string;
  fingerprint_sha256: string;
  /** Instance-wide deploy keys created by an admin. */
  public: number;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
  last_used_at: string | null;
}

export interface DeployKeysProjectsTable {
  id: Generated<number>;
  deploy_key_id: number;
  project_id: number;
  can_push: number;
  created_at: string;
  updated_at: string;
}

export interface HooksTable {
  id: Generated<number>;
  project_id: number;
  url: string;
  name: string;
  description: string;
  /** Sealed with the forge's secret box; never returned by the API. */
  token_sealed: string | null;
  push_events: number;
  tag_push_events: number;
  merge_requests_events: number;
  enable_ssl_verification: number;
  push_events_branch_filter: string | null;
  branch_filter_strategy: "wildcard" | "regex" | "all_branches";
  recent_failures: number;
  backoff_count: number;
  disabled_until: string | null;
  created_at: string;
  updated_at: string;
}

/** One event to send to one hook; retried until delivered or given up. */
export interface HookDeliveriesTable {
  id: Generated<number>;
  hook_id: number;
  event_name: string;
  /** Stable across retries of the same event (GitLab's Idempotency-Key). */
  idempotency_key: string;
  event_uuid: string;
  payload: string;
  state: "pending" | "delivered" | "failed";
  attempts: number;
  next_attempt_at: string;
  created_at: string;
  updated_at: string;
}

export interface HookAttemptsTable {
  id: Generated<number>;
  delivery_id: number;
  hook_id: number;
  started_at: string;
  duration_ms: number;
  response_status: number | null;
  response_body: string | null;
  error: string | null;
  /** The URL the attempt went to (the hook's URL may change later). */
  url: string | null;
  /** JSON object of the request headers, `X-Gitlab-Token` redacted. */
  request_headers: string | null;
  /** `X-Gitlab-Webhook-UUID`, new for every attempt. */
  webhook_uuid: string | null;
}

/** A merge request; `iid` is numbered per project and names `refs/merge-requests/<iid>/head`. */
export interface MergeRequestsTable {
  id: Generated<number>;
  /** The target project (the forge has no forks: also the source project). */
  project_id: number;
  iid: number;
  source_project_id: number;
  source_branch: string;
  target_branch: string;
  title: string;
  description: string;
  state: "opened" | "closed" | "merged";
  author_id: number | null;
  /** The source branch's commit the merge request shows (GitLab's diff_head_sha). */
  head_sha: string;
  updated_by_id: number | null;
  last_edited_at: string | null;
  last_edited_by_id: number | null;
  closed_at: string | null;
  closed_by_id: number | null;
  merged_at: string | null;
  merged_by_id: number | null;
  created_at: string;
  updated_at: string;
}

/** GitLab attaches commit statuses to a pipeline; here one external pipeline per (sha, ref). */
export interface CommitStatusPipelinesTable {
  id: Generated<number>;
  project_id: number;
  sha: string;
  ref: string;
  created_at: string;
}

/** A commit status posted by an external system (GitLab's GenericCommitStatus). */
export interface CommitStatusesTable {
  id: Generated<number>;
  project_id: number;
  pipeline_id: number;
  sha: string;
  ref: string;
  name: string;
  status: "created" | "pending" | "running" | "success" | "failed" | "canceled" | "skipped";
  target_url: string | null;
  description: string | null;
  /** A decimal number as text (portable; SQLite and Postgres disagree on floats). */
  coverage: string | null;
  author_id: number | null;
  allow_failure: number;
  /** 1 once a newer status with the same name replaced it (GitLab's `retried`). */
  retried: number;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type Project = Selectable<ProjectsTable>;
export type ProjectUpdate = Updateable<ProjectsTable>;
export type Namespace = Selectable<NamespacesTable>;
export type Key = Selectable<KeysTable>;
export type DeployKeyProject = Selectable<DeployKeysProjectsTable>;
export type Hook = Selectable<HooksTable>;
export type HookDelivery = Selectable<HookDeliveriesTable>;
export type HookAttempt = Selectable<HookAttemptsTable>;
export type MergeRequest = Selectable<MergeRequestsTable>;
export type CommitStatus = Selectable<CommitStatusesTable>;
