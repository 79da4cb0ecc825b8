import { isGitObjectId } from "../../lib/git-ids.ts";
import { objectId } from "../../lib/ids.ts";
import type { Actor } from "../accounts/tokens.ts";
import { requestBuild, supersedeQueued, type BuildRequestResult } from "../builds/service.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import { notifyDeployEvent } from "../notifications/notify.ts";
import type { Deploy, GitProviderName, Site } from "../db/schema.ts";
import { PlatformError } from "../errors.ts";
import { findDeploy } from "../deploys/deploys.ts";
import type { RepoSettings } from "../sites/repo-settings.ts";
import type { ReviewEvent } from "./review-event.ts";
import { reviewName } from "../sites/review-refs.ts";

/**
 * Deploy previews of pull requests (GitHub, Gitea, Bitbucket) and merge requests (GitLab).
 *
 * - A request's head commit is built from the site's own repository, fetched through the
 *   provider's request ref (`refs/pull/<n>/head`, `refs/merge-requests/<iid>/head`, or the
 *   source branch on Bitbucket), as a `deploy-preview` deploy with `review_id` = its number.
 *   It is served at `deploy-preview-<n>--<site>` and never published to the site.
 * - Every new commit is a new build; the request's older queued builds are superseded.
 * - A request from a fork, or from an author the provider does not mark as a collaborator, does
 *   not build: a `pending_review` deploy says why and how to approve it, and
 *   `POST /deploys/:id/approve` (a member of the site's account) starts its build.
 * - Closing or merging marks the request's deploys (`review_state`); they stay at their URLs.
 */

export type PreviewDecision =
  | { kind: "built"; result: BuildRequestResult }
  | { kind: "pending"; deploy: Deploy; coalesced: boolean }
  | { kind: "marked"; state: "open" | "closed" | "merged"; count: number }
  | { kind: "ignored"; reason: string };

export interface ReviewIntake {
  site: Site;
  repo: RepoSettings;
  provider: GitProviderName;
  review: ReviewEvent;
  deliveryId: string;
}

/** What a pull/merge request event does to the site's previews. */
export async function handleReviewEvent(
  ctx: PlatformContext,
  intake: ReviewIntake,
): Promise<PreviewDecision> {
  const { site, repo, provider, review } = intake;
  const name = reviewName(provider, review.number);
  if (repo.provider !== provider) {
    return {
      kind: "ignored",
      reason: `ignored: a ${provider} ${name} event, but the site's repository provider is ${repo.provider}; previews fetch the request's commits from the site's own repository, so set repo.provider to the provider that hosts it`,
    };
  }
  switch (review.action) {
    case "ignored":
      return {
        kind: "ignored",
        reason: `ignored: ${name} action ${JSON.stringify(review.providerAction)} does not change what its preview builds`,
      };
    case "closed":
    case "merged":
      return markReview(ctx, site, review.number, review.action, name);
    case "reopened":
      await markReview(ctx, site, review.number, "open", name);
      break;
    case "opened":
    case "updated":
      break;
  }
  if (repo.stopBuilds) return { kind: "ignored", reason: "ignored: site has stop_builds set" };
  if (!repo.deployPreviews) {
    return {
      kind: "ignored",
      reason: `ignored: deploy previews are off for this site (turn them on in the site's settings, or PATCH /api/v1/sites/${site.id} {"repo": {"deploy_previews": true}}); ${name} was not built`,
    };
  }
  if (review.head === null || review.headBranch === null) {
    return { kind: "ignored", reason: `ignored: ${name} names no head commit` };
  }
  if (review.fork && provider === "bitbucket") {
    return {
      kind: "ignored",
      reason: `ignored: ${name} is ${review.untrusted ?? "from a fork"}; Bitbucket does not publish a fork's commits in the destination repository, so its preview cannot be built`,
    };
  }
  const full = isGitObjectId(review.head);
  if (review.untrusted !== null) {
    return recordPendingPreview(ctx, site, review, review.head, name);
  }
  const result = await requestBuild(ctx, {
    siteId: site.id,
    branch: review.headBranch,
    // Bitbucket's abbreviated hash: the source branch's head is built.
    ...(full ? { sha: review.head } : {}),
    trigger: "webhook",
    ...(review.title !== null ? { title: review.title } : {}),
    webhookDeliveryId: intake.deliveryId,
    review: { id: review.number, url: review.url },
  });
  return { kind: "built", result };
}

