import { objectId } from "../../lib/ids.ts";
import { refusalForHost } from "../../lib/net-guard.ts";
import { hasControlCharacters } from "../../lib/text.ts";
import type { Actor } from "../accounts/tokens.ts";
import { authorize, type Ability } from "../accounts/policies.ts";
import { recordAudit, type AuditEventInput } from "../audit/record.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import { invalidField, notFound } from "../errors.ts";
import { isAllowedHost } from "../repos/host-guard.ts";
import { findSite } from "../sites/sites.ts";
import { DEPLOY_EVENTS, HOOK_TYPES, isDeployEvent, isHookType, type HookType } from "./events.ts";
import { notificationDb, type NotificationDelivery, type NotificationHook } from "./tables.ts";

/**
 * Netlify's outgoing deploy notifications (`/api/v1/hooks`): a hook belongs to a site and
 * fires on one event. Its `data` (the receiver's URL, a JWS secret, a Slack URL that is itself
 * a credential, an e-mail address) is sealed at rest and shown back without its secrets.
 * Tenancy is the site's: another account's hook is a 404.
 */

export interface HookData {
  url?: string;
  signature_secret?: string;
  email?: string;
}

export interface HookInput {
  type?: string;
  event?: string;
  data?: Record<string, unknown>;
  disabled?: boolean;
}

const MAX_URL = 2048;
const MAX_SECRET = 512;
const MAX_EMAIL = 254;
/** One address, no display name, no list: what the SMTP envelope gets. */
const EMAIL =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
/** Deliveries a hook's log keeps. */
export const DELIVERIES_KEPT = 100;

const dataContext = (hookId: string): string => `notification_hook:${hookId}`;

export function openHookData(
  ctx: Pick<PlatformContext, "secrets">,
  hook: NotificationHook,
): HookData {
  return JSON.parse(ctx.secrets.open(hook.data_sealed, dataContext(hook.id))) as HookData;
}

/** The receiver's address as the guard sees it: a private literal needs the operator's allowance. */
function checkUrl(ctx: PlatformContext, field: string, value: unknown): string {
  if (typeof value !== "string" || value === "") throw invalidField(field, "is required");
  if (value.length > MAX_URL) throw invalidField(field, `is longer than ${MAX_URL} characters`);
  if (hasControlCharacters(value)) throw invalidField(field, "must not contain control characters");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidField(field, "is not a URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw invalidField(field, "must be an http:// or https:// URL");
  }
  if (url.username !== "" || url.password !== "") {
    throw invalidField(field, "must not carry a user name or password");
  }
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const refusal = refusalForHost(url.hostname);
  const allowed = ctx.config.notifications?.allowedPrivateHosts ?? [];
  if (refusal !== null && !isAllowedHost(allowed, url.hostname.replace(/^\[|\]$/g, ""), port)) {
    throw invalidField(
      field,
      `${refusal.message}; notifications are not sent to loopback or private networks unless the platform's administrator allows the host (SLIPWAY_ALLOW_PRIVATE_NOTIFICATION_HOSTS=${url.host})`,
    );
  }
  return value;
}

function checkData(ctx: PlatformContext, type: HookType, raw: Record<string, unknown>): HookData {
  for (const key of Object.keys(raw)) {
    const known =
      type === "email" ? ["email"] : type === "url" ? ["url", "signature_secret"] : ["url"];
    if (!known.includes(key)) {
      throw invalidField(`data.${key}`, `is not a setting of ${type} hooks (${known.join(", ")})`);
    }
  }
  if (type === "email") {
    const email = raw.email;
    if (typeof email !== "string" || email.length > MAX_EMAIL || !EMAIL.test(email)) {
      throw invalidField("data.email", "must be one e-mail address");
    }
    if (ctx.config.notifications?.smtpUrl === undefined) {
      throw invalidField(
        "type",
        "e-mail notifications need an SMTP server, and the platform's administrator has not configured one (SLIPWAY_SMTP_URL)",
      );
    }
    return { email };
  }
  const data: HookData = { url: checkUrl(ctx, "data.url", raw.url) };
  const secret = raw.signature_secret;
  if (type === "url" && secret !== undefined && secret !== null && secret !== "") {
    if (typeof secret !== "string" || secret.length > MAX_SECRET || hasControlCharacters(secret)) {
      throw invalidField(
        "data.signature_secret",
        `must be text of at most ${MAX_SECRET} characters`,
      );
    }
    data.signature_secret = secret;
  }
  return data;
}

function checkType(value: unknown): HookType {
  if (typeof value !== "string" || !isHookType(value)) {
    throw invalidField("type", `must be one of ${HOOK_TYPES.join(", ")}`);
  }
  return value;
}

function checkEvent(value: unknown): string {
  if (typeof value !== "string" || !isDeployEvent(value)) {
    throw invalidField("event", `must be one of ${DEPLOY_EVENTS.join(", ")}`);
  }
  return value;
}

export async function listHooks(
  ctx: PlatformContext,
  actor: Actor,
  siteIdOrName: string,
): Promise<NotificationHook[]> {
  const site = await findSite(ctx, actor, siteIdOrName);
  return notificationDb(ctx.db)
    .selectFrom("notification_hooks")
    .selectAll()
    .where("site_id", "=", site.id)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
}

