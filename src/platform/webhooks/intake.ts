import { commitsDurable, isUniqueViolation } from "../../lib/database.ts";
import { objectId, UUID } from "../../lib/ids.ts";
import {
  requestBuild,
  requestBuildInTransaction,
  type BuildRequestResult,
} from "../builds/service.ts";
import type { PlatformContext } from "../context.ts";
import { buildRequest, started, type Started } from "./push-builds.ts";
import { WEBHOOK_DELIVERIES_KEY } from "../db/partial-indexes.ts";
import type { DeliveryOutcome, Site, WebhookDelivery } from "../db/schema.ts";
import { notFound, PlatformError } from "../errors.ts";
import { readRepoSettings, type RepoSettings } from "../sites/repo-settings.ts";
import { webhookSecret } from "./opened-secrets.ts";
import { handleReviewEvent, type PreviewDecision } from "../previews/previews.ts";
import { previewFetchRef, reviewName } from "../sites/review-refs.ts";
import { parseEvent, type WebhookEvent } from "./events.ts";
import { onSqlite, sqliteIntake, storeRecord } from "./sqlite-intake.ts";
import { MalformedPayload, type RefUpdate } from "./payloads.ts";
import type { ReviewEvent } from "../previews/review-event.ts";
import {
  header,
  identifySender,
  secretHint,
  verifySender,
  type RequestHeaders,
  type Sender,
} from "./signatures.ts";
import {
  baseDraft,
  deliveryRecorded,
  deliveryRow,
  storeDelivery,
  type Draft,
} from "./deliveries.ts";

/**
 * The intake of a site's git webhook (`POST /webhooks/sites/:site_id`). Every request to a known
 * site is recorded in `webhook_deliveries` with its outcome and a reason a person can act on,
 * before it is answered; the HTTP status tells the provider the truth:
 *
 * - 202 `built` (a build started: `{build_id, deploy_id}`; for a pull/merge request, a
 *   deploy-preview build of its head — see `previews/service.ts`);
 * - 200 `coalesced` (that commit is already queued or built), `duplicate` (a redelivery of a
 *   delivery that built), `ignored` (ping, tag, deleted branch, branch not allowed, builds stopped;
 *   a request waiting for approval, with its `deploy_id`; a request closed or merged);
 * - 401 `rejected` (missing or bad signature), 400 `rejected` (malformed payload, unknown sender),
 *   409 `ignored` (the site is not linked: nothing to authenticate against, so nothing to accept);
 * - 503 `failed` only when the platform itself could not queue the build (providers retry).
 *
 * Nothing from the payload chooses the secret or the repository: the site in the URL does.
 */

export interface IncomingDelivery {
  siteId: string;
  headers: RequestHeaders;
  /** The raw body, exactly as received (signatures are over these bytes). */
  body: Buffer | undefined;
}

export interface DeliveryResponse {
  statusCode: number;
  /** For a refusal (4xx/5xx): what to change at the provider, added to the error's message. */
  hint?: string;
  body: {
    delivery_id: string;
    outcome: DeliveryOutcome;
    reason: string;
    build_id?: string;
    deploy_id?: string;
    duplicate_of?: string;
  };
}

/** The site a webhook URL names, or 404 (nothing is recorded for an unknown site). */
export async function siteForWebhook(ctx: PlatformContext, siteId: string): Promise<Site> {
  const id = siteId.toLowerCase();
  const site = UUID.test(id)
    ? await onSqlite(
        ctx,
        (intake) => intake.site(id),
        () => ctx.db.selectFrom("sites").selectAll().where("id", "=", id).executeTakeFirst(),
      )
    : undefined;
  if (!site) throw notFound("Site");
  return site;
}

/** Receives a delivery at a site's own URL: a success, or the platform's error (recorded first). */
export async function receiveDelivery(
  ctx: PlatformContext,
  incoming: IncomingDelivery,
): Promise<DeliveryResponse> {
  return answer(await checkAndProcess(ctx, incoming));
}

/** Throws a recorded refusal as the platform's error: its reason, delivery id and hint. */
export function answer(response: DeliveryResponse): DeliveryResponse {
  if (response.statusCode < 400) return response;
  const { reason, delivery_id: id } = response.body;
  const hint = response.hint === undefined ? "" : `. ${response.hint}`;
  throw PlatformError.withStatus(response.statusCode, `${reason} (delivery ${id})${hint}`);
}

