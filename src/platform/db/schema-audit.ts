import type { Generated } from "kysely";

/**
 * The audit log (`0014_audit_log`): one row per state-changing request or sign-in attempt.
 * Written in the same transaction as the change it records; never holds a secret value, only
 * the names of the fields that changed.
 */
export interface AuditEventsTable {
  /** Insertion order: the log's order and its paging key. */
  id: Generated<number>;
  /** The account whose object changed; null for events about a user (sign-ins, tokens). */
  account_id: string | null;
  /** The user the event is about: the actor, or the user a failed sign-in named. */
  user_id: string | null;
  /** `user`, or `anonymous` (a failed sign-in), or `system` (work of the platform itself). */
  actor_kind: "user" | "anonymous" | "system";
  actor_id: string | null;
  actor_name: string | null;
  actor_email: string | null;
  /** `token` (a bearer token, with its id in `token_id`) or `session` (the dashboard). */
  actor_via: "token" | "session" | null;
  token_id: string | null;
  /** `site.update`, `env.create`, `session.sign_in`, … (`audit/actions.ts`). */
  action: string;
  target_type: string | null;
  target_id: string | null;
  target_name: string | null;
  /** The API route that made the change (`PATCH /api/v1/sites/:site_id`); null outside one. */
  route: string | null;
  /** JSON array of the names of the fields that changed. */
  fields: string;
  result: "success" | "failure";
  /** For a failure: the answer's message (never a secret). */
  reason: string | null;
  source_address: string | null;
  request_id: string | null;
  created_at: string;
}