export async function createHook(
  ctx: PlatformContext,
  actor: Actor,
  siteIdOrName: string,
  input: HookInput,
): Promise<NotificationHook> {
  const site = await findSite(ctx, actor, siteIdOrName, "update");
  const type = checkType(input.type);
  const event = checkEvent(input.event);
  const data = checkData(ctx, type, input.data ?? {});
  const id = objectId();
  const now = isoNow(ctx);
  const hook: NotificationHook = {
    id,
    site_id: site.id,
    type,
    event,
    data_sealed: ctx.secrets.seal(JSON.stringify(data), dataContext(id)),
    disabled: input.disabled === true ? 1 : 0,
    created_at: now,
    updated_at: now,
  };
  await ctx.db.transaction().execute(async (trx) => {
    await notificationDb(trx).insertInto("notification_hooks").values(hook).execute();
    await recordAudit(trx, hookAudit("create", site, hook, ["type", "event", "data", "disabled"]));
  });
  return hook;
}

/** The audit event of a change: the names of the fields it touched, never their values. */
function hookAudit(
  verb: "create" | "update" | "delete",
  site: { account_id: string; name: string },
  hook: NotificationHook,
  fields: readonly string[],
): AuditEventInput {
  return {
    action: `notification_hook.${verb}`,
    accountId: site.account_id,
    target: { type: "notification_hook", id: hook.id, name: site.name },
    fields,
  };
}

/** The hook, when the actor may `ability` its site; anything else is a 404. */
export async function findHook(
  ctx: PlatformContext,
  actor: Actor,
  hookId: string,
  ability: Ability = "read",
): Promise<NotificationHook> {
  return (await findHookAndSite(ctx, actor, hookId, ability)).hook;
}

async function findHookAndSite(
  ctx: PlatformContext,
  actor: Actor,
  hookId: string,
  ability: Ability,
): Promise<{ hook: NotificationHook; site: { account_id: string; name: string } }> {
  const row = await notificationDb(ctx.db)
    .selectFrom("notification_hooks")
    .innerJoin("sites", "sites.id", "notification_hooks.site_id")
    .selectAll("notification_hooks")
    .select(["sites.account_id", "sites.name as site_name"])
    .where("notification_hooks.id", "=", hookId.toLowerCase())
    .executeTakeFirst();
  if (!row) throw notFound("Hook");
  const { account_id: accountId, site_name: name, ...hook } = row;
  const site = { account_id: accountId, name };
  authorize(actor, ability, site, "Hook");
  return { hook, site };
}

/**
 * `PUT /hooks/:id`: what is given changes. `data` keys replace the stored ones (a secret left
 * out stays, as it is never shown; `signature_secret: ""` removes it); a new `type` takes a
 * whole new `data`.
 */
export async function updateHook(
  ctx: PlatformContext,
  actor: Actor,
  hookId: string,
  input: HookInput,
): Promise<NotificationHook> {
  const { hook, site } = await findHookAndSite(ctx, actor, hookId, "update");
  const type = input.type === undefined ? checkType(hook.type) : checkType(input.type);
  const event = input.event === undefined ? hook.event : checkEvent(input.event);
  let sealed = hook.data_sealed;
  if (input.data !== undefined || type !== hook.type) {
    const stored = type === hook.type ? openHookData(ctx, hook) : {};
    const merged: Record<string, unknown> = { ...stored, ...input.data };
    if (merged.signature_secret === "" || merged.signature_secret === null) {
      delete merged.signature_secret;
    }
    sealed = ctx.secrets.seal(JSON.stringify(checkData(ctx, type, merged)), dataContext(hook.id));
  }
  const disabled = input.disabled === undefined ? hook.disabled : input.disabled ? 1 : 0;
  const fields = [
    ...(type !== hook.type ? ["type"] : []),
    ...(event !== hook.event ? ["event"] : []),
    ...(sealed !== hook.data_sealed ? ["data"] : []),
    ...(disabled !== hook.disabled ? ["disabled"] : []),
  ];
  return ctx.db.transaction().execute(async (trx) => {
    if (fields.length > 0) await recordAudit(trx, hookAudit("update", site, hook, fields));
    return notificationDb(trx)
      .updateTable("notification_hooks")
      .set({ type, event, data_sealed: sealed, disabled, updated_at: isoNow(ctx) })
      .where("id", "=", hook.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

export async function deleteHook(
  ctx: PlatformContext,
  actor: Actor,
  hookId: string,
): Promise<void> {
  const { hook, site } = await findHookAndSite(ctx, actor, hookId, "update");
  await ctx.db.transaction().execute(async (trx) => {
    await notificationDb(trx).deleteFrom("notification_hooks").where("id", "=", hook.id).execute();
    await recordAudit(trx, hookAudit("delete", site, hook, []));
  });
}

/** A hook's delivery log, newest first (the last `DELIVERIES_KEPT`). */
export async function listDeliveries(
  ctx: PlatformContext,
  actor: Actor,
  hookId: string,
): Promise<NotificationDelivery[]> {
  const hook = await findHook(ctx, actor, hookId);
  const rows = await notificationDb(ctx.db)
    .selectFrom("notification_deliveries")
    .selectAll()
    .where("hook_id", "=", hook.id)
    .orderBy("id", "desc")
    .limit(DELIVERIES_KEPT)
    .execute();
  return rows.map((row) => ({ ...row, id: row.id ?? 0 }));
}
