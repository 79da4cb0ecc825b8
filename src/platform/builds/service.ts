import type { ExpressionBuilder, Kysely, SelectQueryBuilder } from "kysely";
import { isGitObjectId } from "../../lib/git-ids.ts";
import { objectId } from "../../lib/ids.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import { notifyDeployEvent } from "../notifications/notify.ts";
import type { Actor } from "../accounts/tokens.ts";
import { deployContext } from "../deploys/context.ts";
import { DECLARABLE_STATES, failDirectDeploy } from "../deploys/digest.ts";
import { BUILDS_SITE_SHA } from "../db/partial-indexes.ts";
import type {
  Build,
  BuildState,
  Deploy,
  LogSection,
  PlatformDatabase,
  Site,
} from "../db/schema.ts";
import { invalidField, notFound, PlatformError } from "../errors.ts";
import { checkBranch } from "../sites/repo-settings.ts";

/**
 * Starting builds. `requestBuild` is the one entry point for every trigger (linking a site, a
 * git webhook, a build hook, the API, a retry): it creates the build and its deploy and enqueues
 * the job in one transaction, so a build the caller was told about is never lost, and it
 * coalesces work:
 *
 * - the same (site, branch, sha) already queued, building or built → no new build; the
 *   existing one is returned as `coalescedWith`;
 * - a request without a sha while a build of that branch is queued and has not resolved its
 *   commit yet → that build (it will fetch the branch head when it starts);
 * - otherwise a new build, and the older queued (not started) builds of the branch are
 *   `superseded`: their deploys end in `error` saying by which build, their jobs are cancelled.
 *
 * Each build gets the next per-site `number` while the site's row is locked, so creation order
 * has no ties; publishing compares it (`runner.ts`), so an older build never replaces a newer
 * one even when it finishes later.
 */

export type BuildTrigger = "link" | "webhook" | "build_hook" | "manual" | "retry";

export interface BuildRequest {
  siteId: string;
  branch: string;
  /** The commit to build (a webhook's `after`); without it the branch head at build time. */
  sha?: string;
  trigger: BuildTrigger;
  title?: string;
  clearCache?: boolean;
  webhookDeliveryId?: string;
  buildHookId?: string;
  /** A deploy preview of a pull/merge request: `branch` is then its head branch. */
  review?: ReviewRequest;
}

/**
 * The pull/merge request a preview build is for. Its builds coalesce and supersede only each
 * other (never the branch's own builds), and its deploy is never published to the site.
 */
export interface ReviewRequest {
  id: number;
  url: string | null;
  /** An approved `pending_review` deploy of this request: it becomes this build's deploy. */
  approvedDeployId?: string;
  /** Who approved it (the user's id). */
  approvedBy?: string;
}

export interface BuildRequestResult {
  build: Build;
  deploy: Deploy;
  /** Set when no build was created: the id of the build that already covers the request. */
  coalescedWith?: string;
}

/** The queue builds run on; the job payload is `{ buildId }`. */
export const BUILD_QUEUE = "build";
/** One attempt, plus one re-run after an interruption (a restart, a lost worker). */
export const BUILD_MAX_ATTEMPTS = 2;

export const buildJobKey = (buildId: string): string => `build:${buildId}`;
export const siteConcurrencyKey = (siteId: string): string => `site:${siteId}`;

/** Builds that are not finished. */
export const ACTIVE_BUILD_STATES: readonly BuildState[] = ["enqueued", "building"];

/**
 * The deploy context of a build: the production branch publishes, other branches are branch
 * deploys, and builds of a pull/merge request are deploy previews (never published).
 */

type BuildQuery = SelectQueryBuilder<PlatformDatabase, "builds", object>;

/**
 * The builds a request competes with: the same pull/merge request's, or the branch's own
 * builds outside any request (a preview of head branch `main` is not a build of `main`).
 */
function sameLine<Q extends BuildQuery>(query: Q, branch: string, reviewId?: number): Q {
  const review = (eb: ExpressionBuilder<PlatformDatabase, "builds">) =>
    eb
      .selectFrom("deploys")
      .select("deploys.id")
      .whereRef("deploys.id", "=", "builds.deploy_id")
      .where("deploys.review_id", "is not", null);
  if (reviewId === undefined) {
    return query
      .where("builds.branch", "=", branch)
      .where((eb) => eb.not(eb.exists(review(eb)))) as Q;
  }
  return query.where((eb) => eb.exists(review(eb).where("deploys.review_id", "=", reviewId))) as Q;
}

