import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { shellQuote } from "../../lib/shell.ts";
import type { Build, Site } from "../db/schema.ts";
import { branchLabel, siteUrl } from "../sites/urls.ts";
import { buildEnvVars } from "../env/env.ts";
import { deployContext } from "../deploys/context.ts";
import { previewLabel } from "../sites/review-refs.ts";
import type { BuildLog } from "./build-log.ts";
import { fileEnvironment } from "./build-settings.ts";
import { prepareBuildTools } from "./build-tools.ts";
import { lastBuiltCommit } from "./ignore.ts";
import { restoreBuildCache, saveBuildCache, setStoreAside } from "./cache/build-cache.ts";
import { cacheRunFor, installDependencies, STORE_ENV } from "./cache/install-step.ts";
import { describeSandboxFailure, runSandboxed } from "./sandbox/run.ts";
import { SANDBOX_DEFAULTS } from "./sandbox/limits.ts";
import { databaseUidAllocator } from "./sandbox/uid-leases.ts";
import { diskFullMessage, freeBytes, isDiskFull } from "./sandbox/watch.ts";
import { formatSize } from "../../lib/sizes.ts";
import type { PlatformContext } from "../context.ts";
import { StageFailure, type BuildRunnerOptions, type Stage } from "./stage.ts";

/**
 * The "building site" stage: the site's command in the bubblewrap sandbox (`sandbox/run.ts`),
 * with the site's environment and Netlify's build variables, in its base directory, under the
 * configured wall-time limit.
 */

/** A successful build's cache, saved by the runner once the deploy is published. */
export interface BuiltSite {
  saveCache(): Promise<void>;
}

export async function buildSite(
  options: BuildRunnerOptions,
  site: Site,
  build: Build,
  deployId: string,
  sha: string,
  log: BuildLog,
  workDir: string,
  signal: AbortSignal,
  /** The pull/merge request of a deploy preview. */
  reviewId: number | null = null,
): Promise<BuiltSite> {
  const { ctx } = options;
  const command = site.build_cmd!;
  const base = site.base_dir;
  log.write(
    "building",
    `Custom build command detected. Proceeding with the specified command: '${command}'`,
  );
  if (base !== null) log.write("building", `Base directory: ${base}`);
  const context = deployContext(site, build.branch, reviewId);
  // netlify.toml's variables override the site's, as on Netlify.
  const env = {
    ...(await buildEnvVars(ctx, site, context, build.branch)),
    ...fileEnvironment(build),
  };
  const tools = await prepareBuildTools(ctx, site, env, workDir, log);
  // The dependency cache (`cache/`): restored before, the install when it missed, saved after.
  const cache = await cacheRunFor(options, site, build, deployId, reviewId, workDir, env, {
    nodeDir: tools.sandbox.toolchain?.dir,
    log,
  });
  const restored = await restoreBuildCache(cache);
  // The base directory (checked: relative, no "..", no control characters) is entered by the
  // sandbox's own shell, quoted; the whole checkout stays visible, as monorepos need.
  const inBase = (step: string): string =>
    tools.prelude + (base === null ? step : `cd -- ${shellQuote(base)} || exit 1\n${step}`);
  await refuseWhenDiskFull(ctx, "building site", workDir);
  const runStep = async (script: string) =>
    runSandboxed({
      ...ctx.config.builds.limits,
      uids: databaseUidAllocator(ctx.db, ctx.now),
      ...options.sandbox,
      ...tools.sandbox,
      command: script,
      workDir,
      env: { ...STORE_ENV, ...env },
      network: site.build_network === 1,
      netlify: {
        context,
        branch: build.branch,
        commitRef: sha,
        cachedCommitRef: (await lastBuiltCommit(ctx, build)) ?? undefined,
        deployId,
        buildId: build.id,
        siteId: site.id,
        siteName: site.name,
        url: siteUrl(ctx.config, site.name),
        deployUrl: siteUrl(ctx.config, `${deployId}--${site.name}`),
        deployPrimeUrl: siteUrl(
          ctx.config,
          `${reviewId === null ? branchLabel(build.branch) : previewLabel(reviewId)}--${site.name}`,
        ),
        pullRequest: reviewId !== null,
        repositoryUrl: site.repo_url ?? undefined,
      },
      timeoutMs: ctx.config.builds.timeoutSeconds * 1000,
      unsafeNoSandbox: ctx.config.builds.unsafeNoSandbox,
      hidePaths: [ctx.config.dataDir],
      signal,
      onLine: (line) =>
        line.stream === "system"
          ? log.write("building", line.line, true)
          : log.output("building", line.line),
    }).catch((error: unknown) => {
      // A setup problem (bubblewrap missing, …): its message says what to do.
      throw new StageFailure(
        "building site",
        error instanceof Error ? error.message : String(error),
      );
    });
  if (restored.install !== undefined) {
    await installDependencies(restored.install, (step) => runStep(inBase(step)), log);
    if (signal.aborted) throw new Error("stopped");
  }
  log.write("building", `$ ${command}`);
  const result = await runStep(inBase(command));
  if (signal.aborted) throw new Error("stopped");
  if (!result.sandboxed) {
    log.write(
      "building",
      "Warning: the build ran WITHOUT a sandbox (SLIPWAY_UNSAFE_NO_SANDBOX=true).",
    );
  }
  if (result.limit?.kind === "disk" || result.limit?.kind === "disk-full") {
    // The checkout is of no use now, and the failure must still be written down: free it first.
    await emptyDirectory(workDir);
  }
  const failure = describeSandboxFailure(result);
  if (failure !== undefined) {
    log.write("building", `"build.command" failed`, true);
    throw new StageFailure("building site", failure);
  }
  log.write("building", `(build.command completed in ${(result.durationMs / 1000).toFixed(1)}s)`);
  // The store leaves the checkout before publishing; the cache is saved after it
  // (`runner.ts`), so that it never delays the site going live.
  const storeRoot = await setStoreAside(workDir);
  // The output is stored before the deploy can be published (and the build read as done): a
  // long log's last batches must not trail behind the build's state.
  await log.flush();
  return { saveCache: () => saveBuildCache(cache, restored, storeRoot) };
}

async function emptyDirectory(dir: string): Promise<void> {
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    await rm(join(dir, entry), { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Builds do not start when the data directory (or the checkouts' disk) has less free space than
 * `SLIPWAY_MIN_FREE_DISK`: the database, the blob store and the build itself need it.
 */
export async function refuseWhenDiskFull(
  ctx: Pick<PlatformContext, "config">,
  stage: Stage,
  workDir?: string,
): Promise<void> {
  const floor = ctx.config.builds.limits?.minFreeDiskBytes ?? SANDBOX_DEFAULTS.minFreeDiskBytes;
  for (const dir of workDir === undefined ? [ctx.config.dataDir] : [ctx.config.dataDir, workDir]) {
    const free = await freeBytes(dir).catch(() => undefined);
    if (free !== undefined && isDiskFull(free, floor)) {
      throw new StageFailure(
        stage,
        `${diskFullMessage(floor)}; ${formatSize(free)} is free, so the build was not started. ` +
          `Free some space on the platform's disk and start the build again.`,
      );
    }
  }
}