/** Marks every deploy of a request; those still waiting for approval will never build. */
async function markReview(
  ctx: PlatformContext,
  site: Site,
  number: number,
  state: "open" | "closed" | "merged",
  name: string,
): Promise<PreviewDecision> {
  const now = isoNow(ctx);
  const count = await ctx.db.transaction().execute(async (trx) => {
    const marked = await trx
      .updateTable("deploys")
      .set({ review_state: state, updated_at: now })
      .where("site_id", "=", site.id)
      .where("review_id", "=", number)
      .executeTakeFirst();
    if (state !== "open") {
      await trx
        .updateTable("deploys")
        .set({
          state: "error",
          error_message: `Not built: ${name} was ${state} before a member approved this commit`,
          updated_at: now,
        })
        .where("site_id", "=", site.id)
        .where("review_id", "=", number)
        .where("state", "=", "pending_review")
        .execute();
    }
    return Number(marked.numUpdatedRows);
  });
  return { kind: "marked", state, count };
}

/**
 * Records that a request's head waits for approval: a `pending_review` deploy (no build), which
 * supersedes the request's older ones. The same commit already waiting or built is not
 * recorded again.
 */
async function recordPendingPreview(
  ctx: PlatformContext,
  site: Site,
  review: ReviewEvent,
  sha: string,
  name: string,
): Promise<PreviewDecision> {
  return ctx.db.transaction().execute(async (trx) => {
    // The site's row lock orders concurrent requests for one site (as `requestBuild` does).
    await trx
      .updateTable("sites")
      .set((eb) => ({ state: eb.ref("state") }))
      .where("id", "=", site.id)
      .execute();
    const existing = await trx
      .selectFrom("deploys")
      .selectAll()
      .where("site_id", "=", site.id)
      .where("review_id", "=", review.number)
      .where("commit_ref", "=", sha)
      .where("state", "!=", "error")
      .orderBy("created_at", "desc")
      .executeTakeFirst();
    if (existing) return { kind: "pending" as const, deploy: existing, coalesced: true };

    const now = isoNow(ctx);
    const id = objectId();
    await supersedeQueued(
      ctx,
      trx,
      site.id,
      review.headBranch ?? "",
      id,
      now,
      { id: review.number },
      `deploy ${id} (waiting for approval)`,
    );
    const deploy: Deploy = {
      id,
      site_id: site.id,
      build_id: null,
      state: "pending_review",
      context: "deploy-preview",
      branch: review.headBranch,
      commit_ref: sha,
      title: review.title,
      draft: 0,
      locked: 0,
      error_message: `Waiting for approval: ${name} comes ${review.untrusted ?? "from an untrusted source"}, and untrusted code is not built automatically. A member of the site's account can start the build with POST /api/v1/deploys/${id}/approve.`,
      required: "[]",
      file_count: null,
      size_bytes: null,
      deploy_source: "build",
      required_functions: "[]",
      warnings: "[]",
      review_id: review.number,
      review_url: review.url,
      review_state: "open",
      approved_by: null,
      commit_url: null,
      committer: null,
      created_at: now,
      updated_at: now,
      published_at: null,
      expired_at: null,
      summary: null,
    };
    await trx.insertInto("deploys").values(deploy).execute();
    await notifyDeployEvent(ctx, trx, id, "deploy_request_pending");
    ctx.log.info(
      { siteId: site.id, deployId: id, reviewId: review.number },
      "deploy preview waiting for approval",
    );
    return { kind: "pending" as const, deploy, coalesced: false };
  });
}

/**
 * `POST /deploys/:id/approve`: a member of the site's account starts the build of a deploy
 * preview waiting for approval. Another account's deploy is a 404; a deploy that is not
 * waiting (already approved, superseded, closed, or not a preview) is a 422.
 */
export async function approveDeploy(
  ctx: PlatformContext,
  actor: Actor,
  deployId: string,
): Promise<{ deploy: Deploy; site: Site; result: BuildRequestResult }> {
  const { deploy, site } = await findDeploy(ctx, actor, deployId, "update");
  if (deploy.state !== "pending_review" || deploy.review_id === null) {
    throw new PlatformError(
      "unprocessable",
      `The deploy is not waiting for approval (its state is ${deploy.state}); only deploy previews in state pending_review can be approved`,
    );
  }
  if (deploy.branch === null || deploy.commit_ref === null) {
    throw new PlatformError("unprocessable", "The deploy names no commit to build");
  }
  const result = await requestBuild(ctx, {
    siteId: site.id,
    branch: deploy.branch,
    sha: deploy.commit_ref,
    trigger: "manual",
    ...(deploy.title !== null ? { title: deploy.title } : {}),
    review: {
      id: deploy.review_id,
      url: deploy.review_url,
      approvedDeployId: deploy.id,
      approvedBy: actor.user.id,
    },
  });
  ctx.log.info(
    { siteId: site.id, deployId: deploy.id, buildId: result.build.id, approvedBy: actor.user.id },
    "deploy preview approved",
  );
  await notifyDeployEvent(ctx, undefined, deploy.id, "deploy_request_accepted");
  const approved = await ctx.db
    .selectFrom("deploys")
    .selectAll()
    .where("id", "=", deploy.id)
    .executeTakeFirstOrThrow();
  return { deploy: approved, site, result };
}