export async function requestBuild(
  ctx: PlatformContext,
  request: BuildRequest,
): Promise<BuildRequestResult> {
  const result = await ctx.db
    .transaction()
    .execute((trx) => requestBuildInTransaction(ctx, trx, request));
  if (result.coalescedWith === undefined) ctx.jobs.wake();
  return result;
}

/**
 * `requestBuild` inside the caller's transaction (e.g. creating a linked site and its first
 * build together). The caller should call `ctx.jobs.wake()` after committing.
 */
export async function requestBuildInTransaction(
  ctx: PlatformContext,
  trx: Kysely<PlatformDatabase>,
  request: BuildRequest,
): Promise<BuildRequestResult> {
  const branch = checkBranch("branch", request.branch);
  const sha = request.sha?.toLowerCase();
  if (sha !== undefined && !isGitObjectId(sha)) {
    throw invalidField("sha", "must be a full commit id (40 or 64 hexadecimal characters)");
  }
  // A no-op update takes the site's row lock (Postgres) or the write lock (SQLite) first, so
  // that concurrent requests for one site are decided one after the other.
  const site = linkedForBuilds(
    await trx
      .updateTable("sites")
      .set((eb) => ({ state: eb.ref("state") }))
      .where("id", "=", request.siteId)
      .returningAll()
      .executeTakeFirst(),
  );

  const existing = await findCoalescable(trx, site.id, branch, sha, request);
  if (existing) {
    if (request.clearCache === true && existing.clear_cache === 0) {
      await trx
        .updateTable("builds")
        .set({ clear_cache: 1, updated_at: isoNow(ctx) })
        .where("id", "=", existing.id)
        .execute();
    }
    const deploy = await trx
      .selectFrom("deploys")
      .selectAll()
      .where("id", "=", existing.deploy_id ?? "")
      .executeTakeFirstOrThrow();
    return { build: existing, deploy, coalescedWith: existing.id };
  }

  const now = isoNow(ctx);
  const buildId = objectId();
  const deployId = request.review?.approvedDeployId ?? objectId();
  await supersedeQueued(ctx, trx, site.id, branch, buildId, now, request.review);

  const last = await trx
    .selectFrom("builds")
    .select((eb) => eb.fn.max("number").as("n"))
    .where("site_id", "=", site.id)
    .executeTakeFirst();
  const number = Number(last?.n ?? 0) + 1;

  const deploy: Deploy = {
    id: deployId,
    site_id: site.id,
    build_id: buildId,
    state: "new",
    context: deployContext(site, branch, request.review?.id),
    branch,
    commit_ref: sha ?? null,
    title: request.title ?? null,
    draft: 0,
    locked: 0,
    error_message: null,
    required: "[]",
    file_count: null,
    size_bytes: null,
    deploy_source: "build",
    required_functions: "[]",
    warnings: "[]",
    review_id: request.review?.id ?? null,
    review_url: request.review?.url ?? null,
    review_state: request.review === undefined ? null : "open",
    approved_by: request.review?.approvedBy ?? null,
    commit_url: null,
    committer: null,
    created_at: now,
    updated_at: now,
    published_at: null,
    expired_at: null,
    summary: null,
  };
  const build: Build = {
    id: buildId,
    site_id: site.id,
    deploy_id: deployId,
    state: "enqueued",
    trigger: request.trigger,
    branch,
    sha: sha ?? null,
    title: request.title ?? null,
    clear_cache: request.clearCache === true ? 1 : 0,
    error: null,
    webhook_delivery_id: request.webhookDeliveryId ?? null,
    build_hook_id: request.buildHookId ?? null,
    attempts: 0,
    number,
    created_at: now,
    started_at: null,
    finished_at: null,
    updated_at: now,
  };
  if (request.review?.approvedDeployId === undefined) {
    await trx.insertInto("deploys").values(deploy).execute();
  } else {
    await claimApprovedDeploy(trx, deploy);
  }
  await trx.insertInto("builds").values(build).execute();
  await notifyDeployEvent(ctx, trx, deployId, "deploy_created");
  await ctx.jobs.enqueue(
    {
      queue: BUILD_QUEUE,
      payload: { buildId },
      concurrencyKey: siteConcurrencyKey(site.id),
      dedupeKey: buildJobKey(buildId),
      maxAttempts: BUILD_MAX_ATTEMPTS,
    },
    trx,
  );
  ctx.log.info(
    { siteId: site.id, buildId, number, branch, trigger: request.trigger },
    "build enqueued",
  );
  return { build, deploy };
}

