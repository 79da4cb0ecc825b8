import { sql } from "kysely";
import { existsSync } from "node:fs";
import { mkdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { isoNow, type PlatformContext } from "../context.ts";
import type { Build, RepoProvider, Site } from "../db/schema.ts";
import type { BlobStore } from "../deploys/blob-store.ts";
import type { ManifestStore } from "../deploys/manifest.ts";
import { PublishError, publishDirectory } from "../deploys/publish.ts";
import { publishBuildDeploy } from "../deploys/publish-switch.ts";
import { manifestBlobs, recordBlobOwnership } from "../deploys/ownership.ts";
import { branchLabel, siteUrl } from "../sites/urls.ts";
import { buildEnvVars } from "../env/env.ts";
import { openPrivateKey } from "../deploy-keys/deploy-keys.ts";
import { checkRepoHost, isAllowedHost } from "../repos/host-guard.ts";
import { RepoUrlError, validateRepoUrl } from "../repos/repo-url.ts";
import { checkLinkBeforeBuild } from "../links/health.ts";
import { BuildLog } from "./build-log.ts";
import { deployKeyPlace, GitFetchError, type GitProvider } from "../repos/diagnose.ts";
import { fetchRepository, type FetchResult, type HttpsCredentials } from "../repos/git-fetch.ts";
import { installationCloneAccess } from "../connections/installations.ts";
import { DbHostKeyStore } from "../repos/known-hosts-store.ts";
import type { LeasedJob, ReclaimedJob } from "../jobs/queue.ts";
import { describeSandboxFailure, runSandboxed, type SandboxOptions } from "./sandbox/run.ts";
import { BUILD_MAX_ATTEMPTS, BUILD_QUEUE } from "./service.ts";
import { deployContext } from "../deploys/context.ts";
import { previewFetchRef, previewLabel } from "../sites/review-refs.ts";
import { reportCommitStatus } from "../commit-statuses/statuses.ts";
import { SHUTDOWN, type JobHandler, type JobResult } from "../jobs/workers.ts";

/**
 * The build job: one build, from the queue to a published deploy, in Netlify's stages, each
 * logged with timestamps to `build_log_lines`:
 *
 *   initializing → preparing repo → building site → deploying → cleanup
 *
 * - preparing repo: the connect-time host check (`repos/host-guard.ts`), then `git-fetch.ts`
 *   with the site's deploy key, the account's pinned host keys (`known_hosts`), into the
 *   site's mirror under the data dir, checked out into a fresh per-build directory;
 * - building site: the site's command in the bubblewrap sandbox (`sandbox.ts`), with the site's
 *   environment, in its base directory, under the configured wall-time limit;
 * - deploying: `publishDirectory` into the blob store, the manifest stored under the deploy id,
 *   then one transaction switches the site's published deploy — unless a newer build already
 *   published (build numbers) or the published deploy is locked.
 *
 * Every failure ends the build in `error` with an actionable message in `build.error`, the
 * deploy's `error_message` and the log. The job is idempotent (at-least-once queue): a finished
 * build is never run again, and a build found in `building` was interrupted (a crash, a restart)
 * and is run again from the start, once. Cancellation is read from the database (so it works
 * whichever process runs the build) and kills the sandbox.
 */

export interface BuildRunnerOptions {
  ctx: PlatformContext;
  blobs: BlobStore;
  manifests: ManifestStore;
  /** Per-build checkouts (`<root>/<buildId>`); must be searchable by build uids (0711). */
  workRoot: string;
  /** Per-site bare mirrors (`<root>/<siteId>.git`). */
  mirrorRoot: string;
  /** Where git-fetch puts its per-fetch key directories (0700 each, removed afterwards). */
  gitTempRoot: string;
  /** A CA bundle git trusts for https repositories instead of the system's (private CAs, tests). */
  gitCaFile?: string;
  /** Called after a site's published deploy changed (the edge's cache). */
  onPublished?: (site: Site) => void;
  /** Sandbox settings beyond the config's (tests: limits, extra read-only paths). */
  sandbox?: Partial<Omit<SandboxOptions, "command" | "workDir" | "signal" | "onLine">>;
  /** How often a running build checks whether it was cancelled. Default 1 s. */
  cancelPollMs?: number;
}

/** A failure in a stage, with the message for the user. */
class StageFailure extends Error {
  constructor(
    readonly stage: Stage,
    message: string,
  ) {
    super(message);
  }
}

type Stage = "initializing" | "preparing repo" | "building site" | "deploying" | "cleanup";

const SECTION = {
  initializing: "initializing",
  "preparing repo": "preparing_repo",
  "building site": "building",
  deploying: "deploying",
  cleanup: "cleanup",
} as const;

const INTERRUPTED = "interrupted by a restart";

function gitProvider(provider: RepoProvider | null): GitProvider {
  switch (provider) {
    case "gitlab":
    case "github":
    case "bitbucket":
    case "gitea":
      return provider;
    default:
      return "git";
  }
}

const shellQuote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

export function createBuildHandler(options: BuildRunnerOptions): JobHandler {
  const { ctx } = options;
  const timeoutMs = ctx.config.builds.timeoutSeconds * 1000;
  return {
    // Fetch and build each have the build time limit; publishing gets a few minutes more.
    maxRunMs: 2 * timeoutMs + 5 * 60_000,
    run: (job, signal) => runBuildJob(options, job, signal),
    onReclaimed: (reclaimed) => onReclaimed(options.ctx, reclaimed),
  };
}

function payloadBuildId(job: LeasedJob): string {
  const payload = job.payload as { buildId?: unknown } | null;
  if (typeof payload?.buildId !== "string") throw new Error(`job ${job.id} has no buildId`);
  return payload.buildId;
}

/** A build whose job ran out of attempts while it was running: it fails for good. */
async function onReclaimed(ctx: PlatformContext, reclaimed: ReclaimedJob): Promise<void> {
  if (reclaimed.job.queue !== BUILD_QUEUE || reclaimed.outcome !== "failed") return;
  const buildId = payloadBuildId(reclaimed.job);
  await failBuild(
    ctx,
    buildId,
    `The build was ${INTERRUPTED} (or its worker was lost) ${reclaimed.job.attempt} times and is not run again. Start a new build (POST /api/v1/sites/:site_id/builds) once the platform is stable.`,
    ["enqueued", "building"],
  );
}

/**
 * Marks a build (and its deploy) failed with `message`, if it is still in one of `from`;
 * returns whether it did. The log gets the message as an error line.
 */
async function failBuild(
  ctx: PlatformContext,
  buildId: string,
  message: string,
  from: readonly Build["state"][] = ["building"],
  log?: BuildLog,
): Promise<boolean> {
  const now = isoNow(ctx);
  const changed = await ctx.db.transaction().execute(async (trx) => {
    const build = await trx
      .updateTable("builds")
      .set({ state: "error", error: message, finished_at: now, updated_at: now })
      .where("id", "=", buildId)
      .where("state", "in", [...from])
      .returning(["deploy_id"])
      .executeTakeFirst();
    if (!build) return false;
    if (build.deploy_id !== null) {
      await trx
        .updateTable("deploys")
        .set({ state: "error", error_message: message, updated_at: now })
        .where("id", "=", build.deploy_id)
        .execute();
    }
    return true;
  });
  if (changed) await reportCommitStatus(ctx, buildId, "failure");
  if (changed && !log) {
    const own = await BuildLog.open(ctx.db, buildId);
    own.write("cleanup", message, true);
    await own.close();
  }
  return changed;
}

async function runBuildJob(
  options: BuildRunnerOptions,
  job: LeasedJob,
  workerSignal: AbortSignal,
): Promise<JobResult> {
  const { ctx } = options;
  const buildId = payloadBuildId(job);
  const build = await ctx.db
    .selectFrom("builds")
    .selectAll()
    .where("id", "=", buildId)
    .executeTakeFirst();
  // Finished, cancelled or superseded (or deleted with its site): nothing to do, at-least-once.
  if (!build || (build.state !== "enqueued" && build.state !== "building")) return "done";

  const log = await BuildLog.open(ctx.db, buildId);
  const startedMs = Date.now();
  if (build.state === "building") {
    // The previous attempt never finished: its process died, or its lease was lost.
    if (build.attempts >= BUILD_MAX_ATTEMPTS) {
      await log.close();
      await failBuild(
        ctx,
        buildId,
        `The build was ${INTERRUPTED} (or its worker was lost) ${build.attempts} times and is not run again; start a new build.`,
        ["building"],
      );
      return "done";
    }
    log.write(
      "initializing",
      `The previous attempt (${build.attempts}) was ${INTERRUPTED} of the platform (or its worker was lost) before it finished; running the build again from the start (attempt ${build.attempts + 1} of ${BUILD_MAX_ATTEMPTS}).`,
      true,
    );
  }

  const now = isoNow(ctx);
  const claimed = await ctx.db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable("builds")
      .set((eb) => ({
        state: "building",
        attempts: eb("attempts", "+", 1),
        started_at: eb.fn.coalesce("started_at", eb.val(now)),
        error: null,
        updated_at: now,
      }))
      .where("id", "=", buildId)
      .where("state", "in", ["enqueued", "building"])
      .returningAll()
      .executeTakeFirst();
    if (row?.deploy_id) {
      await trx
        .updateTable("deploys")
        .set({ state: "building", error_message: null, updated_at: now })
        .where("id", "=", row.deploy_id)
        .execute();
    }
    return row;
  });
  if (!claimed) {
    await log.close();
    return "done";
  }

  // Cancellation is a database state, so it reaches the build whichever process runs it.
  const cancel = new AbortController();
  const poll = setInterval(() => {
    ctx.db
      .selectFrom("builds")
      .select("state")
      .where("id", "=", buildId)
      .executeTakeFirst()
      .then(
        (row) => {
          if (row?.state !== "building") cancel.abort("cancelled");
        },
        () => undefined,
      );
  }, options.cancelPollMs ?? 1000);
  const signal = AbortSignal.any([workerSignal, cancel.signal]);
  const workDir = join(options.workRoot, buildId);

  try {
    const outcome = await runStages(options, claimed, log, workDir, signal, startedMs);
    await reportCommitStatus(ctx, buildId, "success");
    return outcome;
  } catch (error) {
    if (signal.aborted) return stopped(options, claimed, log, signal, workerSignal);
    const message =
      error instanceof StageFailure
        ? error.message
        : `Internal error: ${error instanceof Error ? error.message : String(error)}`;
    const stage = error instanceof StageFailure ? error.stage : "building site";
    if (!(error instanceof StageFailure)) {
      ctx.log.error({ err: error, buildId }, "build failed with an internal error");
    }
    log.write(SECTION[stage], message, true);
    log.write(SECTION[stage], `Failing build: Failed during stage '${stage}'`, true);
    log.write(
      "cleanup",
      `Finished processing build request in ${((Date.now() - startedMs) / 1000).toFixed(3)}s`,
    );
    await log.close();
    await failBuild(ctx, buildId, message, ["building"], log);
    return "done";
  } finally {
    clearInterval(poll);
    await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** The build was stopped from outside: cancelled, shutting down, lease lost or out of time. */
async function stopped(
  options: BuildRunnerOptions,
  build: Build,
  log: BuildLog,
  signal: AbortSignal,
  workerSignal: AbortSignal,
): Promise<JobResult> {
  const { ctx } = options;
  const reason: unknown = workerSignal.aborted ? workerSignal.reason : signal.reason;
  if (reason === SHUTDOWN) {
    // A graceful stop is not the build's failure: the attempt is given back (as the job's is).
    await ctx.db
      .updateTable("builds")
      .set((eb) => ({ attempts: eb("attempts", "-", 1) }))
      .where("id", "=", build.id)
      .where("state", "=", "building")
      .execute();
    log.write(
      "cleanup",
      "The platform is shutting down: this build stopped here and runs again when it restarts.",
      true,
    );
    await log.close();
    return "released";
  }
  if (reason === "lease lost") {
    // Another worker owns the job now; it writes the rest of the story.
    await log.close();
    return "done";
  }
  if (reason === "time limit") {
    const message = `The build did not finish within its time limit (${Math.round((2 * ctx.config.builds.timeoutSeconds + 300) / 60)} minutes for fetching, building and publishing) and was stopped.`;
    log.write("cleanup", message, true);
    await log.close();
    await failBuild(ctx, build.id, message, ["building"], log);
    return "done";
  }
  log.write("cleanup", "Build cancelled; its processes were stopped.", true);
  await log.close();
  return "done";
}

async function runStages(
  options: BuildRunnerOptions,
  build: Build,
  log: BuildLog,
  workDir: string,
  signal: AbortSignal,
  startedMs: number,
): Promise<JobResult> {
  const { ctx } = options;
  const site = await ctx.db
    .selectFrom("sites")
    .selectAll()
    .where("id", "=", build.site_id)
    .executeTakeFirst();
  if (!site) throw new StageFailure("initializing", "The site was deleted.");
  const deployId = build.deploy_id!;
  const deploy = await ctx.db
    .selectFrom("deploys")
    .selectAll()
    .where("id", "=", deployId)
    .executeTakeFirstOrThrow();

  // ---- initializing
  log.write("initializing", "Build ready to start");
  log.write(
    "initializing",
    `Slipway build ${build.id} (#${build.number}, attempt ${build.attempts}) of site ${site.name}, deploy ${deployId}`,
  );
  log.write(
    "initializing",
    `Context ${deploy.context}, branch ${build.branch}${build.sha ? `, commit ${build.sha}` : ""}; triggered by ${build.trigger}`,
  );
  if (site.repo_url === null) {
    throw new StageFailure(
      "initializing",
      "The site is no longer linked to a repository (it was unlinked after this build was queued); link it again with PATCH /api/v1/sites/:site_id.",
    );
  }
  log.write("initializing", "Section completed: initializing");

  // ---- preparing repo
  log.write("preparing_repo", "Starting to prepare the repo for build");
  if (site.connection_id !== null) {
    // Linked through a provider connection: a removed key or a revoked token stops the build
    // here with that reason (shown on the site until the link is repaired).
    const broken = await checkLinkBeforeBuild(ctx, site, (message, error) =>
      log.write("preparing_repo", message, error),
    );
    if (broken !== undefined) throw new StageFailure("preparing repo", broken);
  }
  // A deploy preview fetches its request's head ref (its source branch on Bitbucket).
  const reviewId = deploy.context === "deploy-preview" ? deploy.review_id : null;
  const fetchRef = reviewId === null ? undefined : previewFetchRef(site.repo_provider, reviewId);
  const fetched = await prepareRepo(options, site, build, log, workDir, signal, fetchRef);
  if (signal.aborted) throw new Error("stopped");
  await ctx.db
    .updateTable("builds")
    .set({ sha: fetched.sha, updated_at: isoNow(ctx) })
    .where("id", "=", build.id)
    .execute();
  await ctx.db
    .updateTable("deploys")
    .set({ commit_ref: fetched.sha, updated_at: isoNow(ctx) })
    .where("id", "=", deployId)
    .execute();
  log.write("preparing_repo", "Section completed: preparing repo");
  await reportCommitStatus(ctx, build.id, "pending");

  // ---- building site
  const base = site.base_dir;
  const baseDir = base === null ? workDir : join(workDir, base);
  if (base !== null && !(await isDirectory(baseDir))) {
    throw new StageFailure(
      "building site",
      `The base directory "${base}" does not exist in the repository at ${fetched.sha}. Change the site's base directory (repo.base), or add the directory to the repository.`,
    );
  }
  if (site.build_cmd === null || site.build_cmd.trim() === "") {
    log.write("building", "No build command set: publishing the repository's files as they are.");
  } else {
    await buildSite(options, site, build, deployId, fetched.sha, log, workDir, signal, reviewId);
  }
  log.write("building", "Section completed: building");

  // ---- deploying
  const published = await deploySite(options, site, build, deployId, baseDir, workDir, log);
  if (published === "stopped") throw new Error("stopped");
  log.write("deploying", "Section completed: deploying");

  // ---- cleanup (the directory is removed right after, in `runBuildJob`)
  log.write("cleanup", "Cleaning up the build directory");
  log.write(
    "cleanup",
    `Finished processing build request in ${((Date.now() - startedMs) / 1000).toFixed(3)}s`,
  );
  log.write("cleanup", published === "published" ? "Site is live ✨" : "Deploy is ready");
  await log.close();
  return "done";
}

/**
 * Stops waiting for `work` when `signal` aborts (a fetch cannot be interrupted; it ends on its
 * own time limit, and its key directory is removed by its own cleanup).
 */
function abortable<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(new Error("stopped"));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error("stopped"));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function prepareRepo(
  options: BuildRunnerOptions,
  site: Site,
  build: Build,
  log: BuildLog,
  workDir: string,
  signal: AbortSignal,
  fetchRef?: string,
): Promise<FetchResult> {
  const { ctx } = options;
  const repoUrl = site.repo_url!;
  let repo;
  try {
    repo = validateRepoUrl(repoUrl);
  } catch (error) {
    if (error instanceof RepoUrlError) {
      throw new StageFailure(
        "preparing repo",
        `The repository URL is not allowed: ${error.message}`,
      );
    }
    throw error;
  }
  const provider = gitProvider(site.repo_provider);

  // The connect-time host check: names can be re-pointed after the site was saved.
  const allowed = ctx.config.allowedPrivateRepoHosts;
  const check = await checkRepoHost({ resolve: ctx.resolveHost, allowed }, repo.host, repo.port);
  if (!check.ok) {
    throw new StageFailure("preparing repo", `The repository cannot be fetched: ${check.reason}.`);
  }

  let privateKey: string | undefined;
  if (repo.protocol === "ssh") {
    const key =
      site.deploy_key_id === null
        ? undefined
        : await ctx.db
            .selectFrom("deploy_keys")
            .selectAll()
            .where("id", "=", site.deploy_key_id)
            .where("account_id", "=", site.account_id)
            .executeTakeFirst();
    if (!key) {
      throw new StageFailure(
        "preparing repo",
        `The site has no deploy key, and its repository ${repo.url} is fetched over SSH. Create a key with POST /api/v1/deploy_keys, add its public key ${deployKeyPlace({ provider, repo })}, and set it on the site with PATCH /api/v1/sites/${site.id} {"repo": {"deploy_key_id": "<id>"}}.`,
      );
    }
    privateKey = openPrivateKey(ctx, key);
  }
  // A GitHub App installation: checked again (it must still be this account's, with access to
  // the repository) and a fresh read-only token for this build; over HTTPS only.
  let httpsCredentials: HttpsCredentials | undefined;
  if (repo.protocol === "https" && site.installation_id !== null) {
    const access = await installationCloneAccess(ctx, site);
    if (!access.ok) throw new StageFailure("preparing repo", access.reason);
    httpsCredentials = access.credentials;
  }

  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  log.write(
    "preparing_repo",
    build.sha
      ? `Preparing Git Reference ${build.sha} (${fetchRef ?? `refs/heads/${build.branch}`})`
      : `Preparing Git Reference ${fetchRef ?? `refs/heads/${build.branch}`}`,
  );
  const mirrorDir = join(options.mirrorRoot, `${site.id}.git`);
  if (build.clear_cache === 1 && existsSync(mirrorDir)) {
    log.write("preparing_repo", "Clearing the cached repository (clear_cache)");
    await rm(mirrorDir, { recursive: true, force: true });
  }
  try {
    return await abortable(
      signal,
      fetchRepository({
        repoUrl,
        ...(privateKey !== undefined ? { privateKey } : {}),
        ...(httpsCredentials !== undefined ? { httpsCredentials } : {}),
        ...(options.gitCaFile !== undefined ? { caFile: options.gitCaFile } : {}),
        hostKeys: new DbHostKeyStore(ctx.db, site.account_id, ctx.now),
        allowPrivateNetwork: (host, address, port) =>
          isAllowedHost(allowed, host, port) || isAllowedHost(allowed, address, port),
        provider,
        timeoutMs: Math.min(10 * 60_000, ctx.config.builds.timeoutSeconds * 1000),
        tempRoot: options.gitTempRoot,
        onLog: (message) => log.write("preparing_repo", message),
        branch: build.branch,
        ...(fetchRef !== undefined ? { fetchRef } : {}),
        ...(build.sha !== null ? { commit: build.sha } : {}),
        mirrorDir,
        checkoutDir: workDir,
      }),
    );
  } catch (error) {
    if (error instanceof GitFetchError) {
      if (error.detail !== "") log.write("preparing_repo", error.detail, true);
      throw new StageFailure("preparing repo", error.message);
    }
    throw error;
  }
}

