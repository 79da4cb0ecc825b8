import { isRecord } from "../../lib/json.ts";
import type { PlatformContext } from "../context.ts";
import type { Deploy } from "../db/schema.ts";
import { leaseFence, type LeasedJob } from "../jobs/queue.ts";
import type { JobHandler, JobResult } from "../jobs/workers.ts";
import { EVENT_TITLES, isDeployEvent, type DeployEvent } from "./events.ts";
import { DELIVERIES_KEPT, openHookData } from "./hooks.ts";
import { enqueueAttempt, type NotificationJob } from "./notify.ts";
import { postJson, sendMail, signBody, type SendResult } from "./send.ts";
import { notificationDb, type NotificationHook } from "./tables.ts";

/**
 * The notification job: one delivery attempt of one hook. Each attempt is recorded in the
 * hook's delivery log; a failure that another attempt may cure queues the next attempt as a new
 * job after an exponential backoff (the first `retryDelayMs`, doubling, at most an hour), in the
 * same transaction as its record and fenced by the job's lease, until `MAX_ATTEMPTS`. Receivers
 * must expect a notification twice (a worker lost after sending, before recording).
 */

export const MAX_ATTEMPTS = 5;
const DEFAULT_RETRY_DELAY_MS = 30_000;
const MAX_RETRY_DELAY_MS = 3_600_000;

/** The fields of the API's deploy that messages quote. */
export interface PresentedDeploy {
  id: string;
  name: string;
  state: string;
  admin_url: string;
  deploy_ssl_url: string;
  branch: string | null;
  context: string;
  commit_ref: string | null;
  error_message: string | null;
}

export interface NotificationHandlerOptions {
  /** The deploy exactly as `GET /deploys/:id` presents it (the API's presenter, from server.ts). */
  presentDeploy: (deploy: Deploy, siteName: string) => PresentedDeploy & Record<string, unknown>;
}

export function createNotificationHandler(
  ctx: PlatformContext,
  options: NotificationHandlerOptions,
): JobHandler {
  return { maxRunMs: 2 * 60_000, run: (job) => deliver(ctx, options, job) };
}

function readJob(payload: unknown): NotificationJob | undefined {
  if (!isRecord(payload) || !isRecord(payload.deploy)) return undefined;
  const { hookId, event, attempt } = payload;
  if (typeof hookId !== "string" || typeof event !== "string" || !isDeployEvent(event)) {
    return undefined;
  }
  if (typeof attempt !== "number") return undefined;
  return { hookId, event, attempt, deploy: payload.deploy as unknown as Deploy };
}

async function deliver(
  ctx: PlatformContext,
  options: NotificationHandlerOptions,
  leased: LeasedJob,
): Promise<JobResult> {
  const job = readJob(leased.payload);
  if (job === undefined) return "done";
  const db = notificationDb(ctx.db);
  const hook = await db
    .selectFrom("notification_hooks")
    .selectAll()
    .where("id", "=", job.hookId)
    .executeTakeFirst();
  if (!hook || hook.disabled === 1) return "done";
  const site = await ctx.db
    .selectFrom("sites")
    .select("name")
    .where("id", "=", hook.site_id)
    .executeTakeFirst();
  if (!site) return "done";
  const presented = options.presentDeploy(job.deploy, site.name);
  const result = await send(ctx, hook, job.event, presented);
  const retry = !result.ok && result.retry && job.attempt < MAX_ATTEMPTS;
  const base = ctx.config.notifications?.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  const delay = Math.min(base * 2 ** (job.attempt - 1), MAX_RETRY_DELAY_MS);
  const now = ctx.now();
  const nextAt = retry ? new Date(now.getTime() + delay) : undefined;
  await ctx.db.transaction().execute(async (trx) => {
    // A worker that lost its lease leaves the record and the next attempt to the new holder.
    if (!(await ctx.jobs.holds(leaseFence(leased), trx))) return;
    const tdb = notificationDb(trx);
    await tdb
      .insertInto("notification_deliveries")
      .values({
        id: undefined,
        hook_id: hook.id,
        deploy_id: job.deploy.id,
        event: job.event,
        attempt: job.attempt,
        outcome: result.ok ? "delivered" : retry ? "retrying" : "failed",
        status_code: result.statusCode,
        error: result.error,
        next_attempt_at: nextAt?.toISOString() ?? null,
        created_at: now.toISOString(),
      })
      .execute();
    if (nextAt !== undefined) {
      await enqueueAttempt(ctx, trx, { ...job, attempt: job.attempt + 1 }, nextAt);
    }
    const kept = tdb
      .selectFrom("notification_deliveries")
      .select("id")
      .where("hook_id", "=", hook.id)
      .orderBy("id", "desc")
      .limit(DELIVERIES_KEPT);
    await tdb
      .deleteFrom("notification_deliveries")
      .where("hook_id", "=", hook.id)
      .where("id", "not in", kept)
      .execute();
  });
  // The hook's address is a credential (Slack) or may carry one: it is not logged.
  ctx.log[result.ok ? "info" : "warn"](
    {
      hookId: hook.id,
      type: hook.type,
      event: job.event,
      deployId: job.deploy.id,
      attempt: job.attempt,
      statusCode: result.statusCode,
      error: result.error,
      retryAt: nextAt?.toISOString(),
    },
    result.ok ? "deploy notification delivered" : "deploy notification failed",
  );
  return "done";
}

