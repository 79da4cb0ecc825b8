import { withoutControlCharacters } from "../../lib/text.ts";
import { siteUrl } from "../sites/urls.ts";
import { previewLabel } from "../sites/review-refs.ts";
import type { LeasedJob } from "../jobs/queue.ts";
import type { JobHandler, JobResult } from "../jobs/workers.ts";
import type { PlatformContext } from "../context.ts";
import type { Build, Deploy, Site } from "../db/schema.ts";
import { connectionClient } from "../connections/clients.ts";
import { ProviderError, type CommitStatus } from "../providers/types.ts";

/**
 * Build results reported to the provider as commit statuses (GitHub and Gitea statuses, GitLab
 * commit statuses, Bitbucket build statuses), named `slipway/<site name>`, for sites linked
 * through a connection; other sites send nothing.
 *
 * The runner only enqueues a job (`reportCommitStatus`, which never throws): a provider that is
 * slow or down never delays or fails a build. The job reports the build's state *when it runs*
 * (pending while building, success with the deploy's URL, failure with the reason's first
 * line), so jobs that run late, twice or out of order still leave the provider with the latest
 * state; one site's status jobs run one at a time. A provider that is unavailable is retried;
 * a refusal (bad credential, repository gone) is logged and not retried.
 */

export const COMMIT_STATUS_QUEUE = "commit-status";
const MAX_ATTEMPTS = 5;
/** GitHub's limit for a status description. */
const MAX_DESCRIPTION = 140;

export type ReportedState = "pending" | "success" | "failure";

/** Queues a report of the build's state to its provider; nothing for sites without a connection. */
export async function reportCommitStatus(
  ctx: PlatformContext,
  buildId: string,
  state: ReportedState,
): Promise<void> {
  try {
    const row = await ctx.db
      .selectFrom("builds")
      .innerJoin("sites", "sites.id", "builds.site_id")
      .select(["builds.site_id", "builds.sha", "sites.connection_id"])
      .where("builds.id", "=", buildId)
      .executeTakeFirst();
    // No connection, or no commit resolved yet (a fetch that failed): nothing to report on.
    if (!row || row.connection_id === null || row.sha === null) return;
    const { created } = await ctx.jobs.enqueue({
      queue: COMMIT_STATUS_QUEUE,
      payload: { buildId },
      concurrencyKey: `commit-status:${row.site_id}`,
      dedupeKey: `commit-status:${buildId}:${state}`,
      maxAttempts: MAX_ATTEMPTS,
    });
    if (created) ctx.jobs.wake();
  } catch (error) {
    ctx.log.warn({ err: error, buildId, state }, "could not queue a commit status");
  }
}

export function createCommitStatusHandler(ctx: PlatformContext): JobHandler {
  return { maxRunMs: 2 * 60_000, run: (job) => sendCommitStatus(ctx, job) };
}

async function sendCommitStatus(ctx: PlatformContext, job: LeasedJob): Promise<JobResult> {
  const buildId = (job.payload as { buildId?: unknown } | null)?.buildId;
  if (typeof buildId !== "string") return "done";
  const build = await ctx.db
    .selectFrom("builds")
    .selectAll()
    .where("id", "=", buildId)
    .executeTakeFirst();
  if (!build || build.sha === null) return "done";
  const site = await ctx.db
    .selectFrom("sites")
    .selectAll()
    .where("id", "=", build.site_id)
    .executeTakeFirst();
  if (!site || site.connection_id === null) return "done";
  const connection = await ctx.db
    .selectFrom("git_connections")
    .selectAll()
    .where("id", "=", site.connection_id)
    .where("account_id", "=", site.account_id)
    .executeTakeFirst();
  const repoRef = await repositoryRef(ctx, site);
  if (!connection || repoRef === undefined) return "done";
  const deploy =
    build.deploy_id === null
      ? undefined
      : await ctx.db
          .selectFrom("deploys")
          .selectAll()
          .where("id", "=", build.deploy_id)
          .executeTakeFirst();
  const status = commitStatus(ctx, site, build, deploy);
  if (status === undefined) return "done";

  const log = { siteId: site.id, buildId, sha: build.sha, state: status.state };
  try {
    const client = connectionClient(ctx, connection);
    const repo = await client.getRepo(repoRef);
    await client.setCommitStatus(repo, build.sha, status);
  } catch (error) {
    if (error instanceof ProviderError && error.kind !== "unavailable") {
      ctx.log.warn(
        { ...log, kind: error.kind, reason: error.message, hint: error.hint },
        "the provider refused a commit status; not retried",
      );
      return "done";
    }
    throw error; // the worker retries it (up to MAX_ATTEMPTS)
  }
  ctx.log.info(log, "commit status reported");
  return "done";
}

/** The repository at the provider: the link's own reference, else the site's repo path or id. */
async function repositoryRef(ctx: PlatformContext, site: Site): Promise<string | undefined> {
  const link = await ctx.db
    .selectFrom("site_links")
    .select("repo_ref")
    .where("site_id", "=", site.id)
    .executeTakeFirst();
  if (link) return link.repo_ref;
  if (site.repo_path !== null) return site.repo_path;
  if (site.repo_id !== null) return String(JSON.parse(site.repo_id) as number | string);
  return undefined;
}

/** What the provider should show for the build's current state; undefined for none. */
export function commitStatus(
  ctx: Pick<PlatformContext, "config">,
  site: Pick<Site, "name">,
  build: Pick<Build, "id" | "state" | "error">,
  deploy: Pick<Deploy, "id" | "context" | "review_id"> | undefined,
): CommitStatus | undefined {
  const context = `slipway/${site.name}`;
  // The dashboard's page of the deploy (its live build log); the raw log without a deploy.
  const logUrl = deploy
    ? `${ctx.config.publicUrl}/sites/${site.name}/deploys/${deploy.id}`
    : `${ctx.config.publicUrl}/api/v1/builds/${build.id}/log`;
  switch (build.state) {
    case "enqueued":
    case "building":
      return { state: "pending", context, description: "Build started", targetUrl: logUrl };
    case "done": {
      if (deploy === undefined) return undefined;
      const label =
        deploy.context === "deploy-preview" && deploy.review_id !== null
          ? previewLabel(deploy.review_id)
          : deploy.id;
      return {
        state: "success",
        context,
        description: "Deploy ready",
        targetUrl: siteUrl(ctx.config, `${label}--${site.name}`),
      };
    }
    case "error":
      return {
        state: "failure",
        context,
        description: describe(build.error ?? "The build failed"),
        targetUrl: logUrl,
      };
    case "cancelled":
      return { state: "error", context, description: "Build cancelled", targetUrl: logUrl };
    case "superseded":
      return undefined;
  }
}

function describe(reason: string): string {
  const line = withoutControlCharacters(reason.split("\n")[0] ?? "").trim();
  return line.length > MAX_DESCRIPTION ? `${line.slice(0, MAX_DESCRIPTION - 1)}…` : line;
}
