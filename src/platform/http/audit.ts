import type { FastifyRequest } from "fastify";
import type { Actor } from "../accounts/tokens.ts";
import { recordAudit } from "../audit/record.ts";
import {
  currentAuditRequest,
  endAuditRequest,
  runWithAuditRequest,
  type AuditRequest,
} from "../audit/request.ts";
import type { PlatformContext } from "../context.ts";
import type { PlatformApp } from "./app.ts";

const CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Routes whose calls are not events of their own: a deploy's file and function uploads (one
 * call per file; the deploy's creation is the event), and signing in and out, which
 * `accounts/sessions.ts` records itself.
 */
const NOT_EVENTS = new Set([
  "PUT /api/v1/deploys/:deploy_id/files/*",
  "PUT /api/v1/deploys/:deploy_id/functions/:name",
  "POST /api/v1/session",
  "DELETE /api/v1/session",
]);

/** Failure reasons as the API answered them (set by the error handler's hook). */
const failures = new WeakMap<FastifyRequest, string>();

/**
 * Every state-changing `/api/v1` request runs with its audit context (source address, request
 * id, route, and the actor once authenticated), until its answer is sent. Domain code records its events in the transaction of the change;
 * a state-changing request that failed, or succeeded on a route without an event of its own, is
 * recorded here before its answer is sent, so that nothing changes or is refused unrecorded.
 */
export function registerAuditRequests(app: PlatformApp, ctx: PlatformContext): void {
  app.addHook("onRequest", (request, reply, done) => {
    // Reading requests change nothing, so record nothing: they run without the context (and
    // so, on Node 20, without async hooks; a dashboard's long-lived streams are among them).
    if (!CHANGING.has(request.method)) return done();
    const audit: AuditRequest = {
      sourceAddress: request.ip,
      requestId: request.id,
      route: `${request.method} ${request.routeOptions.url ?? ""}`,
      recorded: 0,
    };
    const end = () => endAuditRequest(audit);
    reply.raw.once("finish", end).once("close", end);
    runWithAuditRequest(audit, done);
  });
  app.addHook("onError", async (request, _reply, error) => {
    failures.set(request, error.message);
  });
  app.addHook("onSend", async (request, reply, payload) => {
    const audit = currentAuditRequest();
    if (!audit || !CHANGING.has(request.method) || NOT_EVENTS.has(audit.route ?? "")) {
      return payload;
    }
    // Nobody authenticated: an anonymous refusal is not an event of any account.
    if (!audit.actor) return payload;
    // A failed request's own events rolled back with its transaction: record the refusal.
    const failed = reply.statusCode >= 400;
    if (audit.recorded > 0 && !failed) return payload;
    const params = (request.params ?? {}) as Record<string, string | undefined>;
    const accountId = await accountOfParams(ctx, params);
    await recordAudit(ctx.db, {
      action: `api.${request.method.toLowerCase()}`,
      // Only the caller's own accounts: another's site named in a refused call stays out of its log.
      accountId:
        accountId !== null && audit.actorAccountIds?.includes(accountId) ? accountId : null,
      ...targetOfParams(params),
      fields: bodyFieldNames(request.body),
      result: failed ? "failure" : "success",
      ...(failed ? { reason: failures.get(request) ?? `HTTP ${reply.statusCode}` } : {}),
    });
    return payload;
  });
}

/** Marks the request's audit context with its authenticated caller (`http/auth.ts`). */
export function noteAuditActor(actor: Actor, via: "token" | "session"): void {
  const audit = currentAuditRequest();
  if (!audit) return;
  audit.actor = {
    id: actor.user.id,
    name: actor.user.full_name,
    email: actor.user.email,
    via,
    tokenId: via === "token" ? actor.tokenId : null,
  };
  audit.actorAccountIds = actor.memberships.map((m) => m.accountId);
}

/** The top-level names of a JSON body: which fields a request meant to change, never values. */
function bodyFieldNames(body: unknown): string[] {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return [];
  return Object.keys(body).slice(0, 50);
}

function targetOfParams(params: Record<string, string | undefined>) {
  if (params.deploy_id) return { target: { type: "deploy", id: params.deploy_id } };
  if (params.site_id) return { target: { type: "site", id: params.site_id } };
  return {};
}

/** The account of the deploy, site or account a route names, when there is one. */
async function accountOfParams(
  ctx: PlatformContext,
  params: Record<string, string | undefined>,
): Promise<string | null> {
  if (params.deploy_id) {
    const deploy = await ctx.db
      .selectFrom("deploys")
      .innerJoin("sites", "sites.id", "deploys.site_id")
      .select("sites.account_id")
      .where("deploys.id", "=", params.deploy_id)
      .executeTakeFirst();
    if (deploy) return deploy.account_id;
  }
  if (params.site_id) {
    const site = await ctx.db
      .selectFrom("sites")
      .select("account_id")
      .where((eb) => eb.or([eb("id", "=", params.site_id!), eb("name", "=", params.site_id!)]))
      .executeTakeFirst();
    if (site) return site.account_id;
  }
  if (params.account_id) {
    const account = await ctx.db
      .selectFrom("accounts")
      .select("id")
      .where((eb) =>
        eb.or([eb("id", "=", params.account_id!), eb("slug", "=", params.account_id!)]),
      )
      .executeTakeFirst();
    if (account) return account.id;
  }
  return null;
}
