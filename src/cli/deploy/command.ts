import { realpathSync } from "node:fs";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  DEPLOY_USAGE,
  deployEnv,
  HELP,
  parseDeployArgs,
  type DeployEnv,
  type DeployOptions,
} from "./args.ts";
import { ApiError, ConnectionError, SlipwayApi, type Deploy } from "./client.ts";
import { hashFilesCached } from "./hash-cache.ts";
import { formatBytes, formatMs, plural, Progress, type ProgressStream } from "./progress.ts";
import { uploadFiles, type UploadItem } from "./upload.ts";
import { walkSite, WalkError, type SiteFile } from "./walk.ts";

/**
 * `slipway deploy`: Netlify's file-digest protocol from the command line. Walk and hash the
 * directory (digests of unchanged files from the hash cache), create the deploy with its
 * `{files: {path: sha1}}` in one call, upload only the contents in the answer's `required`, and
 * wait until the deploy is `ready` (or `error`, whose `error_message` is shown). A deploy left unfinished by a failure or an interrupt is cancelled, so it never
 * stays half-uploaded.
 */

export interface DeployIo {
  stdout: { write(text: string): unknown };
  stderr: ProgressStream;
  env: DeployEnv;
}

export interface DeployResult {
  deploy_id: string;
  site_id: string;
  site_name: string;
  state: string;
  draft: boolean;
  /** The deploy's own permalink (`{deploy id}--{site}`). */
  deploy_url: string;
  /** The site's URL, where this deploy is now served; null for a draft. */
  url: string | null;
  /** Files uploaded (distinct contents the platform did not have). */
  uploaded: number;
  /** Files in the deploy. */
  files: number;
}

/** How long `ready` may take after the last upload (netlify-cli's default too). */
const READY_TIMEOUT_MS = 20 * 60_000;

/** Fails the step with the reason, ready to print. */
class DeployFailure extends Error {
  override name = "DeployFailure";
}

