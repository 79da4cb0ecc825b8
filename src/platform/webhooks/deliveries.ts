import { objectId, UUID } from "../../lib/ids.ts";
import type { Actor } from "../accounts/tokens.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { Kysely } from "kysely";
import type { PlatformDatabase, WebhookDelivery } from "../db/schema.ts";
import { notFound } from "../errors.ts";
import { findSite } from "../sites/sites.ts";
import { deliveryKey, identifySender, type RequestHeaders, type Sender } from "./signatures.ts";

/**
 * The record of every webhook delivery a known site received: what came, what Slipway did and
 * why (`webhook_deliveries`), capped per site, read by its members.
 */

/** How many deliveries each site keeps (the newest); older ones are pruned as new ones come. */
export const DELIVERIES_KEPT_PER_SITE = 1000;

export type Draft = Pick<
  WebhookDelivery,
  | "provider"
  | "event"
  | "delivery_key"
  | "ref"
  | "sha"
  | "outcome"
  | "reason"
  | "status_code"
  | "build_id"
  | "duplicate_of"
>;

/** A rejected draft naming the sender; the provider's delivery id is recorded whatever the outcome. */
export function baseDraft(sender: Sender | undefined, headers: RequestHeaders): Draft {
  return {
    provider: sender?.provider ?? null,
    event: sender?.event ?? null,
    // Only an authenticated delivery that builds reserves it (the unique index covers `built`
    // and `coalesced` only).
    delivery_key: sender ? deliveryKey(sender.provider, headers) : null,
    ref: null,
    sha: null,
    outcome: "rejected",
    reason: "",
    status_code: 400,
    build_id: null,
    duplicate_of: null,
  };
}

const cap = (value: string | null, max: number): string | null =>
  value === null || value.length <= max ? value : `${value.slice(0, max - 1)}…`;

/** Stores one delivery (fields capped) and prunes the site's oldest beyond the limit. */
export async function recordDelivery(
  ctx: PlatformContext,
  siteId: string,
  id: string,
  draft: Draft,
): Promise<WebhookDelivery> {
  const row = deliveryRow(ctx, siteId, id, draft);
  // One commit for the row and the prune.
  await ctx.db.transaction().execute((trx) => storeDelivery(trx, row));
  deliveryRecorded(ctx, row);
  return row;
}

/** The row a draft becomes (fields capped). */
export function deliveryRow(
  ctx: PlatformContext,
  siteId: string,
  id: string,
  draft: Draft,
): WebhookDelivery {
  return {
    id,
    site_id: siteId,
    ...draft,
    event: cap(draft.event, 100),
    ref: cap(draft.ref, 255),
    reason: cap(draft.reason, 1000) ?? "",
    received_at: isoNow(ctx),
  };
}

/**
 * Inserts a delivery and prunes the site's oldest beyond the limit, in the caller's
 * transaction (the intake stores a delivery that built in the build's own transaction).
 */
export async function storeDelivery(
  db: Kysely<PlatformDatabase>,
  row: WebhookDelivery,
): Promise<void> {
  await db.insertInto("webhook_deliveries").values(row).execute();
  await pruneDeliveries(db, row.site_id);
}

/** Counts a stored delivery (after its commit). */
export function deliveryRecorded(ctx: PlatformContext, row: WebhookDelivery): void {
  ctx.metrics?.webhookDelivery(row.provider, row.outcome);
}

async function pruneDeliveries(db: Kysely<PlatformDatabase>, siteId: string): Promise<void> {
  const oldestKept = await db
    .selectFrom("webhook_deliveries")
    .select("received_at")
    .where("site_id", "=", siteId)
    .orderBy("received_at", "desc")
    .offset(DELIVERIES_KEPT_PER_SITE - 1)
    .limit(1)
    .executeTakeFirst();
  if (!oldestKept) return;
  await db
    .deleteFrom("webhook_deliveries")
    .where("site_id", "=", siteId)
    .where("received_at", "<", oldestKept.received_at)
    .execute();
}

/** A site's deliveries, newest first, for its members. */
export async function listDeliveries(
  ctx: PlatformContext,
  actor: Actor,
  siteIdOrName: string,
  page: { offset: number; limit: number },
): Promise<{ deliveries: WebhookDelivery[]; total: number }> {
  const site = await findSite(ctx, actor, siteIdOrName);
  const base = ctx.db.selectFrom("webhook_deliveries").where("site_id", "=", site.id);
  const { n } = await base
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  const deliveries = await base
    .selectAll()
    .orderBy("received_at", "desc")
    .orderBy("id", "desc")
    .limit(page.limit)
    .offset(page.offset)
    .execute();
  return { deliveries, total: Number(n) };
}

export async function findDelivery(
  ctx: PlatformContext,
  actor: Actor,
  siteIdOrName: string,
  deliveryId: string,
): Promise<WebhookDelivery> {
  const site = await findSite(ctx, actor, siteIdOrName);
  const delivery = await ctx.db
    .selectFrom("webhook_deliveries")
    .selectAll()
    .where("site_id", "=", site.id)
    .where("id", "=", deliveryId.toLowerCase())
    .executeTakeFirst();
  if (!delivery) throw notFound("Webhook delivery");
  return delivery;
}

/**
 * A request whose body could not even be read (too large, a broken Content-Type or length):
 * recorded as rejected against the site, when the site exists (nothing is recorded otherwise).
 */
export async function recordUnreadableDelivery(
  ctx: PlatformContext,
  siteId: string,
  headers: RequestHeaders,
  statusCode: number,
  reason: string,
): Promise<void> {
  const id = siteId.toLowerCase();
  if (!UUID.test(id)) return;
  const site = await ctx.db
    .selectFrom("sites")
    .select("id")
    .where("id", "=", id)
    .executeTakeFirst();
  if (!site) return;
  const deliveryId = objectId();
  await recordDelivery(ctx, site.id, deliveryId, {
    ...baseDraft(identifySender(headers), headers),
    reason,
    status_code: statusCode,
  });
  ctx.log.info({ siteId: site.id, deliveryId, reason }, "webhook delivery");
}
