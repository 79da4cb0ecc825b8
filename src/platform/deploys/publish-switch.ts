import type { Kysely } from "kysely";
import { durableTransaction } from "../../lib/database.ts";
import { recordAudit } from "../audit/record.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import { notifyDeployEvent } from "../notifications/notify.ts";
import type { Build, Deploy, PlatformDatabase, Site } from "../db/schema.ts";
import type { LeaseFence } from "../jobs/queue.ts";

/**
 * The atomic publish switch, shared by builds and direct deploys: in one transaction, with the
 * site's row locked, a deploy becomes `ready` and — when it may — the site's
 * `published_deploy_id` points at it. Readers (the edge) see the old deploy or the new one,
 * never a mix, and a crash leaves one or the other.
 *
 * Automatic publication (`publishBuildDeploy`, `publishDirectDeploy`) happens only for a
 * production deploy that is not a draft, when the published deploy is not locked and is not
 * newer (build numbers between builds, creation time otherwise). `restoreDeploy` is the explicit
 * form (Netlify's "publish deploy": rollback and roll-forward) and publishes any ready deploy of
 * the site, drafts included; a lock on the published deploy moves to the restored one, so
 * auto-publishing stays stopped.
 */

export type PublishOutcome =
  { kind: "published" } | { kind: "ready"; reason: string } | { kind: "stopped" };

/** Takes the site's row lock (Postgres) or the write lock (SQLite) with a no-op update. */
async function lockSite(trx: Kysely<PlatformDatabase>, siteId: string): Promise<Site | undefined> {
  return trx
    .updateTable("sites")
    .set((eb) => ({ state: eb.ref("state") }))
    .where("id", "=", siteId)
    .returningAll()
    .executeTakeFirst();
}

/** Why `deploy` must not replace the published deploy automatically, or undefined if it may. */
async function reasonNotToPublish(
  trx: Kysely<PlatformDatabase>,
  site: Site,
  deploy: Deploy,
  buildNumber: number | null,
): Promise<string | undefined> {
  if (deploy.draft === 1) {
    return `Draft deploy ${deploy.id} is ready at its own URL; drafts are never published automatically (deploy with --prod, or restore this deploy to publish it).`;
  }
  if (deploy.context !== "production") {
    return `Deploy ${deploy.id} is ready at its own URL (branch ${deploy.branch ?? "?"} is not the production branch, so the site itself is unchanged)`;
  }
  if (site.published_deploy_id === null || site.published_deploy_id === deploy.id) return undefined;
  const published = await trx
    .selectFrom("deploys")
    .leftJoin("builds", "builds.id", "deploys.build_id")
    .select(["deploys.id", "deploys.locked", "deploys.created_at", "builds.number"])
    .where("deploys.id", "=", site.published_deploy_id)
    .executeTakeFirst();
  if (!published) return undefined;
  if (published.locked === 1) {
    return `The published deploy ${published.id} is locked, so this deploy was not published; it is ready at its own URL (unlock the published deploy to publish new deploys).`;
  }
  const newer =
    published.number !== null && buildNumber !== null
      ? published.number > buildNumber
      : published.created_at > deploy.created_at;
  if (newer) {
    return `A newer deploy (${published.id}) is already published, so this older one was not; it is ready at its own URL.`;
  }
  return undefined;
}

/**
 * Marks `deploy` ready (with its `summary`, JSON from `summarizeForPublish`, when given) and,
 * unless there is a reason not to, publishes it.
 */
async function settle(
  ctx: PlatformContext,
  trx: Kysely<PlatformDatabase>,
  site: Site,
  deploy: Deploy,
  buildNumber: number | null,
  summary: string | undefined,
): Promise<PublishOutcome> {
  const reason = await reasonNotToPublish(trx, site, deploy, buildNumber);
  const now = isoNow(ctx);
  await trx
    .updateTable("deploys")
    .set({
      state: "ready",
      error_message: null,
      published_at: reason === undefined ? now : null,
      updated_at: now,
      ...(summary !== undefined && { summary }),
    })
    .where("id", "=", deploy.id)
    .execute();
  await notifyDeployEvent(ctx, trx, deploy.id, "deploy_succeeded");
  if (reason !== undefined) return { kind: "ready", reason };
  await trx
    .updateTable("sites")
    .set({ published_deploy_id: deploy.id, updated_at: now })
    .where("id", "=", site.id)
    .execute();
  await recordAudit(trx, {
    action: "deploy.publish",
    accountId: site.account_id,
    target: { type: "deploy", id: deploy.id, name: site.name },
    fields: ["published_deploy_id"],
  });
  return { kind: "published" };
}

export interface BuildPublishOptions {
  /** The build attempt's job lease: checked inside the transaction (see `JobQueue.holds`). */
  fence?: LeaseFence;
  /** Tests: runs last inside the transaction, before it commits. */
  beforeCommit?: () => Promise<void>;
  /** The deploy's summary (JSON from `summarizeForPublish`), stored as it becomes ready. */
  summary?: string;
}

/**
 * A build's deploy: ready (and published when it may be), and the build `done` — unless the
 * build was cancelled or superseded meanwhile (`stopped`), or the attempt publishing it no
 * longer holds its job lease (`lease_lost`: another worker may be running the build; this
 * attempt must neither mark the deploy ready nor switch the site). Nothing changes then.
 */