export async function runDeploy(
  argv: readonly string[],
  io: DeployIo = { stdout: process.stdout, stderr: process.stderr, env: deployEnv() },
): Promise<number> {
  let options: DeployOptions;
  let api: SlipwayApi;
  try {
    const parsed = parseDeployArgs(argv, io.env);
    if (parsed === HELP) {
      io.stdout.write(`${DEPLOY_USAGE}\n`);
      return 0;
    }
    options = parsed;
    api = new SlipwayApi(options.apiUrl, options.token);
  } catch (error) {
    // A `UsageError`, or an API URL that is not one.
    if (!(error instanceof Error)) throw error;
    io.stderr.write(`slipway deploy: ${error.message}\n\nRun "slipway deploy --help" for usage.\n`);
    return 2;
  }

  const progress = new Progress(io.stderr);
  const state: { deploy?: Deploy } = {};
  const interrupted = (signal: NodeJS.Signals): void => {
    progress.close();
    io.stderr.write(`slipway deploy: interrupted (${signal})\n`);
    const exit = (): never => process.exit(signal === "SIGINT" ? 130 : 143);
    void cancelQuietly(api, state.deploy).then(exit, exit);
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    const result = await deploy(api, options, progress, state);
    progress.close();
    if (options.json) {
      io.stdout.write(`${JSON.stringify(result)}\n`);
    } else {
      io.stdout.write(`Deploy URL: ${result.deploy_url}\n`);
      if (result.url !== null) io.stdout.write(`Site URL:   ${result.url}\n`);
    }
    return 0;
  } catch (error) {
    progress.close();
    if (state.deploy !== undefined && state.deploy.state !== "error") {
      await cancelQuietly(api, state.deploy);
    }
    if (error instanceof DeployFailure || error instanceof WalkError) {
      io.stderr.write(`slipway deploy: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    api.close();
  }
}

async function deploy(
  api: SlipwayApi,
  options: DeployOptions,
  progress: Progress,
  state: { deploy?: Deploy },
): Promise<DeployResult> {
  const files = listFiles(resolve(options.dir), options.dir);
  const digests = await hashWithProgress(files, realpathSync(options.dir), options, progress);

  // A new site only once the files are known to be deployable.
  let site = options.site;
  if (site === undefined) {
    const created = await step("creating a site", () => api.createSite());
    progress.line(
      `Created site "${created.name}" (${created.id}); deploy to it again with --site ${created.id}`,
    );
    site = created.id;
  }

  // One call creates the deploy with its list of files; a refused list leaves no deploy behind.
  const manifest: Record<string, string> = {};
  files.forEach((file, i) => (manifest[file.path] = digests[i]!));
  let current = await step("creating the deploy", () =>
    createDeploy(api, site, {
      draft: !options.prod,
      files: manifest,
      ...(options.title === undefined ? {} : { title: options.title }),
      ...(options.branch === undefined ? {} : { branch: options.branch }),
    }),
  );
  state.deploy = current;
  const siteId = current.site_id;
  current = await waitWhile(api, siteId, current, (d) => !Array.isArray(d.required));

  const uploads = uploadList(files, digests, current.required ?? []);
  if (uploads.length > 0) {
    const bytes = uploads.reduce((sum, item) => sum + item.size, 0);
    const wanted = new Set(current.required);
    const known = digests.filter((sha1) => !wanted.has(sha1)).length;
    progress.line(
      `Uploading ${plural(uploads.length, "file")} (${formatBytes(bytes)})` +
        (known === 0 ? "" : `; the platform already has the other ${known}`),
    );
    await step("uploading the files", () =>
      uploadFiles(api, current.id, uploads, {
        onUploaded: (done) =>
          progress.status(`Uploaded ${done} of ${uploads.length} files`, done === uploads.length),
        onRetry: (item, attempt, error) =>
          progress.line(`Retrying "${item.path}" (attempt ${attempt + 1}): ${error.message}`),
      }),
    );
    progress.line(`Uploaded ${uploads.length} of ${uploads.length} files`);
    // The last upload finished the deploy on the platform, unless something else is left to do.
    current = await step("checking the deploy", () => getDeployPatiently(api, siteId, current.id));
  } else {
    progress.line(`Nothing to upload: the platform has all ${plural(files.length, "file")}`);
  }

  if (current.state !== "ready") {
    progress.line("Waiting for the deploy to be ready");
    current = await waitWhile(api, siteId, current, (d) => d.state !== "ready", READY_TIMEOUT_MS);
  }
  state.deploy = current;
  progress.line(options.prod ? "Deploy is live" : "Draft deploy is ready");

  const deployUrl = current.deploy_ssl_url ?? current.deploy_url ?? "";
  const siteUrl = current.ssl_url ?? current.url ?? null;
  return {
    deploy_id: current.id,
    site_id: siteId,
    site_name: current.name ?? site,
    state: current.state,
    draft: !options.prod,
    deploy_url: deployUrl,
    url: options.prod ? siteUrl : null,
    uploaded: uploads.length,
    files: files.length,
  };
}

function listFiles(dir: string, shown: string): SiteFile[] {
  let files: SiteFile[];
  try {
    files = walkSite(dir);
  } catch (error) {
    if (error instanceof WalkError) throw error;
    throw new DeployFailure(`reading "${shown}": ${(error as Error).message}`);
  }
  if (files.length === 0) throw new DeployFailure(`"${shown}" has no files to deploy`);
  return files;
}

async function hashWithProgress(
  files: readonly SiteFile[],
  root: string,
  options: DeployOptions,
  progress: Progress,
): Promise<string[]> {
  const size = formatBytes(files.reduce((sum, file) => sum + file.size, 0));
  progress.status(`Hashing ${plural(files.length, "file")} (${size})`, true);
  const started = performance.now();
  try {
    const { digests, reused } = await hashFilesCached(files, {
      cacheDir: options.cacheDir,
      root,
      onProgress: (done) => progress.status(`Hashed ${done} of ${files.length} files`),
    });
    const took = formatMs(performance.now() - started);
    const cached =
      reused === 0 ? "" : `; ${reused} unchanged since they were last hashed (cached digests)`;
    progress.line(`Hashed ${plural(files.length, "file")} (${size}) in ${took}${cached}`);
    return digests;
  } catch (error) {
    throw new DeployFailure((error as Error).message);
  }
}

/** One upload per content the platform asked for (any file with that SHA-1 will do). */
function uploadList(
  files: readonly SiteFile[],
  digests: readonly string[],
  required: readonly string[],
): UploadItem[] {
  const wanted = new Set(required);
  const items: UploadItem[] = [];
  files.forEach((file, i) => {
    const sha1 = digests[i]!;
    if (!wanted.delete(sha1)) return;
    items.push({ path: file.path, absolute: file.absolute, size: file.size });
  });
  if (wanted.size > 0) {
    throw new DeployFailure(
      `the platform asked for ${plural(wanted.size, "content")} this deploy does not have ` +
        `(${[...wanted].slice(0, 3).join(", ")})`,
    );
  }
  return items;
}

/** `POST /sites/:site/deploys`, where a 404 means the `--site` given is not one of yours. */
async function createDeploy(
  api: SlipwayApi,
  site: string,
  options: Parameters<SlipwayApi["createDeploy"]>[1],
): Promise<Deploy> {
  try {
    return await api.createDeploy(site, options);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      throw new ApiError(404, `site "${site}" not found; check --site or SLIPWAY_SITE_ID`);
    }
    throw error;
  }
}

/** Polls the deploy while `pending` holds, from 50 ms up to once a second; `error` fails. */
async function waitWhile(
  api: SlipwayApi,
  siteId: string,
  deploy: Deploy,
  pending: (deploy: Deploy) => boolean,
  timeoutMs = READY_TIMEOUT_MS,
): Promise<Deploy> {
  const deadline = Date.now() + timeoutMs;
  let delay = 50;
  let current = deploy;
  for (;;) {
    if (current.state === "error") {
      throw new DeployFailure(
        `the deploy failed: ${current.error_message ?? "the platform gave no reason"}`,
      );
    }
    if (!pending(current)) return current;
    if (Date.now() > deadline) {
      throw new DeployFailure(
        `the deploy is still "${current.state}" after ${formatMs(timeoutMs)}; ` +
          `see ${current.deploy_url ?? current.id}`,
      );
    }
    await sleep(delay);
    delay = Math.min(1000, delay * 1.5);
    current = await step("checking the deploy", () => getDeployPatiently(api, siteId, deploy.id));
  }
}

/** A GET is safe to repeat: a few transient failures in a row are waited out. */
async function getDeployPatiently(api: SlipwayApi, siteId: string, id: string): Promise<Deploy> {
  for (let failures = 0; ; failures++) {
    try {
      return await api.getDeploy(siteId, id);
    } catch (error) {
      const transient = (error as { transient?: unknown }).transient === true;
      if (!transient || failures >= 5) throw error;
      await sleep(250 * 2 ** failures);
    }
  }
}

/** Runs one API step; its failure becomes a `DeployFailure` saying what was being done. */
async function step<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof DeployFailure) throw error;
    if (error instanceof ApiError) {
      const reason =
        error.status === 401
          ? `the platform refused the access token: ${error.message} ` +
            `(check --auth or SLIPWAY_AUTH_TOKEN)`
          : error.message;
      throw new DeployFailure(`${what}: ${reason} (HTTP ${error.status})`);
    }
    if (error instanceof ConnectionError) {
      throw new DeployFailure(
        `${what}: ${error.message}; is the platform running there? (--api or SLIPWAY_API_URL)`,
      );
    }
    throw error;
  }
}

async function cancelQuietly(api: SlipwayApi, deploy: Deploy | undefined): Promise<void> {
  if (deploy === undefined || deploy.state === "ready") return;
  try {
    await api.cancelDeploy(deploy.id);
  } catch {
    // Best effort: the failure being reported matters more than this one.
  }
}
