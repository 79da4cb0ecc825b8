import type { Kysely } from "kysely";
import type { PlatformDatabase } from "../db/schema.ts";
import { currentAuditRequest, type AuditActor } from "./request.ts";

/** What changed: `<object>.<verb>`, e.g. `site.update`, `env.delete`, `session.sign_in`. */
export type AuditAction = `${string}.${string}`;

export interface AuditEventInput {
  action: AuditAction;
  /** The account whose object changed; null for events about a user (sign-ins, tokens). */
  accountId: string | null;
  target?: { type: string; id: string; name?: string | null };
  /** Names of the fields that changed: never their values. */
  fields?: readonly string[];
  result?: "success" | "failure";
  /** A failure's reason, in the words of the answer. */
  reason?: string;
  /** The actor when the request's own is not known yet (the sign-in that creates the session). */
  actor?: AuditActor;
  /** The user the event is about when nobody is signed in (a failed sign-in naming a user). */
  userId?: string | null;
}

/**
 * Records one event. Call it with the transaction that makes the change, so that the change and
 * its record commit or roll back together; the actor and source come from the request being
 * served (`request.ts`), or the event is the platform's own (`system`) in background work.
 */
export async function recordAudit(
  db: Kysely<PlatformDatabase>,
  event: AuditEventInput,
): Promise<void> {
  const request = currentAuditRequest();
  const actor = event.actor ?? request?.actor;
  await db
    .insertInto("audit_events")
    .values({
      account_id: event.accountId,
      user_id: actor?.id ?? event.userId ?? null,
      actor_kind: actor ? "user" : request ? "anonymous" : "system",
      actor_id: actor?.id ?? null,
      actor_name: actor?.name ?? null,
      actor_email: actor?.email ?? null,
      actor_via: actor?.via ?? null,
      token_id: actor?.tokenId ?? null,
      action: event.action,
      target_type: event.target?.type ?? null,
      target_id: event.target?.id ?? null,
      target_name: event.target?.name ?? null,
      route: request?.route ?? null,
      fields: JSON.stringify([...new Set(event.fields ?? [])].sort()),
      result: event.result ?? "success",
      reason: event.reason ?? null,
      source_address: request?.sourceAddress ?? null,
      request_id: request?.requestId ?? null,
      created_at: new Date().toISOString(),
    })
    .execute();
  if (request) request.recorded += 1;
}