async function checkAndProcess(
  ctx: PlatformContext,
  incoming: IncomingDelivery,
): Promise<DeliveryResponse> {
  const site = await siteForWebhook(ctx, incoming.siteId);
  const id = objectId();
  const sender = identifySender(incoming.headers);
  const base = baseDraft(sender, incoming.headers);

  const repo = readRepoSettings(site);
  const secret = webhookSecret(ctx, site);
  if (repo === null || secret === null) return notLinked(ctx, site, id, base);
  if (!sender) {
    return finish(ctx, site, id, {
      ...base,
      reason:
        "rejected: unknown sender: no X-Gitlab-Event, X-GitHub-Event, X-Gitea-Event, X-Forgejo-Event or X-Event-Key header",
    });
  }
  const body = incoming.body ?? Buffer.alloc(0);
  const verdict = verifySender(sender.provider, incoming.headers, body, secret);
  if (!verdict.ok) {
    return finish(
      ctx,
      site,
      id,
      {
        ...base,
        reason: `rejected: ${verdict.missing ? "missing" : "bad"} signature: ${verdict.detail}`,
        status_code: 401,
      },
      secretHint(sender.provider),
    );
  }
  return processAuthentic(ctx, site, id, base, repo, sender, incoming.headers, body);
}

/** A delivery whose signature was already checked elsewhere (a GitHub App's webhook). */
export interface AuthenticDelivery {
  headers: RequestHeaders;
  body: Buffer;
  sender: Sender;
}

/**
 * The per-site processing of a delivery authenticated by someone else than the site's own
 * secret — the GitHub App intake, which checked the App's secret and matched the site: recorded
 * exactly as a delivery to the site's own URL would be after its signature check. Refusals are
 * returned (status >= 400), not thrown: one delivery may reach several sites.
 */
export async function receiveAuthenticDelivery(
  ctx: PlatformContext,
  site: Site,
  delivery: AuthenticDelivery,
): Promise<DeliveryResponse> {
  const id = objectId();
  const base = baseDraft(delivery.sender, delivery.headers);
  const repo = readRepoSettings(site);
  if (repo === null) return notLinked(ctx, site, id, base);
  return processAuthentic(
    ctx,
    site,
    id,
    base,
    repo,
    delivery.sender,
    delivery.headers,
    delivery.body,
  );
}

const notLinked = (ctx: PlatformContext, site: Site, id: string, base: Draft) =>
  finish(ctx, site, id, {
    ...base,
    outcome: "ignored",
    reason: "ignored: site is not linked to a repository",
    status_code: 409,
  });

/** Everything after authentication: dedupe, parse, then ping, push or pull/merge request. */
async function processAuthentic(
  ctx: PlatformContext,
  site: Site,
  id: string,
  authentic: Draft,
  repo: RepoSettings,
  sender: Sender,
  headers: RequestHeaders,
  body: Buffer,
): Promise<DeliveryResponse> {
  // Authenticated from here on: the provider's delivery id can be trusted for dedupe.
  const key = authentic.delivery_key;
  if (key !== null) {
    const original = await findBuiltDelivery(ctx, site.id, key);
    if (original) return finish(ctx, site, id, duplicateOf(authentic, original));
  }

  let event: WebhookEvent;
  try {
    event = parseEvent(sender.provider, sender.event, header(headers, "content-type"), body);
  } catch (error) {
    if (!(error instanceof MalformedPayload)) throw error;
    return finish(ctx, site, id, {
      ...authentic,
      reason: `rejected: malformed payload: ${error.message}`,
      status_code: 400,
    });
  }

  if (event.type === "ping") {
    return finish(ctx, site, id, {
      ...authentic,
      outcome: "ignored",
      reason: "ignored: ping",
      status_code: 200,
    });
  }
  if (event.type === "other") {
    return finish(ctx, site, id, {
      ...authentic,
      outcome: "ignored",
      reason: `ignored: ${JSON.stringify(sender.event)} is not a push event`,
      status_code: 200,
    });
  }
  if (event.type === "review") {
    return reviewDelivery(ctx, site, id, authentic, repo, sender, event.review);
  }

  const allowed = repo.allowedBranches.length > 0 ? repo.allowedBranches : [repo.branch];
  const decisions = event.updates.map((update) => ({
    update,
    ignored: ignoreReason(update, repo.stopBuilds, allowed),
  }));
  const buildable = decisions.filter((d) => d.ignored === null).map((d) => d.update);
  if (buildable.length === 0) {
    const first = decisions[0];
    return finish(ctx, site, id, {
      ...authentic,
      ref: first?.update.ref.slice(0, 255) ?? null,
      sha: first?.update.after ?? null,
      outcome: "ignored",
      reason: first?.ignored ?? "ignored: the push changed no branch",
      status_code: 200,
    });
  }
  return build(ctx, site, id, authentic, buildable, sender);
}