async function buildSite(
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
    onLine: (line) => log.write("building", line.line, line.stream === "system"),
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
}

async function deploySite(
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

/** The shared atomic switch (also used by direct deploys), under its historical name here. */
export { publishBuildDeploy as publishDeploy };

/**
 * The safety net behind leases: builds still `enqueued` or `building` whose job is neither
 * pending nor running (lost by a bug or a hand-edited database) fail with a reason, so that no
 * build waits forever. Run periodically by the worker pool.
 */
export async function sweepOrphanedBuildRows(ctx: PlatformContext): Promise<number> {
  const orphans = await ctx.db
    .selectFrom("builds")
    .select("id")
    .where("state", "in", ["enqueued", "building"])
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom("jobs")
            .select("jobs.id")
            .where("jobs.queue", "=", BUILD_QUEUE)
            .where("jobs.state", "in", ["pending", "running"])
            .where("jobs.dedupe_key", "=", sql<string>`${"build:"} || ${sql.ref("builds.id")}`),
        ),
      ),
    )
    .execute();
  let failed = 0;
  for (const { id } of orphans) {
    if (
      await failBuild(
        ctx,
        id,
        "The build lost its place in the queue and cannot finish; start a new build.",
        ["enqueued", "building"],
      )
    ) {
      failed++;
    }
  }
  return failed;
}
