import type { ForgeContext } from "../context.ts";
import type { Hook, HooksTable, Project } from "../db/schema.ts";
import { badParams, invalidRecord, notFound, preconditionFailed } from "../errors.ts";
import { refusalForHost } from "../../lib/net-guard.ts";
import { hasControlOrSpace } from "../../lib/text.ts";
import {
  branchFilterError,
  normalizeBranchFilter,
  type BranchFilterStrategy,
} from "./branch-filter.ts";
import type { Updateable } from "kysely";
import { localTargetAllowed } from "./targets.ts";

/** Every `*_events` flag GitLab's `common_hook_parameters` accepts. */
export const EVENT_FLAGS = [
  "push_events",
  "issues_events",
  "confidential_issues_events",
  "merge_requests_events",
  "tag_push_events",
  "note_events",
  "confidential_note_events",
  "job_events",
  "pipeline_events",
  "wiki_page_events",
  "deployment_events",
  "feature_flag_events",
  "releases_events",
  "milestone_events",
  "emoji_events",
  "resource_access_token_events",
  "resource_deploy_token_events",
  "vulnerability_events",
  "repository_update_events",
] as const;
export type EventFlag = (typeof EVENT_FLAGS)[number];

/** A hook's settings as `PUT /projects/:id/hooks/:hook_id` gives them: any of them. */
export interface HookSettings extends Partial<Record<EventFlag, boolean>> {
  url?: string;
  name?: string;
  description?: string;
  token?: string;
  enable_ssl_verification?: boolean;
  push_events_branch_filter?: string;
  branch_filter_strategy?: BranchFilterStrategy;
}

/** `POST /projects/:id/hooks`: the URL, and any other setting. */
export interface NewHook extends HookSettings {
  url: string;
}

/** The parameters `PUT` reads; anything else in the body does not count as a parameter. */
export const UPDATE_PARAM_NAMES: ReadonlyArray<keyof HookSettings> = [
  "url",
  "name",
  "description",
  "token",
  "enable_ssl_verification",
  "push_events_branch_filter",
  "branch_filter_strategy",
  ...EVENT_FLAGS,
];

/** Which delivery attempts a hook's events log lists: an HTTP status, or a class of them. */
export interface HookEventFilter {
  status?: number | "successful" | "client_failure" | "server_failure";
}

export async function listHooks(ctx: ForgeContext, project: Project): Promise<Hook[]> {
  return ctx.db
    .selectFrom("hooks")
    .selectAll()
    .where("project_id", "=", project.id)
    .orderBy("id")
    .execute();
}

/** `user_project.hooks.find(id)`: a miss is ActiveRecord's `404 Not found`. */
export async function findHook(ctx: ForgeContext, project: Project, hookId: number): Promise<Hook> {
  const hook = Number.isSafeInteger(hookId)
    ? await ctx.db
        .selectFrom("hooks")
        .selectAll()
        .where("project_id", "=", project.id)
        .where("id", "=", hookId)
        .executeTakeFirst()
    : undefined;
  if (!hook) throw notFound();
  return hook;
}

interface HookValues {
  url: string;
  token: string | null;
  strategy: BranchFilterStrategy;
  filter: string | null;
}

/** WebHooks::Hook's validations, as `{attribute: [messages]}`. */
function validate(ctx: ForgeContext, values: HookValues): Record<string, string[]> {
  const errors: Record<string, string[]> = {};
  const urlError = urlProblem(values.url, localTargetAllowed(ctx.config, values.url));
  if (urlError) errors.url = [urlError];
  if (values.token !== null && values.token.includes("\n")) errors.token = ["is invalid"];
  const filterError = branchFilterError(values.strategy, values.filter);
  if (filterError) errors.push_events_branch_filter = [filterError];
  return errors;
}

/**
 * GitLab's `public_url` validation: present, http or https, and (unless local webhooks are
 * allowed) not an IP literal or `localhost` name in a loopback or private range. Names are
 * checked again when a delivery connects.
 */
function urlProblem(raw: string, allowLocal: boolean): string | null {
  if (raw.trim() === "") return "can't be blank";
  if (hasControlOrSpace(raw)) return "is blocked: URI is invalid";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "is blocked: URI is invalid";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return "is blocked: Only allowed schemes are http, https";
  }
  if (url.hostname === "") return "is blocked: URI is invalid";
  if (!allowLocal) {
    const refused = refusalForHost(url.hostname);
    if (refused) {
      return refused.reason === "a loopback address"
        ? "is blocked: Requests to localhost are not allowed"
        : "is blocked: Requests to the local network are not allowed";
    }
  }
  return null;
}

/** `{"error":"Invalid url given"}`, `{"error":"Invalid branch filter given"}`, or `fallback`. */
function rejectInvalid(errors: Record<string, string[]>, fallback: () => Error): never {
  if (errors.url) throw badParams("Invalid url given", "unprocessable");
  if (errors.push_events_branch_filter)
    throw badParams("Invalid branch filter given", "unprocessable");
  throw fallback();
}

function sentence(errors: Record<string, string[]>): string {
  const messages = Object.entries(errors).flatMap(([attr, list]) =>
    list.map((m) => `${attr.charAt(0).toUpperCase()}${attr.slice(1).replaceAll("_", " ")} ${m}`),
  );
  return messages.length <= 1
    ? (messages[0] ?? "")
    : `${messages.slice(0, -1).join(", ")}, and ${messages.at(-1) ?? ""}`;
}

const flag = (value: boolean | undefined, fallback: number): number =>
  value === undefined ? fallback : value ? 1 : 0;