export async function publishBuildDeploy(
  ctx: PlatformContext,
  siteId: string,
  build: Pick<Build, "id" | "number" | "branch">,
  deployId: string,
  options: BuildPublishOptions = {},
): Promise<PublishOutcome | { kind: "lease_lost" }> {
  return durableTransaction(ctx.db, async (trx) => {
    // Inside the transaction that holds the write lock, so no reclaim can slip in between.
    if (options.fence !== undefined && !(await ctx.jobs.holds(options.fence, trx))) {
      return { kind: "lease_lost" as const };
    }
    const site = await lockSite(trx, siteId);
    const current = await trx
      .selectFrom("builds")
      .select("state")
      .where("id", "=", build.id)
      .executeTakeFirst();
    if (!site || current?.state !== "building") return { kind: "stopped" as const };
    const deploy = await trx
      .selectFrom("deploys")
      .selectAll()
      .where("id", "=", deployId)
      .executeTakeFirstOrThrow();
    const outcome = await settle(ctx, trx, site, deploy, build.number, options.summary);
    const now = isoNow(ctx);
    await trx
      .updateTable("builds")
      .set({ state: "done", error: null, finished_at: now, updated_at: now })
      .where("id", "=", build.id)
      .execute();
    await options.beforeCommit?.();
    return outcome;
  });
}

/**
 * A direct (API, CLI, zip) deploy whose manifest is stored: from `processing` to ready (and
 * published when it may be). `stopped` when it is no longer processing (cancelled, deleted, or
 * already finished by another run: finishing is idempotent).
 */
export async function publishDirectDeploy(
  ctx: PlatformContext,
  siteId: string,
  deployId: string,
  /** The deploy's summary (JSON from `summarizeForPublish`), stored as it becomes ready. */
  summary?: string,
): Promise<PublishOutcome> {
  return durableTransaction(ctx.db, async (trx) => {
    const site = await lockSite(trx, siteId);
    const deploy = await trx
      .selectFrom("deploys")
      .selectAll()
      .where("id", "=", deployId)
      .where("site_id", "=", siteId)
      .executeTakeFirst();
    if (!site || deploy?.state !== "processing") return { kind: "stopped" as const };
    return settle(ctx, trx, site, deploy, null, summary);
  });
}

export type RestoreOutcome =
  { ok: true; deploy: Deploy } | { ok: false; reason: string; expired?: boolean };

/**
 * Publishes a ready deploy of the site now, whatever its age, context or draft flag (an explicit
 * request). If the published deploy was locked, the lock moves to this one.
 */
export async function restoreDeploy(
  ctx: PlatformContext,
  siteId: string,
  deployId: string,
): Promise<RestoreOutcome> {
  return durableTransaction(ctx.db, async (trx): Promise<RestoreOutcome> => {
    const site = await lockSite(trx, siteId);
    const deploy = await trx
      .selectFrom("deploys")
      .selectAll()
      .where("id", "=", deployId)
      .where("site_id", "=", siteId)
      .executeTakeFirst();
    if (!site || !deploy) return { ok: false, reason: "the deploy no longer exists" };
    if (deploy.expired_at !== null) {
      return {
        ok: false,
        expired: true,
        reason: `deploy ${deploy.id} expired on ${deploy.expired_at} under the deploy retention settings (SLIPWAY_KEEP_DEPLOYS, SLIPWAY_KEEP_DEPLOY_DAYS) and its files are gone; deploy again, or lock deploys you want to keep`,
      };
    }
    if (deploy.state !== "ready") {
      return {
        ok: false,
        reason: `deploy ${deploy.id} is ${deploy.state}, not ready; only a ready deploy can be published`,
      };
    }
    const now = isoNow(ctx);
    let locked = deploy.locked;
    const previousId = site.published_deploy_id;
    if (previousId !== null && previousId !== deploy.id) {
      const previous = await trx
        .selectFrom("deploys")
        .select("locked")
        .where("id", "=", previousId)
        .executeTakeFirst();
      if (previous?.locked === 1) {
        locked = 1;
        await trx
          .updateTable("deploys")
          .set({ locked: 0, updated_at: now })
          .where("id", "=", previousId)
          .execute();
      }
    }
    const updated = await trx
      .updateTable("deploys")
      .set({ published_at: now, locked, updated_at: now })
      .where("id", "=", deploy.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await trx
      .updateTable("sites")
      .set({ published_deploy_id: deploy.id, updated_at: now })
      .where("id", "=", siteId)
      .execute();
    await recordAudit(trx, {
      action: "deploy.publish",
      accountId: site.account_id,
      target: { type: "deploy", id: deploy.id, name: site.name },
      fields: ["published_deploy_id"],
    });
    return { ok: true, deploy: updated };
  });
}

/**
 * The production deploy published before the current one (the newest `published_at` among the
 * site's other ready deploys), for `PUT /sites/:id/rollback`.
 */
export async function previousPublishedDeploy(
  ctx: PlatformContext,
  site: Pick<Site, "id" | "published_deploy_id">,
): Promise<Deploy | undefined> {
  let query = ctx.db
    .selectFrom("deploys")
    .selectAll()
    .where("site_id", "=", site.id)
    .where("state", "=", "ready")
    .where("expired_at", "is", null)
    .where("published_at", "is not", null);
  if (site.published_deploy_id !== null) query = query.where("id", "!=", site.published_deploy_id);
  return query
    .orderBy("published_at", "desc")
    .orderBy("created_at", "desc")
    .limit(1)
    .executeTakeFirst();
}