/** The site a build is requested for, refused when it is missing or not linked. */
export function linkedForBuilds<T extends Pick<Site, "repo_url">>(site: T | undefined): T {
  if (!site) throw notFound("Site");
  if (site.repo_url === null) {
    throw invalidField(
      "site_id",
      "the site is not linked to a repository; link one with PATCH /api/v1/sites/:site_id and a repo object",
    );
  }
  return site;
}

/**
 * The approved `pending_review` deploy becomes the new build's deploy (same id, so the deploys
 * list shows one entry going from waiting to building); a deploy approved or superseded
 * meanwhile is refused.
 */
async function claimApprovedDeploy(trx: Kysely<PlatformDatabase>, deploy: Deploy): Promise<void> {
  const claimed = await trx
    .updateTable("deploys")
    .set({
      build_id: deploy.build_id,
      state: deploy.state,
      context: deploy.context,
      commit_ref: deploy.commit_ref,
      error_message: null,
      approved_by: deploy.approved_by,
      updated_at: deploy.updated_at,
    })
    .where("id", "=", deploy.id)
    .where("site_id", "=", deploy.site_id)
    .where("state", "=", "pending_review")
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) !== 1) {
    throw new PlatformError("unprocessable", "The deploy is no longer waiting for approval");
  }
}

/**
 * The states of a build a request may join: the condition of the partial index
 * `builds_site_sha`, which SQLite uses only for a query repeating it.
 */
const coalescable = BUILDS_SITE_SHA.where;

async function findCoalescable(
  trx: Kysely<PlatformDatabase>,
  siteId: string,
  branch: string,
  sha: string | undefined,
  request: BuildRequest,
): Promise<Build | undefined> {
  // A retry, a build with a cleared cache, or an approval is asked for on purpose: never
  // "already built".
  if (request.review?.approvedDeployId !== undefined) return undefined;
  const rebuild = request.trigger === "retry" || request.clearCache === true;
  const base = sameLine(
    trx.selectFrom("builds").selectAll().where("site_id", "=", siteId),
    branch,
    request.review?.id,
  );
  if (sha !== undefined && !rebuild) {
    const same = await base
      .where("sha", "=", sha)
      .where(coalescable)
      .orderBy("number", "desc")
      .executeTakeFirst();
    if (same) return same;
  }
  if (sha === undefined && request.trigger !== "retry") {
    // Queued and not started: it will build the branch head, which is what is asked for.
    return base
      .where(coalescable)
      .where("state", "=", "enqueued")
      .where("sha", "is", null)
      .orderBy("number", "desc")
      .executeTakeFirst();
  }
  return undefined;
}

/**
 * Supersedes the queued (not started) builds of the same branch — or of the same pull/merge
 * request, whose older deploys still waiting for approval are superseded too.
 */
export async function supersedeQueued(
  ctx: PlatformContext,
  trx: Kysely<PlatformDatabase>,
  siteId: string,
  branch: string,
  newerBuildId: string,
  now: string,
  review?: Pick<ReviewRequest, "id" | "approvedDeployId">,
  newerWhat = `build ${newerBuildId}`,
): Promise<void> {
  const line = review === undefined ? `branch "${branch}"` : `request #${review.id}`;
  if (review !== undefined) {
    await trx
      .updateTable("deploys")
      .set({
        state: "error",
        error_message: `Superseded by ${newerWhat}, a newer commit of ${line}; this commit was never approved or built`,
        updated_at: now,
      })
      .where("site_id", "=", siteId)
      .where("review_id", "=", review.id)
      .where("state", "=", "pending_review")
      .where("id", "!=", review.approvedDeployId ?? "")
      .execute();
  }
  const queued = await sameLine(
    trx
      .selectFrom("builds")
      .select(["builds.id", "builds.deploy_id"])
      .where("builds.site_id", "=", siteId)
      .where("builds.state", "=", "enqueued"),
    branch,
    review?.id,
  ).execute();
  for (const old of queued) {
    const reason = `Superseded by ${newerWhat}, a newer request for ${line}; this build never started`;
    await trx
      .updateTable("builds")
      .set({ state: "superseded", error: reason, finished_at: now, updated_at: now })
      .where("id", "=", old.id)
      .where("state", "=", "enqueued")
      .execute();
    if (old.deploy_id !== null) {
      await trx
        .updateTable("deploys")
        .set({ state: "error", error_message: reason, updated_at: now })
        .where("id", "=", old.deploy_id)
        .execute();
    }
    await ctx.jobs.cancelPending(buildJobKey(old.id), reason, trx);
    await appendLogLines(
      trx,
      old.id,
      [{ section: "initializing", message: reason, error: true }],
      now,
    );
  }
}