/** Why a ref update builds nothing, or null when it builds. */
function ignoreReason(
  update: RefUpdate,
  stopBuilds: boolean,
  allowed: readonly string[],
): string | null {
  if (update.kind === "tag") return "ignored: tag push";
  if (update.kind === "other") {
    return `ignored: ref ${JSON.stringify(update.ref.slice(0, 80))} is not a branch`;
  }
  if (update.deleted) return "ignored: branch deleted";
  if (stopBuilds) return "ignored: site has stop_builds set";
  if (!allowed.includes(update.name)) {
    return `ignored: branch ${JSON.stringify(update.name)} is not in allowed_branches [${allowed.join(", ")}]`;
  }
  return null;
}

async function build(
  ctx: PlatformContext,
  site: Site,
  id: string,
  authentic: Draft,
  updates: readonly RefUpdate[],
  sender: Sender,
): Promise<DeliveryResponse> {
  if (updates.length === 1) return buildOne(ctx, site, id, authentic, updates[0]!, sender);
  const builds: Started[] = [];
  const failures: Array<{ update: RefUpdate; reason: string; status: number }> = [];
  for (const update of updates) {
    try {
      builds.push(started(update, await requestBuild(ctx, buildRequest(site, update, id))));
    } catch (error) {
      failures.push({ update, ...requestFailure(ctx, site, id, error) });
    }
  }

  const first = builds[0];
  if (first === undefined) {
    const failure = failures[0]!;
    return finish(ctx, site, id, failedDraft(authentic, failure.update, failure));
  }
  const others = [
    ...builds.slice(1).map((s) => `${JSON.stringify(s.update.name)} → build ${s.buildId}`),
    ...failures.map((f) => `${JSON.stringify(f.update.name)} failed: ${f.reason}`),
  ];
  const draft = builtDraft(authentic, first, others);
  return finishBuilt(ctx, site, id, authentic, draft, first.deployId, sender);
}

/**
 * A push of one branch, nearly every push: the build request and the delivery's record commit
 * together (one commit, one sync), so a delivery that built is never left unrecorded. A
 * redelivery racing its original loses on the delivery id's unique index, and its whole
 * transaction (the build request, coalesced with the original's anyway) rolls back.
 */
async function buildOne(
  ctx: PlatformContext,
  site: Site,
  id: string,
  authentic: Draft,
  update: RefUpdate,
  sender: Sender,
): Promise<DeliveryResponse> {
  let stored: { row: WebhookDelivery; deployId: string; created: boolean };
  const request = buildRequest(site, update, id);
  const record = (result: BuildRequestResult) =>
    deliveryRow(ctx, site.id, id, builtDraft(authentic, started(update, result), []));
  try {
    const fast = await sqliteIntake(ctx)?.buildAndRecord(ctx, request, record);
    stored = fast
      ? { row: fast.row, deployId: fast.result.deploy.id, created: !fast.result.coalescedWith }
      : await ctx.db.transaction().execute(async (trx) => {
          const result = await requestBuildInTransaction(ctx, trx, request);
          const row = record(result);
          await storeDelivery(trx, row);
          return { row, deployId: result.deploy.id, created: result.coalescedWith === undefined };
        });
  } catch (error) {
    const key = authentic.delivery_key;
    const original =
      isUniqueViolation(error) && key !== null
        ? await findBuiltDelivery(ctx, site.id, key)
        : undefined;
    if (original) {
      ctx.log.debug({ siteId: site.id, provider: sender.provider }, "concurrent redelivery");
      return finish(ctx, site, id, duplicateOf(authentic, original));
    }
    const failure = requestFailure(ctx, site, id, error);
    return finish(ctx, site, id, failedDraft(authentic, update, failure));
  }
  if (stored.created) ctx.jobs.wake();
  deliveryRecorded(ctx, stored.row);
  return describe(ctx, site, stored.row, undefined, stored.deployId);
}

