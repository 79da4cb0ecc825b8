import type { PlatformContext } from "../context.ts";
import type { JobHandler } from "../jobs/workers.ts";
import { buildsRunning, concurrentBuildLimit } from "./quotas.ts";

/**
 * The concurrent-builds quota: a build whose account already runs as many builds as it may
 * does not fail — its job goes back to the queue (attempt kept, the build still `enqueued`) and
 * is tried again a little later, after other accounts' waiting jobs. Two workers starting the
 * same account's builds at the same instant may both pass: the limit is kept to within one.
 */

/** How long a held-back build waits before it is offered again. */
const RECHECK_MS = 2000;

export function withBuildQuota(
  ctx: PlatformContext,
  handler: JobHandler,
  recheckMs = RECHECK_MS,
): JobHandler {
  return {
    ...handler,
    run: async (job, signal) => {
      const buildId = (job.payload as { buildId?: unknown } | null)?.buildId;
      const site =
        typeof buildId === "string"
          ? await ctx.db
              .selectFrom("builds as b")
              .innerJoin("sites as s", "s.id", "b.site_id")
              .select(["s.account_id", "b.state"])
              .where("b.id", "=", buildId)
              .executeTakeFirst()
          : undefined;
      if (site?.state === "enqueued") {
        const limit = await concurrentBuildLimit(ctx, site.account_id);
        if (limit !== null && (await buildsRunning(ctx.db, site.account_id)) >= limit) {
          ctx.log.debug(
            { buildId, accountId: site.account_id, limit },
            "build waits: the account runs as many builds as its concurrent builds quota allows",
          );
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, recheckMs);
            signal.addEventListener("abort", () => {
              clearTimeout(timer);
              resolve();
            });
          });
          return "released";
        }
      }
      return handler.run(job, signal);
    },
  };
}
