import { shellQuote } from "../../lib/shell.ts";
import type { Build, Site } from "../db/schema.ts";
import { branchLabel, siteUrl } from "../sites/urls.ts";
import { buildEnvVars } from "../env/env.ts";
import { deployContext } from "../deploys/context.ts";
import { previewLabel } from "../sites/review-refs.ts";
import type { BuildLog } from "./build-log.ts";
import { describeSandboxFailure, runSandboxed } from "./sandbox/run.ts";
import { StageFailure, type BuildRunnerOptions } from "./stage.ts";

/**
 * The "building site" stage: the site's command in the bubblewrap sandbox (`sandbox/run.ts`),
 * with the site's environment and Netlify's build variables, in its base directory, under the
 * configured wall-time limit.
 */

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
): Promise<void> {
  const { ctx } = options;
  const command = site.build_cmd!;
  const base = site.base_dir;
  log.write(
    "building",
    `Custom build command detected. Proceeding with the specified command: '${command}'`,
  );
  if (base !== null) log.write("building", `Base directory: ${base}`);
  log.write("building", `$ ${command}`);
  // The base directory (checked: relative, no "..", no control characters) is entered by the
  // sandbox's own shell, quoted; the whole checkout stays visible, as monorepos need.
  const script = base === null ? command : `cd -- ${shellQuote(base)} || exit 1\n${command}`;
  const context = deployContext(site, build.branch, reviewId);
  const result = await runSandboxed({
    ...options.sandbox,
    command: script,
    workDir,
    env: await buildEnvVars(ctx, site, context, build.branch),
    network: site.build_network === 1,
    netlify: {
      context,
      branch: build.branch,
      commitRef: sha,
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
    throw new StageFailure("building site", error instanceof Error ? error.message : String(error));
  });
  if (signal.aborted) throw new Error("stopped");
  if (!result.sandboxed) {
    log.write(
      "building",
      "Warning: the build ran WITHOUT a sandbox (SLIPWAY_UNSAFE_NO_SANDBOX=true).",
    );
  }
  const failure = describeSandboxFailure(result);
  if (failure !== undefined) {
    log.write("building", `"build.command" failed`, true);
    throw new StageFailure("building site", failure);
  }
  log.write("building", `(build.command completed in ${(result.durationMs / 1000).toFixed(1)}s)`);
  // The output is stored before the deploy can be published (and the build read as done): a
  // long log's last batches must not trail behind the build's state.
  await log.flush();
}
