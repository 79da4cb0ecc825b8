import type { Build, Site } from "../../db/schema.ts";
import type { BuildLog } from "../build-log.ts";
import { SANDBOX_WORKDIR } from "../sandbox/bwrap-args.ts";
import { describeSandboxFailure, type SandboxResult } from "../sandbox/run.ts";
import { StageFailure, type BuildRunnerOptions } from "../stage.ts";
import type { BuildCacheRun } from "./build-cache.ts";
import { storeEnvironment, type InstallPlan } from "./install.ts";

/**
 * The build stage's side of the cache: what a run of it is (`cacheRunFor`), the variables that
 * put the package store in the checkout, and the install itself — its own part of the log,
 * run in the same sandbox as the command, failing the build as the command would.
 */

/** The variables the install and the command see (the site's own take precedence). */
export const STORE_ENV = storeEnvironment(SANDBOX_WORKDIR);

export async function cacheRunFor(
  options: BuildRunnerOptions,
  site: Site,
  build: Build,
  deployId: string,
  reviewId: number | null,
  workDir: string,
  env: Readonly<Record<string, string>>,
  { nodeDir, log }: { nodeDir: string | undefined; log: Pick<BuildLog, "write"> },
): Promise<BuildCacheRun> {
  const { ctx } = options;
  // A preview that waited for approval came from a fork or an outside author (`previews/`).
  const deploy = await ctx.db
    .selectFrom("deploys")
    .select(["approved_by", "context"])
    .where("id", "=", deployId)
    .executeTakeFirst();
  return {
    ctx,
    blobs: options.blobs,
    siteId: site.id,
    base: site.base_dir,
    branch: build.branch,
    productionBranch: site.repo_branch,
    clearCache: build.clear_cache === 1,
    untrusted:
      reviewId !== null && deploy?.context === "deploy-preview" && deploy.approved_by !== null,
    workDir,
    env,
    nodeDir,
    log,
  };
}

/** Runs the install; `run` runs a script in the build's sandbox, in the base directory. */
export async function installDependencies(
  plan: InstallPlan,
  run: (script: string) => Promise<SandboxResult>,
  log: Pick<BuildLog, "write">,
): Promise<void> {
  const command = plan.command.join(" ");
  log.write("building", `Installing dependencies: $ ${command}`);
  const result = await run(command);
  const failure = describeSandboxFailure(result);
  if (failure !== undefined) {
    log.write("building", `Installing dependencies failed ("${command}")`, true);
    throw new StageFailure(
      "building site",
      `Installing dependencies failed: ${failure.replace("The build command", `"${command}"`)}`,
    );
  }
  log.write("building", `(dependencies installed in ${(result.durationMs / 1000).toFixed(1)}s)`);
}
