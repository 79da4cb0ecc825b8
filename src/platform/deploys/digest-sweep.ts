import type { PlatformContext } from "../context.ts";
import { DECLARABLE_STATES, failDirectDeploy } from "./digest.ts";
import { deployJobKey } from "./digest-finish.ts";

/** Giving up on digest deploys that stopped moving, so that none waits forever. */

/** A direct deploy with no declaration or upload for this long is abandoned. */
export const ABANDON_AFTER_MS = 60 * 60 * 1000;

/**
 * The periodic safety net: a direct deploy that waited for files for over an hour without any
 * arriving is abandoned (`error`, with the reason); one that stayed `processing` that long
 * without a live finishing job is failed with its job's last error.
 */
export async function sweepAbandonedDeploys(
  ctx: PlatformContext,
  maxIdleMs = ABANDON_AFTER_MS,
): Promise<number> {
  const cutoff = new Date(ctx.now().getTime() - maxIdleMs).toISOString();
  const minutes = Math.round(maxIdleMs / 60_000);
  const idle = await ctx.db
    .selectFrom("deploys")
    .select(["id", "state"])
    .where("build_id", "is", null)
    .where("state", "in", [...DECLARABLE_STATES, "processing"])
    .where("updated_at", "<", cutoff)
    .execute();
  let failed = 0;
  for (const row of idle) {
    let message: string;
    if (row.state === "processing") {
      const job = await ctx.jobs.findByDedupeKey(deployJobKey(row.id));
      if (job && (job.state === "pending" || job.state === "running")) continue;
      message = `The deploy could not be finished${job?.last_error ? `: ${job.last_error}` : ""}; deploy again.`;
    } else {
      message = `Abandoned: no file was declared or uploaded for ${minutes} minutes, so the deploy was given up; deploy again.`;
    }
    if (await failDirectDeploy(ctx, row.id, message, [row.state])) failed++;
  }
  return failed;
}
