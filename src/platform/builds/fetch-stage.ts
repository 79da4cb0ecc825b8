import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Build, RepoProvider, Site } from "../db/schema.ts";
import { deployKeyOfSite, openPrivateKey } from "../deploy-keys/deploy-keys.ts";
import { checkRepoHost, isAllowedHost } from "../repos/host-guard.ts";
import { RepoUrlError, validateRepoUrl } from "../repos/repo-url.ts";
import { deployKeyPlace, GitFetchError, type GitProvider } from "../repos/diagnose.ts";
import { fetchRepository, type FetchResult } from "../repos/git-fetch.ts";
import type { HttpsCredentials } from "../repos/git-session.ts";
import { installationCloneAccess } from "../connections/installations.ts";
import { DbHostKeyStore } from "../repos/known-hosts-store.ts";
import type { BuildLog } from "./build-log.ts";
import { applyBuildSettings, buildContext } from "./build-settings.ts";
import { StageFailure, type BuildRunnerOptions } from "./stage.ts";

/**
 * The "preparing repo" stage: the connect-time host check (`repos/host-guard.ts`), then
 * `repos/git-fetch.ts` with the site's deploy key (or a GitHub App token) and the account's
 * pinned host keys, into the site's mirror under the data dir, checked out into the fresh
 * per-build directory.
 */

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

export async function prepareRepo(
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
    const key = await deployKeyOfSite(ctx, site);
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
  let fetched: FetchResult;
  try {
    fetched = await abortable(
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
  // The checkout settles what the build runs: netlify.toml, the detected framework.
  await applyBuildSettings(site, build, await buildContext(ctx, site, build), workDir, log);
  return fetched;
}
