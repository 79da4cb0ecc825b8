import type { ForgeContext } from "../../context.ts";
import type { Hook } from "../../db/schema.ts";
import { alertStatus } from "../../webhooks/auto-disable.ts";
import { triggerOf } from "../../webhooks/deliveries.ts";
import type { HookEventRow } from "../../webhooks/hooks.ts";

/**
 * GitLab's ProjectHook entity. The token is never returned; URL variables and custom headers are
 * not supported (always empty); events the forge never emits are false.
 */
export function presentHook(ctx: ForgeContext, hook: Hook) {
  return {
    id: hook.id,
    url: hook.url,
    name: hook.name,
    description: hook.description,
    created_at: hook.created_at,
    push_events: hook.push_events === 1,
    tag_push_events: hook.tag_push_events === 1,
    merge_requests_events: hook.merge_requests_events === 1,
    repository_update_events: false,
    enable_ssl_verification: hook.enable_ssl_verification === 1,
    alert_status: alertStatus(hook, ctx.config.webhooks, ctx.now()),
    disabled_until: hook.disabled_until,
    url_variables: [],
    push_events_branch_filter: hook.push_events_branch_filter,
    branch_filter_strategy: hook.branch_filter_strategy,
    custom_webhook_template: null,
    custom_headers: [],
    project_id: hook.project_id,
    issues_events: false,
    confidential_issues_events: false,
    note_events: false,
    confidential_note_events: false,
    pipeline_events: false,
    wiki_page_events: false,
    deployment_events: false,
    feature_flag_events: false,
    job_events: false,
    releases_events: false,
    milestone_events: false,
    emoji_events: false,
    resource_access_token_events: false,
    resource_deploy_token_events: false,
    vulnerability_events: false,
  };
}

function parseObject(json: string | null): Record<string, unknown> {
  if (json === null) return {};
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * GitLab's WebHookLog entity (`execution_duration` in seconds, `response_status` a string,
 * "internal error" when no response came), plus the forge's delivery details: the delivery it
 * belongs to and its state, the attempt's error, the request id (`X-Gitlab-Webhook-UUID`).
 */
export function presentHookEvent(row: HookEventRow) {
  return {
    id: row.id,
    url: row.url,
    trigger: triggerOf(row.event_name),
    request_headers: parseObject(row.request_headers),
    request_data: parseObject(row.payload),
    response_headers: {},
    response_body: row.response_body ?? "",
    execution_duration: row.duration_ms / 1000,
    response_status: row.response_status === null ? "internal error" : String(row.response_status),
    created_at: row.started_at,
    duration_ms: row.duration_ms,
    error: row.error,
    request_id: row.webhook_uuid,
    idempotency_key: row.idempotency_key,
    delivery_id: row.delivery_id,
    delivery_state: row.state,
    delivery_attempts: row.attempts,
  };
}