export async function createHook(
  ctx: ForgeContext,
  project: Project,
  input: NewHook,
): Promise<Hook> {
  const strategy = input.branch_filter_strategy ?? "wildcard";
  const values: HookValues = {
    url: input.url,
    token: input.token === undefined || input.token === "" ? null : input.token,
    strategy,
    filter: normalizeBranchFilter(strategy, input.push_events_branch_filter),
  };
  const errors = validate(ctx, values);
  if (Object.keys(errors).length > 0) {
    rejectInvalid(errors, () => badParams(sentence(errors), "unprocessable"));
  }
  const now = ctx.now().toISOString();
  return ctx.db
    .insertInto("hooks")
    .values({
      project_id: project.id,
      url: values.url,
      name: input.name ?? "",
      description: input.description ?? "",
      token_sealed: values.token === null ? null : ctx.secrets.seal(values.token),
      push_events: flag(input.push_events, 1),
      tag_push_events: flag(input.tag_push_events, 0),
      merge_requests_events: flag(input.merge_requests_events, 0),
      enable_ssl_verification: flag(input.enable_ssl_verification, 1),
      push_events_branch_filter: values.filter,
      branch_filter_strategy: strategy,
      recent_failures: 0,
      backoff_count: 0,
      disabled_until: null,
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateHook(
  ctx: ForgeContext,
  hook: Hook,
  input: HookSettings,
): Promise<Hook> {
  if (!UPDATE_PARAM_NAMES.some((name) => input[name] !== undefined)) {
    throw badParams("No parameters provided");
  }
  const url = input.url ?? hook.url;
  const strategy = input.branch_filter_strategy ?? hook.branch_filter_strategy;
  const filter = normalizeBranchFilter(
    strategy,
    input.push_events_branch_filter !== undefined
      ? input.push_events_branch_filter
      : hook.push_events_branch_filter,
  );
  // `reset_token`: a new URL without a new token drops the old token.
  const tokenGiven = input.token !== undefined;
  const token = tokenGiven && input.token !== "" ? (input.token ?? null) : null;
  const errors = validate(ctx, { url, token, strategy, filter });
  if (Object.keys(errors).length > 0) {
    rejectInvalid(errors, () => invalidRecord(errors, "unprocessable"));
  }
  const changes: Updateable<HooksTable> = {
    url,
    branch_filter_strategy: strategy,
    push_events_branch_filter: filter,
    updated_at: ctx.now().toISOString(),
  };
  if (tokenGiven) changes.token_sealed = token === null ? null : ctx.secrets.seal(token);
  else if (url !== hook.url) changes.token_sealed = null;
  if (input.name !== undefined) changes.name = input.name;
  if (input.description !== undefined) changes.description = input.description;
  if (input.push_events !== undefined) changes.push_events = flag(input.push_events, 1);
  if (input.tag_push_events !== undefined) changes.tag_push_events = flag(input.tag_push_events, 0);
  if (input.merge_requests_events !== undefined) {
    changes.merge_requests_events = flag(input.merge_requests_events, 0);
  }
  if (input.enable_ssl_verification !== undefined) {
    changes.enable_ssl_verification = flag(input.enable_ssl_verification, 1);
  }
  return ctx.db
    .updateTable("hooks")
    .set(changes)
    .where("id", "=", hook.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * GitLab's `destroy_conditionally!`: with `If-Unmodified-Since` older than the hook's last
 * change (compared to the second, as HTTP dates are), 412 and nothing is deleted.
 */
export async function removeHook(
  ctx: ForgeContext,
  hook: Hook,
  ifUnmodifiedSince: string | undefined,
): Promise<void> {
  if (ifUnmodifiedSince !== undefined) {
    const since = Date.parse(ifUnmodifiedSince);
    const modified = Math.floor(Date.parse(hook.updated_at) / 1000) * 1000;
    if (!Number.isNaN(since) && modified > since) throw preconditionFailed();
  }
  await ctx.db.deleteFrom("hooks").where("id", "=", hook.id).execute();
}

export interface HookEventRow {
  id: number;
  delivery_id: number;
  started_at: string;
  duration_ms: number;
  response_status: number | null;
  response_body: string | null;
  error: string | null;
  url: string | null;
  request_headers: string | null;
  webhook_uuid: string | null;
  event_name: string;
  idempotency_key: string;
  payload: string;
  state: string;
  attempts: number;
}

/** Delivery attempts of a hook, newest first, one page of them and the total. */
export async function listHookEvents(
  ctx: ForgeContext,
  hook: Hook,
  query: HookEventFilter,
  page: { offset: number; perPage: number },
): Promise<{ rows: HookEventRow[]; total: number }> {
  let base = ctx.db
    .selectFrom("hook_attempts as a")
    .innerJoin("hook_deliveries as d", "d.id", "a.delivery_id")
    .where("a.hook_id", "=", hook.id);
  const status = query.status;
  if (typeof status === "number") base = base.where("a.response_status", "=", status);
  else if (status === "successful") {
    base = base.where("a.response_status", ">=", 200).where("a.response_status", "<", 300);
  } else if (status === "client_failure") {
    base = base.where("a.response_status", ">=", 400).where("a.response_status", "<", 500);
  } else if (status === "server_failure") {
    base = base.where((eb) =>
      eb.or([eb("a.response_status", ">=", 500), eb("a.response_status", "is", null)]),
    );
  }
  const count = await base.select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirst();
  const rows = await base
    .select([
      "a.id",
      "a.delivery_id",
      "a.started_at",
      "a.duration_ms",
      "a.response_status",
      "a.response_body",
      "a.error",
      "a.url",
      "a.request_headers",
      "a.webhook_uuid",
      "d.event_name",
      "d.idempotency_key",
      "d.payload",
      "d.state",
      "d.attempts",
    ])
    .orderBy("a.id", "desc")
    .limit(page.perPage)
    .offset(page.offset)
    .execute();
  return { rows, total: Number(count?.n ?? 0) };
}
