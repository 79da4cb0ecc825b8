import { isoNow, type PlatformContext } from "../context.ts";
import { notifyDeployEvent } from "../notifications/notify.ts";
import type { Build } from "../db/schema.ts";
import { reportCommitStatus } from "../commit-statuses/statuses.ts";
import type { LeaseFence } from "../jobs/queue.ts";
import { LEASE_LOST, SHUTDOWN, type JobResult } from "../jobs/workers.ts";
import { BuildLog } from "./build-log.ts";
import { BUILD_QUEUE, buildJobKey } from "./service.ts";
import type { BuildRunnerOptions } from "./stage.ts";

/**
 * How a build ends when it does not publish: failed (the message in `build.error`, the deploy's
 * `error_message` and the log), stopped from outside (cancelled, shutting down, lease lost, out of
 * time), or lost by the queue (the periodic sweep). Each only moves a build still in the states
 * it expects, so a late or repeated call changes nothing.
 */

/**
 * Marks a build (and its deploy) failed with `message`, if it is still in one of `from` (and,
 * given a `fence`, only while that job lease is still held: an attempt that lost it must not
 * fail the build another worker is running); returns whether it did. The log gets the message
 * as an error line.
 */
export async function failBuild(
  ctx: PlatformContext,
  buildId: string,
  message: string,
  from: readonly Build["state"][] = ["building"],
  log?: BuildLog,
  fence?: LeaseFence,
): Promise<boolean> {
  const now = isoNow(ctx);
  const changed = await ctx.db.transaction().execute(async (trx) => {
    if (fence !== undefined && !(await ctx.jobs.holds(fence, trx))) return false;
    const build = await trx
      .updateTable("builds")
      .set({ state: "error", error: message, finished_at: now, updated_at: now })
      .where("id", "=", buildId)
      .where("state", "in", [...from])
      .returning(["deploy_id"])
      .executeTakeFirst();
    if (!build) return false;
    if (build.deploy_id !== null) {
      await trx
        .updateTable("deploys")
        .set({ state: "error", error_message: message, updated_at: now })
        .where("id", "=", build.deploy_id)
        .execute();
      await notifyDeployEvent(ctx, trx, build.deploy_id, "deploy_failed");
    }
    return true;
  });
  if (changed) await reportCommitStatus(ctx, buildId, "failure");
  if (changed && !log) {
    const own = await BuildLog.open(ctx.db, buildId);
    own.write("cleanup", message, true);
    await own.close();
  }
  return changed;
}

/**
 * The build was stopped from outside: `reason` is the worker's abort reason (shutting down,
 * lease lost, out of time) or anything else for a cancellation.
 */
export async function stopped(
  options: BuildRunnerOptions,
  build: Build,
  log: BuildLog,
  reason: unknown,
  fence: LeaseFence,
): Promise<JobResult> {
  const { ctx } = options;
  if (reason === SHUTDOWN) {
    // A graceful stop is not the build's failure: the attempt is given back (as the job's is).
    await ctx.db
      .updateTable("builds")
      .set((eb) => ({ attempts: eb("attempts", "-", 1) }))
      .where("id", "=", build.id)
      .where("state", "=", "building")
      .execute();
    log.write(
      "cleanup",
      "The platform is shutting down: this build stopped here and runs again when it restarts.",
      true,
    );
    await log.close();
    return "released";
  }
  if (reason === LEASE_LOST) {
    // Another worker owns the job now (or soon); it writes the rest of the story.
    log.write(
      "cleanup",
      `Attempt ${build.attempts} lost its job lease (its heartbeats failed or another worker took the job over): it stopped here and publishes nothing; the job's next attempt takes the build over.`,
      true,
    );
    await log.close();
    return "done";
  }
  if (reason === "time limit") {
    const message = `The build did not finish within its time limit (${Math.round((2 * ctx.config.builds.timeoutSeconds + 300) / 60)} minutes for fetching, building and publishing) and was stopped.`;
    log.write("cleanup", message, true);
    await log.close();
    await failBuild(ctx, build.id, message, ["building"], log, fence);
    return "done";
  }
  log.write("cleanup", "Build cancelled; its processes were stopped.", true);
  await log.close();
  return "done";
}

/**
 * The safety net behind leases: builds still `enqueued` or `building` whose job is neither
 * pending nor running (lost by a bug or a hand-edited database) fail with a reason, so that no
 * build waits forever. Run periodically by the worker pool.
 */
export async function sweepOrphanedBuildRows(ctx: PlatformContext): Promise<number> {
  const active = await ctx.db
    .selectFrom("builds")
    .select("id")
    .where("state", "in", ["enqueued", "building"])
    .execute();
  // Asked through the queue (not a join on its table): on Postgres the jobs are graphile-worker's.
  // A job that ends meanwhile ends its build first, so `failBuild`'s state check skips it.
  const orphans: { id: string }[] = [];
  for (const build of active) {
    const job = await ctx.jobs.findByDedupeKey(buildJobKey(build.id));
    if (job?.queue !== BUILD_QUEUE || (job.state !== "pending" && job.state !== "running")) {
      orphans.push(build);
    }
  }
  let failed = 0;
  for (const { id } of orphans) {
    if (
      await failBuild(
        ctx,
        id,
        "The build lost its place in the queue and cannot finish; start a new build.",
        ["enqueued", "building"],
      )
    ) {
      failed++;
    }
  }
  return failed;
}
