import type { Kysely } from "kysely";
import { isoNow, type PlatformContext } from "../context.ts";
import type { Deploy, PlatformDatabase } from "../db/schema.ts";
import type { JobHandler } from "../jobs/workers.ts";
import type { BlobStore } from "./blob-store.ts";
import { createManifest, type DeployManifest, type ManifestEntry } from "./manifest.ts";
import { publishDirectDeploy, type PublishOutcome } from "./publish-switch.ts";
import { clearUploadState, failDirectDeploy, type DeployServices } from "./digest.ts";
import { summarizeForPublish } from "./summary.ts";

/**
 * Finishing a digest deploy: its manifest, then the shared atomic switch. It runs in the request
 * that completed the deploy, and again from the `deploy` job and at start-up if the process died
 * first; it is idempotent (only a `processing` deploy moves).
 */

export const DEPLOY_QUEUE = "deploy";
export const deployJobKey = (deployId: string): string => `deploy:${deployId}`;
/** The job is a safety net: it runs after the inline finish should long have happened. */
const JOB_DELAY_MS = 10_000;

export async function enqueueFinish(
  ctx: PlatformContext,
  trx: Kysely<PlatformDatabase>,
  deployId: string,
): Promise<void> {
  await ctx.jobs.enqueue(
    {
      queue: DEPLOY_QUEUE,
      payload: { deployId },
      dedupeKey: deployJobKey(deployId),
      maxAttempts: 5,
      runAt: new Date(ctx.now().getTime() + JOB_DELAY_MS),
    },
    trx,
  );
}

/** Runs the finishing step in this request unless configured off; failures are the job's. */
export async function finishAfterCommit(
  ctx: PlatformContext,
  services: DeployServices,
  deployId: string,
  manifest?: DeployManifest,
): Promise<void> {
  if (services.finishInline === false) return;
  try {
    await completeDeploy(ctx, services, deployId, manifest);
  } catch (error) {
    ctx.log.error({ err: error, deployId }, "finishing a deploy failed; its job will retry");
  }
}

/** The manifest of a finished declaration: every declared path with its blob's size. */
async function manifestFromDeclaration(
  ctx: PlatformContext,
  blobs: BlobStore,
  deploy: Deploy,
): Promise<DeployManifest | string> {
  const rows = await ctx.db
    .selectFrom("deploy_files")
    .select(["path", "sha1"])
    .where("deploy_id", "=", deploy.id)
    .execute();
  // Never publish a partial list (a declaration is written whole, or as a manifest instead).
  if (deploy.file_count !== null && rows.length !== deploy.file_count) {
    return `the list of files declared for this deploy is incomplete (${rows.length} of ${deploy.file_count}); deploy again`;
  }
  const sizes = await blobs.sizes(rows.map((r) => r.sha1));
  const lost = rows.find((r) => !sizes.has(r.sha1));
  if (lost !== undefined) {
    return `the content of ${JSON.stringify(lost.path)} (${lost.sha1}) is not in the store; deploy again`;
  }
  const entries: [string, ManifestEntry][] = rows.map((r) => [
    r.path,
    { sha1: r.sha1, size: sizes.get(r.sha1)! },
  ]);
  return createManifest(entries);
}

/**
 * Finishes a `processing` direct deploy: writes its manifest (unless already written), then the
 * atomic switch. Idempotent; anything but `processing` is left alone.
 */
export async function completeDeploy(
  ctx: PlatformContext,
  services: DeployServices,
  deployId: string,
  /** The deploy's manifest when the caller has just stored it (saves reading it back). */
  stored?: DeployManifest,
): Promise<PublishOutcome> {
  const deploy = await ctx.db
    .selectFrom("deploys")
    .selectAll()
    .where("id", "=", deployId)
    .executeTakeFirst();
  if (deploy?.state !== "processing" || deploy.build_id !== null) return { kind: "stopped" };
  const site = await ctx.db
    .selectFrom("sites")
    .selectAll()
    .where("id", "=", deploy.site_id)
    .executeTakeFirstOrThrow();
  let manifest = stored ?? (await services.manifests.get(deployId));
  if (!manifest) {
    // The uploads were staged without a sync each: one sync for all of them, before the
    // manifest that refers to them exists.
    await services.blobs.commitStaged(deployId);
    const built = await manifestFromDeclaration(ctx, services.blobs, deploy);
    if (typeof built === "string") {
      await failDirectDeploy(ctx, deployId, built, ["processing"]);
      return { kind: "stopped" };
    }
    manifest = built;
    await services.manifests.put(deployId, manifest);
  }
  let totalBytes = 0;
  for (const entry of manifest.files.values()) totalBytes += entry.size;
  await ctx.db
    .updateTable("deploys")
    .set({ file_count: manifest.files.size, size_bytes: totalBytes, updated_at: isoNow(ctx) })
    .where("id", "=", deployId)
    .where("state", "=", "processing")
    .execute();
  // Parsed here, before the publish transaction; a failure shows in the summary, nowhere else.
  const summary =
    services.summarizeRules &&
    (await summarizeForPublish(ctx, deployId, services.summarizeRules, manifest, services.blobs));
  const outcome = await publishDirectDeploy(ctx, site.id, deployId, summary);
  if (outcome.kind !== "stopped") {
    await ctx.db
      .updateTable("deploys")
      .set({ required: "[]", required_functions: "[]" })
      .where("id", "=", deployId)
      .execute();
    await clearUploadState(ctx.db, deployId);
    services.onPublished?.(site.name);
    ctx.log.info({ deployId, siteId: site.id, outcome: outcome.kind }, "deploy finished");
  }
  return outcome;
}

/** At start: finishes every direct deploy a previous process left in `processing`. */
export async function resumeProcessingDeploys(
  ctx: PlatformContext,
  services: DeployServices,
): Promise<number> {
  const rows = await ctx.db
    .selectFrom("deploys")
    .select("id")
    .where("state", "=", "processing")
    .where("build_id", "is", null)
    .execute();
  let finished = 0;
  for (const { id } of rows) {
    try {
      if ((await completeDeploy(ctx, services, id)).kind !== "stopped") finished++;
    } catch (error) {
      ctx.log.error({ err: error, deployId: id }, "resuming a deploy failed; its job will retry");
    }
  }
  return finished;
}

/** The `deploy` queue's handler: the finishing step, at least once. */
export function createDeployFinishHandler(
  ctx: PlatformContext,
  services: DeployServices,
): JobHandler {
  return {
    maxRunMs: 30 * 60_000,
    run: async (job) => {
      const payload = job.payload as { deployId?: unknown } | null;
      if (typeof payload?.deployId !== "string") return "done";
      await completeDeploy(ctx, services, payload.deployId);
      return "done";
    },
  };
}
