import { join } from "node:path";
import { isoNow } from "../context.ts";
import type { Build, Site } from "../db/schema.ts";
import { PublishError, publishDirectory } from "../deploys/publish.ts";
import { publishBuildDeploy } from "../deploys/publish-switch.ts";
import { manifestBlobs, recordBlobOwnership } from "../deploys/ownership.ts";
import { siteUrl } from "../sites/urls.ts";
import type { BuildLog } from "./build-log.ts";
import { StageFailure, type BuildRunnerOptions } from "./stage.ts";

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
    result = await publishDirectory(publishPath, { blobs: options.blobs, mustBeWithin: workDir });
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
  // A re-run may produce different bytes than the interrupted attempt: the deploy was never
  // served (not ready), so its old manifest is replaced.
  await options.manifests.delete(deployId);
  await options.manifests.put(deployId, manifest);
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

  const outcome = await publishBuildDeploy(ctx, site.id, build, deployId);
  switch (outcome.kind) {
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
