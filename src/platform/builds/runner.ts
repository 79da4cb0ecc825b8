import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { isDiskFullError } from "../../lib/disk-full.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import { notifyDeployEvent } from "../notifications/notify.ts";
import type { Build } from "../db/schema.ts";
import { publishBuildDeploy } from "../deploys/publish-switch.ts";
import { checkLinkBeforeBuild } from "../links/health.ts";
import { BuildLog, finalLogLine } from "./build-log.ts";
import { leaseFence, type LeaseFence, type LeasedJob, type ReclaimedJob } from "../jobs/queue.ts";
import { BUILD_MAX_ATTEMPTS, BUILD_QUEUE } from "./service.ts";
import { previewFetchRef } from "../sites/review-refs.ts";
import { reportCommitStatus } from "../commit-statuses/statuses.ts";
import { LEASE_LOST, type JobHandler, type JobResult } from "../jobs/workers.ts";
import {
  LeaseLost,
  pauseForTest,
  SECTION,
  StageFailure,
  type BuildRunnerOptions,
} from "./stage.ts";
import { attemptWorkDir, removeEarlierAttempts } from "./dirs.ts";
import { prepareRepo } from "./fetch-stage.ts";
import { buildSite, refuseWhenDiskFull, type BuiltSite } from "./build-stage.ts";
import { storeAsideDir } from "./cache/build-cache.ts";
import { deploySite } from "./publish-stage.ts";
import { failBuild, stopped } from "./recovery.ts";
import { ignoreCommand } from "./build-settings.ts";
import { ignoredBecause, skipBuild } from "./ignore.ts";
import { stageEnded } from "../metrics/metrics.ts";

/**
 * The build job: one build, from the queue to a published deploy, in Netlify's stages, each
 * logged with timestamps to `build_log_lines`:
 *
 *   initializing → preparing repo → building site → deploying → cleanup
 *
 * This file holds the job handler and the sequence; each stage is its own file
 * (`fetch-stage.ts`, `build-stage.ts`, `publish-stage.ts`), and the ways a build ends without
 * publishing are `recovery.ts`.
 *
 * Every failure ends the build in `error` with an actionable message in `build.error`, the
 * deploy's `error_message` and the log. The job is idempotent (at-least-once queue): a finished
 * build is never run again, and a build found in `building` was interrupted (a crash, a restart)
 * and is run again from the start, once. Cancellation is read from the database (so it works
 * whichever process runs the build) and kills the sandbox.
 */

const INTERRUPTED = "interrupted by a restart";

export function createBuildHandler(options: BuildRunnerOptions): JobHandler {
  const { ctx } = options;
  const timeoutMs = ctx.config.builds.timeoutSeconds * 1000;
  return {
    // Fetch and build each have the build time limit; publishing gets a few minutes more.
    maxRunMs: 2 * timeoutMs + 5 * 60_000,
    run: (job, signal) => runBuildJob(options, job, signal),
    onReclaimed: (reclaimed) => onReclaimed(options.ctx, reclaimed),
  };
}

function payloadBuildId(job: LeasedJob): string {
  const payload = job.payload as { buildId?: unknown } | null;
  if (typeof payload?.buildId !== "string") throw new Error(`job ${job.id} has no buildId`);
  return payload.buildId;
}

/** A build whose job ran out of attempts while it was running: it fails for good. */
async function onReclaimed(ctx: PlatformContext, reclaimed: ReclaimedJob): Promise<void> {
  if (reclaimed.job.queue !== BUILD_QUEUE || reclaimed.outcome !== "failed") return;
  const buildId = payloadBuildId(reclaimed.job);
  await failBuild(
    ctx,
    buildId,
    `The build was ${INTERRUPTED} (or its worker was lost) ${reclaimed.job.attempt} times and is not run again. Start a new build (POST /api/v1/sites/:site_id/builds) once the platform is stable.`,
    ["enqueued", "building"],
  );
}