/** Why a build request failed, in the words (and status) the delivery records. */
function requestFailure(
  ctx: PlatformContext,
  site: Site,
  id: string,
  error: unknown,
): { reason: string; status: number } {
  const known = error instanceof PlatformError && error.statusCode < 500;
  if (!known) {
    ctx.log.error({ err: error, siteId: site.id, deliveryId: id }, "webhook build request failed");
  }
  return {
    reason: known
      ? error.message
      : "the build could not be queued (an internal error, logged); the provider may redeliver",
    status: known ? error.statusCode : 503,
  };
}

const failedDraft = (
  authentic: Draft,
  update: RefUpdate,
  failure: { reason: string; status: number },
): Draft => ({
  ...authentic,
  ref: update.ref,
  sha: update.after,
  outcome: "failed",
  reason: `failed: ${failure.reason}`,
  status_code: failure.status,
});

/** The record of a delivery that started (or joined) `first`; `others`: its other branches. */
function builtDraft(authentic: Draft, first: Started, others: readonly string[]): Draft {
  const also = others.length > 0 ? `; also ${others.join(", ")}` : "";
  return {
    ...authentic,
    ref: first.update.ref,
    sha: first.update.after,
    build_id: first.buildId,
    ...(first.coalesced
      ? {
          outcome: "coalesced" as const,
          reason: `coalesced with build ${first.buildId}${also}`,
          status_code: 200,
        }
      : {
          outcome: "built" as const,
          reason: `built: build ${first.buildId} of branch ${JSON.stringify(first.update.name)} at ${first.update.after?.slice(0, 12) ?? "its head"}${also}`,
          status_code: 202,
        }),
  };
}

/** Records a delivery that started (or joined) a build, which reserves its delivery id. */
async function finishBuilt(
  ctx: PlatformContext,
  site: Site,
  id: string,
  authentic: Draft,
  draft: Draft,
  deployId: string,
  sender: Sender,
): Promise<DeliveryResponse> {
  try {
    return await finish(ctx, site, id, draft, undefined, deployId);
  } catch (error) {
    // The same delivery id won a race in a concurrent request: this one is its duplicate (and
    // its build request was coalesced with that delivery's build: the same commit).
    if (!isUniqueViolation(error) || authentic.delivery_key === null) throw error;
    const original = await findBuiltDelivery(ctx, site.id, authentic.delivery_key);
    if (!original) throw error;
    ctx.log.debug({ siteId: site.id, provider: sender.provider }, "concurrent redelivery");
    return finish(ctx, site, id, duplicateOf(authentic, original));
  }
}

/**
 * A pull/merge request event: a preview build of its head, a preview waiting for approval, its
 * deploys marked closed or merged, or nothing (with the reason). See `previews/service.ts`.
 */
async function reviewDelivery(
  ctx: PlatformContext,
  site: Site,
  id: string,
  authentic: Draft,
  repo: RepoSettings,
  sender: Sender,
  review: ReviewEvent,
): Promise<DeliveryResponse> {
  const name = reviewName(sender.provider, review.number);
  const shortHead = review.head?.slice(0, 12) ?? "its head";
  const base: Draft = {
    ...authentic,
    ref:
      previewFetchRef(sender.provider, review.number) ??
      (review.headBranch === null ? null : `refs/heads/${review.headBranch}`),
    sha: review.head,
    outcome: "ignored",
    status_code: 200,
  };
  let decision: PreviewDecision;
  try {
    decision = await handleReviewEvent(ctx, {
      site,
      repo,
      provider: sender.provider,
      review,
      deliveryId: id,
    });
  } catch (error) {
    const known = error instanceof PlatformError && error.statusCode < 500;
    if (!known) {
      ctx.log.error({ err: error, siteId: site.id, deliveryId: id }, "preview request failed");
    }
    return finish(ctx, site, id, {
      ...base,
      outcome: "failed",
      reason: `failed: ${known ? error.message : "the preview could not be queued (an internal error, logged); the provider may redeliver"}`,
      status_code: known ? error.statusCode : 503,
    });
  }
  switch (decision.kind) {
    case "ignored":
      return finish(ctx, site, id, { ...base, reason: decision.reason });
    case "marked":
      return finish(ctx, site, id, {
        ...base,
        reason:
          decision.state === "open"
            ? `reopened: ${name}`
            : `${decision.state}: ${name} was ${decision.state}; its ${decision.count} preview deploy(s) stay at their URLs, marked ${decision.state}`,
      });
    case "pending": {
      const { deploy } = decision;
      const reason =
        deploy.state === "pending_review"
          ? `waiting for approval: ${name} comes ${review.untrusted ?? "from an untrusted source"}; ${decision.coalesced ? "already recorded as" : "recorded as"} deploy ${deploy.id} at ${shortHead}, approve it with POST /api/v1/deploys/${deploy.id}/approve`
          : `ignored: ${name} at ${shortHead} is already deploy ${deploy.id} (${deploy.state})`;
      return finish(ctx, site, id, { ...base, reason }, undefined, deploy.id);
    }
    case "built": {
      const { result } = decision;
      const buildId = result.coalescedWith ?? result.build.id;
      const draft: Draft = {
        ...base,
        build_id: buildId,
        ...(result.coalescedWith !== undefined
          ? {
              outcome: "coalesced" as const,
              reason: `coalesced with build ${buildId} (the preview of ${name} at ${shortHead})`,
            }
          : {
              outcome: "built" as const,
              reason: `built: preview build ${buildId} for ${name} at ${shortHead}`,
              status_code: 202,
            }),
      };
      return finishBuilt(ctx, site, id, authentic, draft, result.deploy.id, sender);
    }
  }
}

