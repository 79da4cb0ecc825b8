import type { AuditEvent } from "../../audit/events.ts";

/**
 * Netlify's audit log entry: `{id, account_id, payload: {actor_id, actor_name, actor_email,
 * action, timestamp, log_type, …}}`; Slipway's own facts ride in the payload's free-form part.
 */
export function presentAuditEvent(event: AuditEvent, accountId: string) {
  return {
    id: String(event.id),
    account_id: event.account_id ?? accountId,
    payload: {
      actor_id: event.actor_id ?? "",
      actor_name: event.actor_name ?? (event.actor_kind === "system" ? "Slipway" : ""),
      actor_email: event.actor_email ?? "",
      action: event.action,
      timestamp: event.created_at,
      log_type: event.action.slice(0, event.action.indexOf(".")),
      actor_kind: event.actor_kind,
      actor_via: event.actor_via,
      token_id: event.token_id,
      target_type: event.target_type,
      target_id: event.target_id,
      target_name: event.target_name,
      route: event.route,
      changed_fields: JSON.parse(event.fields) as string[],
      result: event.result,
      reason: event.reason,
      source_address: event.source_address,
      request_id: event.request_id,
    },
  };
}

/** One audit log entry (`GET /accounts/:id/audit`). */
export type AuditEntryJson = ReturnType<typeof presentAuditEvent>;