/** A line for a build's log. */
export interface LogLineInput {
  section: LogSection;
  message: string;
  error?: boolean;
}

/**
 * Appends lines to a build's log with the next sequence numbers. The unique (build, seq) index
 * makes a racing writer fail rather than interleave; each build has one writer at a time.
 */
export async function appendLogLines(
  db: Kysely<PlatformDatabase>,
  buildId: string,
  lines: readonly LogLineInput[],
  time: string,
): Promise<void> {
  if (lines.length === 0) return;
  const last = await db
    .selectFrom("build_log_lines")
    .select((eb) => eb.fn.max("seq").as("seq"))
    .where("build_id", "=", buildId)
    .executeTakeFirst();
  let seq = last?.seq === null || last?.seq === undefined ? 0 : Number(last.seq) + 1;
  await db
    .insertInto("build_log_lines")
    .values(
      lines.map((line) => ({
        build_id: buildId,
        seq: seq++,
        time,
        section: line.section,
        error: line.error === true ? 1 : 0,
        message: line.message,
      })),
    )
    .execute();
}

/** Builds in these states are finished (`done: true`). */
export const FINISHED_BUILD_STATES: readonly BuildState[] = [
  "done",
  "error",
  "cancelled",
  "superseded",
];

/**
 * Cancels a build: a queued one never starts (its job is cancelled); a running one is marked
 * `cancelled` here and its runner, which polls the build's state, kills the sandbox within a
 * second — in whichever process it runs. A finished build is returned unchanged.
 */
export async function cancelBuild(
  ctx: PlatformContext,
  buildId: string,
  by: string,
): Promise<Build> {
  const now = isoNow(ctx);
  const message = `Build cancelled by ${by}`;
  const build = await ctx.db.transaction().execute(async (trx) => {
    const before = await trx
      .selectFrom("builds")
      .select("state")
      .where("id", "=", buildId)
      .executeTakeFirst();
    const updated = await trx
      .updateTable("builds")
      .set({ state: "cancelled", error: message, finished_at: now, updated_at: now })
      .where("id", "=", buildId)
      .where("state", "in", [...ACTIVE_BUILD_STATES])
      .returningAll()
      .executeTakeFirst();
    if (!updated) {
      return trx.selectFrom("builds").selectAll().where("id", "=", buildId).executeTakeFirst();
    }
    if (updated.deploy_id !== null) {
      await trx
        .updateTable("deploys")
        .set({ state: "error", error_message: message, updated_at: now })
        .where("id", "=", updated.deploy_id)
        .execute();
    }
    await ctx.jobs.cancelPending(buildJobKey(buildId), message, trx);
    // A running build's log belongs to its runner, which notes the cancellation itself.
    if (before?.state === "enqueued") {
      await appendLogLines(trx, buildId, [{ section: "cleanup", message, error: true }], now);
    }
    return updated;
  });
  if (!build) throw notFound("Build");
  return build;
}

/**
 * Cancels a deploy that is not finished: its build when it has one, otherwise the direct
 * deploy itself (Netlify's `POST /deploys/:id/cancel`).
 */
export async function cancelDeploy(
  ctx: PlatformContext,
  actor: Actor,
  deploy: Deploy,
): Promise<Deploy> {
  if (deploy.state === "ready") {
    throw new PlatformError(
      "unprocessable",
      `deploy ${deploy.id} is ready; only a deploy that is not finished can be cancelled`,
    );
  }
  if (deploy.state !== "error") {
    if (deploy.build_id !== null) {
      await cancelBuild(ctx, deploy.build_id, actor.user.email);
    } else {
      await failDirectDeploy(ctx, deploy.id, "Cancelled", [...DECLARABLE_STATES, "processing"]);
    }
  }
  return ctx.db
    .selectFrom("deploys")
    .selectAll()
    .where("id", "=", deploy.id)
    .executeTakeFirstOrThrow();
}
