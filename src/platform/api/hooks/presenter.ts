import { HOOK_TYPE_FIELDS, HOOK_TYPES, DEPLOY_EVENTS } from "../../notifications/events.ts";
import type { HookData } from "../../notifications/hooks.ts";
import type { NotificationDelivery, NotificationHook } from "../../notifications/tables.ts";

/** A Slack URL is a credential: its origin says where it goes, the rest stays hidden. */
function maskedUrl(url: string): string {
  return `${new URL(url).origin}/…`;
}

/**
 * Netlify's `hook`. Secrets are never shown again: a `url` hook says only whether it signs
 * (`has_signature_secret`, Slipway's), a `slack` hook only its URL's origin.
 */
export function presentHook(hook: NotificationHook, data: HookData) {
  const shown: Record<string, unknown> =
    hook.type === "url"
      ? { url: data.url, has_signature_secret: data.signature_secret !== undefined }
      : hook.type === "slack"
        ? { url: data.url === undefined ? undefined : maskedUrl(data.url) }
        : { email: data.email };
  return {
    id: hook.id,
    site_id: hook.site_id,
    type: hook.type,
    event: hook.event,
    data: shown,
    created_at: hook.created_at,
    updated_at: hook.updated_at,
    disabled: hook.disabled === 1,
  };
}

/** Netlify's `hookType` list. */
export function presentHookTypes() {
  return HOOK_TYPES.map((name) => ({
    name,
    events: [...DEPLOY_EVENTS],
    fields: HOOK_TYPE_FIELDS[name].map((field) => ({ ...field })),
  }));
}

/** Slipway's delivery log entry: when, which event of which deploy, which attempt, and how. */
export function presentDelivery(delivery: NotificationDelivery) {
  return {
    id: delivery.id,
    hook_id: delivery.hook_id,
    deploy_id: delivery.deploy_id,
    event: delivery.event,
    attempt: delivery.attempt,
    outcome: delivery.outcome,
    status_code: delivery.status_code,
    error: delivery.error,
    next_attempt_at: delivery.next_attempt_at,
    created_at: delivery.created_at,
  };
}