async function runBuildJob(
  options: BuildRunnerOptions,
  job: LeasedJob,
  workerSignal: AbortSignal,
): Promise<JobResult> {
  const { ctx } = options;
  const buildId = payloadBuildId(job);
  // Every write that decides the build's outcome checks that this delivery still holds the job.
  const fence = leaseFence(job);
  const build = await ctx.db
    .selectFrom("builds")
    .selectAll()
    .where("id", "=", buildId)
    .executeTakeFirst();
  // Finished, cancelled or superseded (or deleted with its site): nothing to do, at-least-once.
  if (!build || (build.state !== "enqueued" && build.state !== "building")) return "done";

  const log = await BuildLog.open(ctx.db, buildId);
  const startedMs = Date.now();
  if (build.state === "building") {
    // The previous attempt never finished: its process died, or its lease was lost.
    if (build.attempts >= BUILD_MAX_ATTEMPTS) {
      await log.close();
      await failBuild(
        ctx,
        buildId,
        `The build was ${INTERRUPTED} (or its worker was lost) ${build.attempts} times and is not run again; start a new build.`,
        ["building"],
        undefined,
        fence,
      );
      return "done";
    }
    log.write(
      "initializing",
      `The previous attempt (${build.attempts}) was ${INTERRUPTED} of the platform (or its worker was lost) before it finished; running the build again from the start (attempt ${build.attempts + 1} of ${BUILD_MAX_ATTEMPTS}).`,
      true,
    );
  }

  const now = isoNow(ctx);
  const claimed = await ctx.db.transaction().execute(async (trx) => {
    if (!(await ctx.jobs.holds(fence, trx))) return undefined;
    const row = await trx
      .updateTable("builds")
      .set((eb) => ({
        state: "building",
        attempts: eb("attempts", "+", 1),
        started_at: eb.fn.coalesce("started_at", eb.val(now)),
        error: null,
        updated_at: now,
      }))
      .where("id", "=", buildId)
      .where("state", "in", ["enqueued", "building"])
      .returningAll()
      .executeTakeFirst();
    if (row?.deploy_id) {
      await trx
        .updateTable("deploys")
        .set({ state: "building", error_message: null, updated_at: now })
        .where("id", "=", row.deploy_id)
        .execute();
      await notifyDeployEvent(ctx, trx, row.deploy_id, "deploy_building");
    }
    return row;
  });
  if (!claimed) {
    await log.close();
    return "done";
  }

  // Cancellation is a database state, so it reaches the build whichever process runs it.
  const cancel = new AbortController();
  const poll = setInterval(() => {
    ctx.db
      .selectFrom("builds")
      .select("state")
      .where("id", "=", buildId)
      .executeTakeFirst()
      .then(
        (row) => {
          if (row?.state !== "building") cancel.abort("cancelled");
        },
        () => undefined,
      );
  }, options.cancelPollMs ?? 1000);
  const signal = AbortSignal.any([workerSignal, cancel.signal]);
  const workDir = attemptWorkDir(options.workRoot, buildId, claimed.attempts);

  try {
    await removeEarlierAttempts(options.workRoot, buildId, claimed.attempts);
    const outcome = await runStages(options, claimed, log, workDir, signal, startedMs, fence);
    ctx.metrics?.buildEnded("ready");
    await reportCommitStatus(ctx, buildId, "success");
    return outcome;
  } catch (error) {
    if (cancel.signal.aborted) ctx.metrics?.buildEnded("cancelled");
    if (signal.aborted || error instanceof LeaseLost) {
      const reason: unknown =
        error instanceof LeaseLost
          ? LEASE_LOST
          : workerSignal.aborted
            ? workerSignal.reason
            : signal.reason;
      return stopped(options, claimed, log, reason, fence);
    }
    const message =
      error instanceof StageFailure
        ? error.message
        : isDiskFullError(error)
          ? "the disk is full: the build's output could not be stored; the published site is unchanged"
          : `Internal error: ${error instanceof Error ? error.message : String(error)}`;
    const stage = error instanceof StageFailure ? error.stage : "building site";
    if (!(error instanceof StageFailure)) {
      ctx.log.error({ err: error, buildId }, "build failed with an internal error");
    }
    log.write(SECTION[stage], message, true);
    log.write(SECTION[stage], `Failing build: Failed during stage '${stage}'`, true);
    log.write("cleanup", finalLogLine(startedMs));
    await log.close();
    ctx.metrics?.buildEnded("error");
    await failBuild(ctx, buildId, message, ["building"], log, fence);
    return "done";
  } finally {
    clearInterval(poll);
    for (const dir of [workDir, storeAsideDir(workDir)]) {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

async function runStages(
  options: BuildRunnerOptions,
  build: Build,
  log: BuildLog,
  workDir: string,
  signal: AbortSignal,
  startedMs: number,
  fence: LeaseFence,
): Promise<JobResult> {
  const { ctx } = options;
  const site = await ctx.db
    .selectFrom("sites")
    .selectAll()
    .where("id", "=", build.site_id)
    .executeTakeFirst();
  if (!site) throw new StageFailure("initializing", "The site was deleted.");
  const deployId = build.deploy_id!;
  const deploy = await ctx.db
    .selectFrom("deploys")
    .selectAll()
    .where("id", "=", deployId)
    .executeTakeFirstOrThrow();

  // ---- initializing
  log.write("initializing", "Build ready to start");
  log.write(
    "initializing",
    `Slipway build ${build.id} (#${build.number}, attempt ${build.attempts}) of site ${site.name}, deploy ${deployId}`,
  );
  log.write(
    "initializing",
    `Context ${deploy.context}, branch ${build.branch}${build.sha ? `, commit ${build.sha}` : ""}; triggered by ${build.trigger}`,
  );
  if (site.repo_url === null) {
    throw new StageFailure(
      "initializing",
      "The site is no longer linked to a repository (it was unlinked after this build was queued); link it again with PATCH /api/v1/sites/:site_id.",
    );
  }
  await refuseWhenDiskFull(ctx, "initializing");
  log.write("initializing", "Section completed: initializing");

  // ---- preparing repo
  let stageStart = Date.now();
  log.write("preparing_repo", "Starting to prepare the repo for build");
  if (site.connection_id !== null) {
    // Linked through a provider connection: a removed key or a revoked token stops the build
    // here with that reason (shown on the site until the link is repaired).
    const broken = await checkLinkBeforeBuild(ctx, site, (message, error) =>
      log.write("preparing_repo", message, error),
    );
    if (broken !== undefined) throw new StageFailure("preparing repo", broken);
  }
  // A deploy preview fetches its request's head ref (its source branch on Bitbucket).
  const reviewId = deploy.context === "deploy-preview" ? deploy.review_id : null;
  const fetchRef = reviewId === null ? undefined : previewFetchRef(site.repo_provider, reviewId);
  const fetched = await prepareRepo(options, site, build, log, workDir, signal, fetchRef);
  await pauseForTest(options, "fetch", signal);
  if (signal.aborted) throw new Error("stopped");
  await ctx.db
    .updateTable("builds")
    .set({ sha: fetched.sha, updated_at: isoNow(ctx) })
    .where("id", "=", build.id)
    .execute();
  // The commit's author, and its subject as the title unless the trigger gave one (a push's
  // or a request's title, a build hook's).
  await ctx.db
    .updateTable("deploys")
    .set((eb) => ({
      commit_ref: fetched.sha,
      committer: fetched.commit.author,
      title: eb.fn.coalesce("title", eb.val(fetched.commit.subject)),
      updated_at: isoNow(ctx),
    }))
    .where("id", "=", deployId)
    .execute();
  // Netlify's ignored builds: a push that changed nothing under the base directory.
  const ignored = await ignoredBecause(options, {
    site,
    build,
    sha: fetched.sha,
    ignoreCommand: ignoreCommand(build),
    log,
    workDir,
    signal,
  });
  if (signal.aborted) throw new Error("stopped");
  if (ignored !== null) {
    await skipBuild(ctx, build, ignored, log, fence);
    return "done";
  }
  log.write("preparing_repo", "Section completed: preparing repo");
  stageStart = stageEnded(ctx.metrics, "preparing_repo", stageStart);
  await reportCommitStatus(ctx, build.id, "pending");

  // ---- building site
  const base = site.base_dir;
  const baseDir = base === null ? workDir : join(workDir, base);
  if (base !== null && !(await isDirectory(baseDir))) {
    throw new StageFailure(
      "building site",
      `The base directory "${base}" does not exist in the repository at ${fetched.sha}. Change the site's base directory (repo.base), or add the directory to the repository.`,
    );
  }
  let built: BuiltSite | undefined;
  if (site.build_cmd === null || site.build_cmd.trim() === "") {
    log.write("building", "No build command set: publishing the repository's files as they are.");
  } else {
    built = await buildSite(
      options,
      site,
      build,
      deployId,
      fetched.sha,
      log,
      workDir,
      signal,
      reviewId,
    );
  }
  log.write("building", "Section completed: building");
  stageStart = stageEnded(ctx.metrics, "building", stageStart);

  // ---- deploying
  const published = await deploySite(options, site, build, deployId, baseDir, workDir, log, {
    signal,
    fence,
  });
  if (published === "stopped") throw new Error("stopped");
  log.write("deploying", "Section completed: deploying");
  stageEnded(ctx.metrics, "deploying", stageStart);

  // ---- cleanup (the directory is removed right after, in `runBuildJob`)
  log.write("cleanup", published === "published" ? "Site is live ✨" : "Deploy is ready");
  // The cache is saved only now: it never delays the publish, and a build that failed anywhere
  // (publishing included) saves none. The site is live: a cache that cannot be saved fails nothing.
  try {
    await built?.saveCache();
  } catch (error) {
    ctx.log.warn({ err: error, buildId: build.id }, "the build cache could not be saved");
    log.write("cleanup", "Build cache: not saved (an internal error; see the platform's log).");
  }
  log.write("cleanup", "Cleaning up the build directory");
  log.write("cleanup", finalLogLine(startedMs));
  await log.close();
  return "done";
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** The shared atomic switch (also used by direct deploys), under its historical name here. */
export { publishBuildDeploy as publishDeploy };