async function send(
  ctx: PlatformContext,
  hook: NotificationHook,
  event: DeployEvent,
  deploy: PresentedDeploy & Record<string, unknown>,
): Promise<SendResult> {
  const data = openHookData(ctx, hook);
  const allowedPrivateHosts = ctx.config.notifications?.allowedPrivateHosts ?? [];
  const page = `${deploy.admin_url}/deploys/${deploy.id}`;
  if (hook.type === "url" && data.url !== undefined) {
    const body = JSON.stringify(deploy);
    const headers: Record<string, string> = { "x-slipway-event": event };
    if (data.signature_secret !== undefined) {
      headers["x-webhook-signature"] = await signBody(body, data.signature_secret);
    }
    return postJson({
      url: data.url,
      body,
      headers,
      resolveHost: ctx.resolveHost,
      allowedPrivateHosts,
    });
  }
  if (hook.type === "slack" && data.url !== undefined) {
    return postJson({
      url: data.url,
      body: JSON.stringify({ text: slackText(event, deploy, page) }),
      headers: {},
      resolveHost: ctx.resolveHost,
      allowedPrivateHosts,
    });
  }
  const smtpUrl = ctx.config.notifications?.smtpUrl;
  if (hook.type === "email" && data.email !== undefined && smtpUrl !== undefined) {
    return sendMail({
      smtpUrl,
      from: ctx.config.notifications?.smtpFrom ?? `slipway@${ctx.config.sitesDomain}`,
      to: data.email,
      subject: `[Slipway] ${EVENT_TITLES[event]} for ${deploy.name}`,
      text: mailText(event, deploy, page),
    });
  }
  return {
    ok: false,
    statusCode: null,
    error:
      hook.type === "email"
        ? "e-mail notifications need an SMTP server (SLIPWAY_SMTP_URL), and none is configured"
        : `the hook's type ${hook.type} has nothing to send to`,
    retry: false,
  };
}

/** What the deploy is: its context, branch and commit, in a few words. */
function describe(deploy: PresentedDeploy): string {
  const commit = deploy.commit_ref === null ? "" : `@${deploy.commit_ref.slice(0, 7)}`;
  return `${deploy.context}${deploy.branch === null ? "" : `, ${deploy.branch}${commit}`}`;
}

/** Slack's mrkdwn reserves `&`, `<` and `>`. */
export const slackEscape = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function slackText(event: DeployEvent, deploy: PresentedDeploy, page: string): string {
  const lines = [
    `${EVENT_TITLES[event]} for *${slackEscape(deploy.name)}* (${slackEscape(describe(deploy))}): <${page}|deploy ${deploy.id}>`,
  ];
  if (event === "deploy_succeeded")
    lines.push(`<${deploy.deploy_ssl_url}|${deploy.deploy_ssl_url}>`);
  if (event === "deploy_failed" && deploy.error_message !== null) {
    lines.push(slackEscape(deploy.error_message.split("\n")[0] ?? ""));
  }
  return lines.join("\n");
}

function mailText(event: DeployEvent, deploy: PresentedDeploy, page: string): string {
  const lines = [
    `${EVENT_TITLES[event]} for ${deploy.name} (${describe(deploy)}).`,
    "",
    `Deploy: ${page}`,
  ];
  if (event === "deploy_succeeded") lines.push(`Preview: ${deploy.deploy_ssl_url}`);
  if (deploy.error_message !== null && event === "deploy_failed") {
    lines.push("", deploy.error_message);
  }
  return `${lines.join("\n")}\n`;
}
