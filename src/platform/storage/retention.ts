import type { StoragePolicy } from "../../config.ts";
import { isoNow } from "../context.ts";
import type { GcContext } from "./gc.ts";
import type { Deploy } from "../db/schema.ts";
import type { ManifestStore } from "../deploys/manifest.ts";

/**
 * Deploy history by retention: a site keeps its newest `keepDeploys` deploys, every deploy
 * younger than `keepDeployDays`, and, whatever their age, every deploy that is published,
 * locked, still on its way (not ready nor failed), or served at a URL of its own kind (the newest
 * ready deploy of each branch and of each deploy preview). Any other deploy expires: its row
 * stays (the API shows `expired_at`), its manifest goes, it can no longer be published, and
 * its blobs become the collector's (`gc.ts`).
 */

/** States in which a deploy is finished: anything else is on its way and kept. */
const FINISHED = new Set<string>(["ready", "error", "rejected"]);

type Candidate = Pick<
  Deploy,
  | "id"
  | "state"
  | "locked"
  | "branch"
  | "context"
  | "draft"
  | "review_id"
  | "created_at"
  | "expired_at"
>;

/** The deploys of one site that retention lets go (newest first in `deploys`). */
export function deploysToExpire(
  deploys: readonly Candidate[],
  publishedDeployId: string | null,
  policy: Pick<StoragePolicy, "keepDeploys" | "keepDeployDays">,
  now: Date,
): string[] {
  const youngerThan = new Date(now.getTime() - policy.keepDeployDays * 86_400_000).toISOString();
  const servedBranches = new Set<string>();
  const servedReviews = new Set<number>();
  const out: string[] = [];
  deploys.forEach((deploy, index) => {
    let served = false;
    if (deploy.state === "ready" && deploy.context === "deploy-preview") {
      if (deploy.review_id !== null && !servedReviews.has(deploy.review_id)) {
        servedReviews.add(deploy.review_id);
        served = true;
      }
    } else if (deploy.state === "ready" && deploy.draft === 0 && deploy.branch !== null) {
      if (!servedBranches.has(deploy.branch)) {
        servedBranches.add(deploy.branch);
        served = true;
      }
    }
    const kept =
      served ||
      index < policy.keepDeploys ||
      deploy.created_at >= youngerThan ||
      deploy.locked === 1 ||
      deploy.id === publishedDeployId ||
      !FINISHED.has(deploy.state);
    if (!kept && deploy.expired_at === null) out.push(deploy.id);
  });
  return out;
}

export interface RetentionResult {
  /** Deploys expired (or, in a dry run, that would be). */
  expired: string[];
}

/**
 * Applies retention to every site. Each expiry is one guarded update (not published, not
 * locked, not yet expired — a restore or lock racing it wins), and the manifest is dropped
 * only after it commits. A dry run only says which deploys would expire.
 */
export async function applyRetention(
  ctx: GcContext,
  manifests: ManifestStore,
  policy: Pick<StoragePolicy, "keepDeploys" | "keepDeployDays">,
  options: { dryRun?: boolean } = {},
): Promise<RetentionResult> {
  const now = ctx.now();
  const sites = await ctx.db.selectFrom("sites").select(["id", "published_deploy_id"]).execute();
  const expired: string[] = [];
  for (const site of sites) {
    const deploys = await ctx.db
      .selectFrom("deploys")
      .select([
        "id",
        "state",
        "locked",
        "branch",
        "context",
        "draft",
        "review_id",
        "created_at",
        "expired_at",
      ])
      .where("site_id", "=", site.id)
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .execute();
    for (const id of deploysToExpire(deploys, site.published_deploy_id, policy, now)) {
      if (options.dryRun) {
        expired.push(id);
        continue;
      }
      const result = await ctx.db
        .updateTable("deploys")
        .set({ expired_at: isoNow(ctx) })
        .where("id", "=", id)
        .where("expired_at", "is", null)
        .where("locked", "=", 0)
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom("sites").select("id").where("published_deploy_id", "=", id))),
        )
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) continue;
      await manifests.delete(id);
      expired.push(id);
    }
  }
  if (expired.length > 0 && !options.dryRun) {
    ctx.log.info({ deploys: expired.length }, "deploys expired by retention");
  }
  return { expired };
}
