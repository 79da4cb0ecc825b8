import { join } from "node:path";
import { isoNow, type PlatformContext } from "../context.ts";
import type { Build, Site } from "../db/schema.ts";
import { PublishError, publishDirectory } from "../deploys/publish.ts";
import { publishBuildDeploy } from "../deploys/publish-switch.ts";
import type { BlobStore } from "../deploys/blob-store.ts";
import {
  ManifestConflictError,
  type DeployManifest,
  type ManifestStore,
} from "../deploys/manifest.ts";
import type { LeaseFence } from "../jobs/queue.ts";
import { manifestBlobs, recordBlobOwnership } from "../deploys/ownership.ts";
import { summarizeForPublish } from "../deploys/summary.ts";
import { siteUrl } from "../sites/urls.ts";
import type { BuildLog } from "./build-log.ts";
import { LeaseLost, pauseForTest, StageFailure, type BuildRunnerOptions } from "./stage.ts";

/**
 * The "deploying" stage: `publishDirectory` into the blob store, the manifest stored under the
 * deploy id, then one transaction switches the site's published deploy — unless a newer build
 * already published (build numbers) or the published deploy is locked.
 */

export async function deploySite(
  options: BuildRunnerOptions,
  site: Site,
  build: Build,
  deployId: string,
  baseDir: string,
  workDir: string,
  log: BuildLog,
  attempt: { signal: AbortSignal; fence: LeaseFence },
): Promise<"published" | "ready" | "stopped"> {
  const { ctx } = options;
  const dir = site.publish_dir ?? "";
  const publishPath = join(baseDir, dir);
  log.write("deploying", `Starting to deploy site from '${dir === "" ? "/" : dir}'`);
  await ctx.db
    .updateTable("deploys")
    .set({ state: "uploading", updated_at: isoNow(ctx) })
    .where("id", "=", deployId)
    .where("state", "=", "building")
    .execute();
  let result;
  try {
    result = await publishDirectory(publishPath, {
      blobs: pausingDuringUpload(options, attempt.signal),
      mustBeWithin: workDir,
    });
  } catch (error) {
    if (error instanceof PublishError) {
      const hint =
        error.code === "not_a_directory"
          ? ` The build did not produce the publish directory '${dir}': check the site's publish directory (repo.dir) and that the build command writes there.`
          : "";
      throw new StageFailure(
        "deploying",
        `Deploy did not succeed: ${error.message.replace(publishPath, dir || ".")}.${hint}`,
      );
    }
    throw error;
  }
  const { manifest, stats } = result;
  log.write(
    "deploying",
    `${stats.files} files (${stats.totalBytes} bytes); ${stats.newBlobs} new file(s) stored (${stats.newBytes} bytes)`,
  );
  if (attempt.signal.aborted) throw new Error("stopped");
  await storeAttemptManifest(ctx, options.manifests, deployId, manifest, attempt.fence);
  // The account provided this content: its digest deploys need not upload it again.
  await recordBlobOwnership(ctx.db, site.account_id, manifestBlobs(manifest), isoNow(ctx));
  await ctx.db
    .updateTable("deploys")
    .set({
      state: "processing",
      file_count: stats.files,
      size_bytes: stats.totalBytes,
      updated_at: isoNow(ctx),
    })
    .where("id", "=", deployId)
    .where("state", "=", "uploading")
    .execute();

  // Parsed here, before the publish transaction; a failure shows in the summary, nowhere else.
  const summary =
    options.summarizeRules &&
    (await summarizeForPublish(ctx, deployId, options.summarizeRules, manifest, options.blobs));
  if (attempt.signal.aborted) throw new Error("stopped");
  const outcome = await publishBuildDeploy(ctx, site.id, build, deployId, {
    fence: attempt.fence,
    beforeCommit: () => pauseForTest(options, "publish", attempt.signal),
    summary,
  });
  switch (outcome.kind) {
    case "lease_lost":
      throw new LeaseLost();
    case "stopped":
      return "stopped";
    case "published":
      log.write("deploying", `Published deploy ${deployId} to ${siteUrl(ctx.config, site.name)}`);
      options.onPublished?.(site);
      return "published";
    case "ready":
      log.write("deploying", outcome.reason);
      options.onPublished?.(site);
      return "ready";
  }
}

/**
 * Stores the deploy's manifest. An earlier attempt may have stored a different one (a build's
 * output need not be byte-for-byte repeatable): it is replaced only while this attempt holds
 * the job's lease and the deploy was never served — neither ready nor any site's published
 * deploy. A ready deploy's manifest is never deleted.
 */
export async function storeAttemptManifest(
  ctx: PlatformContext,
  manifests: ManifestStore,
  deployId: string,
  manifest: DeployManifest,
  fence: LeaseFence,
): Promise<void> {
  try {
    await manifests.put(deployId, manifest);
    return;
  } catch (error) {
    if (!(error instanceof ManifestConflictError)) throw error;
  }
  if (!(await ctx.jobs.holds(fence))) throw new LeaseLost();
  const deploy = await ctx.db
    .selectFrom("deploys")
    .select("state")
    .where("id", "=", deployId)
    .executeTakeFirst();
  const publishedBy = await ctx.db
    .selectFrom("sites")
    .select("id")
    .where("published_deploy_id", "=", deployId)
    .executeTakeFirst();
  if (deploy === undefined || deploy.state === "ready" || publishedBy !== undefined) {
    throw new Error(
      `deploy ${deployId} already has a different manifest and is ${deploy?.state ?? "gone"}${publishedBy ? " and published" : ""}; its manifest is not replaced`,
    );
  }
  await manifests.delete(deployId);
  await manifests.put(deployId, manifest);
}

/**
 * The blob store, except that with `SLIPWAY_TEST_PAUSE_AT=upload` each upload lane holds after
 * its first blob is stored, and a publish whose blobs worker threads wrote (`directWriter`)
 * holds before their batch is synced: a test kills the platform halfway through an upload.
 */
function pausingDuringUpload(options: BuildRunnerOptions, signal: AbortSignal): BlobStore {
  if (options.testPauseAt !== "upload") return options.blobs;
  const { blobs } = options;
  return new Proxy(blobs, {
    get(target, property, receiver) {
      if (property === "put") {
        return async (...args: Parameters<BlobStore["put"]>) => {
          const result = await blobs.put(...args);
          await pauseForTest(options, "upload", signal);
          return result;
        };
      }
      if (property === "flush") {
        return async (...args: Parameters<BlobStore["flush"]>) => {
          await pauseForTest(options, "upload", signal);
          return blobs.flush(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