function duplicateOf(authentic: Draft, original: WebhookDelivery): Draft {
  return {
    ...authentic,
    ref: original.ref,
    sha: original.sha,
    outcome: "duplicate",
    reason: `duplicate of delivery ${original.id}`,
    status_code: 200,
    build_id: original.build_id,
    duplicate_of: original.id,
  };
}

async function findBuiltDelivery(
  ctx: PlatformContext,
  siteId: string,
  key: string,
): Promise<WebhookDelivery | undefined> {
  return onSqlite(
    ctx,
    (intake) => intake.builtDelivery(siteId, key),
    () =>
      ctx.db
        .selectFrom("webhook_deliveries")
        .selectAll()
        .where("site_id", "=", siteId)
        .where("delivery_key", "=", key)
        // Literal: the condition of the unique index `webhook_deliveries_key`.
        .where(WEBHOOK_DELIVERIES_KEY.where)
        .orderBy("received_at")
        .executeTakeFirst(),
  );
}

/**
 * Records the delivery (durably, for a success), then describes it: a success, or a refusal
 * (status >= 400) whose message adds `hint`, what to change at the provider (see `answer`).
 */
async function finish(
  ctx: PlatformContext,
  site: Site,
  id: string,
  draft: Draft,
  hint?: string,
  deployId?: string,
): Promise<DeliveryResponse> {
  return describe(ctx, site, await storeRecord(ctx, site.id, id, draft), hint, deployId);
}

/** A recorded delivery's answer, once its record (and build) are durable when it is a success. */
async function describe(
  ctx: PlatformContext,
  site: Site,
  row: WebhookDelivery,
  hint?: string,
  deployId?: string,
): Promise<DeliveryResponse> {
  // A 2xx tells the provider not to send it again: the build it queued and this record must
  // survive a power cut first (one shared WAL sync for the deliveries committed meanwhile).
  if (row.status_code < 400) await commitsDurable(ctx.db);
  // Accepted deliveries are in `webhook_deliveries` (and their builds in the log): a line each
  // at info cost ~3% of the platform's CPU in bench/webhook-intake.ts. Refusals stay at info.
  ctx.log[row.status_code < 400 ? "debug" : "info"](
    {
      siteId: site.id,
      deliveryId: row.id,
      provider: row.provider,
      event: row.event,
      outcome: row.outcome,
      reason: row.reason,
      buildId: row.build_id,
    },
    "webhook delivery",
  );
  return {
    statusCode: row.status_code,
    ...(hint === undefined ? {} : { hint }),
    body: {
      delivery_id: row.id,
      outcome: row.outcome,
      reason: row.reason,
      ...(row.build_id === null ? {} : { build_id: row.build_id }),
      ...(deployId === undefined ? {} : { deploy_id: deployId }),
      ...(row.duplicate_of === null ? {} : { duplicate_of: row.duplicate_of }),
    },
  };
}
