import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pinned } from "./baselines.ts";
import type { Cleanup } from "./cleanup.ts";
import { api, PROJECT_ROOT, type ForgeChild } from "./forge.ts";
import { childEnv, Daemon, execChecked, freePort, waitUntil, type Env } from "./proc.ts";

/**
 * The platform as a real child process (`node bin/slipway.js platform`, or `start` for the
 * forge and the platform in one process), and the e2e tests' link story driven through the
 * APIs: forge project, platform tenant, deploy key installed at the forge, linked site, first
 * build published.
 */

export interface SlipwayChild {
  daemon: Daemon;
  /** Base URL of the platform (API at /api/v1, sites by Host on the same port). */
  url: string;
  port: number;
  adminToken: string;
  /** Set for `start`: the embedded forge (same process). */
  forge?: ForgeChild;
}

export async function startSlipwayChild(options: {
  command: "platform" | "start";
  dir: string;
  /** Prefix for the server command (taskset), or []. */
  pin: readonly string[];
  cleanup: Cleanup;
  logLevel: string;
  env?: Env;
  /** Options for node itself (e.g. `--cpu-prof`, which NODE_OPTIONS refuses). */
  nodeArgs?: readonly string[];
}): Promise<SlipwayChild> {
  const { dir, cleanup } = options;
  mkdirSync(dir, { recursive: true });
  const dataDir = join(dir, "data");
  const port = await freePort();
  const adminToken = `slp_bench-${randomBytes(16).toString("hex")}`;
  const extra: Env = {
    SLIPWAY_DATA_DIR: dataDir,
    SLIPWAY_HOST: "127.0.0.1",
    SLIPWAY_PORT: String(port),
    SLIPWAY_PUBLIC_URL: undefined,
    SLIPWAY_SITES_DOMAIN: "localhost",
    SLIPWAY_ADMIN_TOKEN: adminToken,
    SLIPWAY_LOG_LEVEL: options.logLevel,
    NODE_ENV: "production",
    // A bench that measures HTTPS or ACME asks for them; otherwise a busy 8443 (a test holding
    // it) would stop the platform from starting.
    SLIPWAY_HTTPS_PORT: "off",
    SLIPWAY_ACME_DIRECTORY_URL: "off",
  };
  let forgePorts: Omit<ForgeChild, "daemon"> | undefined;
  if (options.command === "start") {
    const httpPort = await freePort();
    let sshPort = await freePort();
    while (sshPort === httpPort || sshPort === port) sshPort = await freePort();
    const rootToken = `glpat-bench-${randomBytes(16).toString("hex")}`;
    Object.assign(extra, {
      SLIPWAY_FORGE_HTTP_PORT: String(httpPort),
      SLIPWAY_FORGE_SSH_PORT: String(sshPort),
      SLIPWAY_FORGE_PUBLIC_URL: undefined,
      SLIPWAY_FORGE_ROOT_TOKEN: rootToken,
    });
    forgePorts = {
      apiUrl: `http://127.0.0.1:${httpPort}/api/v4`,
      httpPort,
      sshPort,
      dataDir: join(dataDir, "forge"),
      rootToken,
    };
  }
  const { command, args } = pinned(options.pin, process.execPath, [
    ...(options.nodeArgs ?? []),
    join(PROJECT_ROOT, "bin", "slipway.js"),
    options.command,
  ]);
  const daemon = Daemon.start(
    `slipway ${options.command}`,
    join(dir, `slipway-${options.command}.log`),
    command,
    args,
    { cwd: PROJECT_ROOT, env: childEnv({ ...extra, ...options.env }) },
  );
  cleanup.defer(`stop slipway ${options.command}`, () => daemon.stop(10_000));
  const forge: ForgeChild | undefined = forgePorts ? { ...forgePorts, daemon } : undefined;
  const healthy = async (base: string): Promise<boolean> => {
    try {
      const response = await fetch(`${base}/healthz`);
      await response.arrayBuffer();
      return response.ok;
    } catch {
      return false;
    }
  };
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(`slipway ${options.command}'s platform /healthz`, () => healthy(url), {
    timeoutMs: 60_000,
    daemon,
    intervalMs: 100,
  });
  if (forge) {
    const forgeUrl = `http://127.0.0.1:${forge.httpPort}`;
    await waitUntil("the embedded forge's /healthz", () => healthy(forgeUrl), {
      timeoutMs: 60_000,
      daemon,
      intervalMs: 100,
    });
  }
  return { daemon, url, port, adminToken, ...(forge ? { forge } : {}) };
}

/** One platform API call (`/api/v1${path}`) with a bearer token; non-2xx throws. */
export async function platformApi<T>(
  platform: SlipwayChild,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${platform.url}/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok)
    throw new Error(`platform ${method} /api/v1${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

export interface BuildBody {
  id: string;
  deploy_id: string;
  sha: string | null;
  state: string;
  done: boolean;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface LogLine {
  seq: number;
  time: string;
  section: string;
  message: string;
  error: boolean;
}

export interface LinkedSite {
  siteId: string;
  siteName: string;
  /** `Host` header the edge serves the site at. */
  host: string;
  tenantToken: string;
  projectId: number;
  forgeToken: string;
  /** The working copy (branch main) and how to push it. */
  repo: WorkingRepo;
  firstBuild: BuildBody;
  webhookUrl: string | undefined;
}

/** A plain working copy pushed to the forge over smart HTTP with a token. */
export class WorkingRepo {
  constructor(
    readonly dir: string,
    private readonly pushUrl: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  static async create(dir: string, pushUrl: string): Promise<WorkingRepo> {
    const home = join(dir, ".home");
    const work = join(dir, "repo");
    mkdirSync(home, { recursive: true });
    mkdirSync(work, { recursive: true });
    const env = childEnv({
      HOME: home,
      LC_ALL: "C",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_TERMINAL_PROMPT: "0",
      GIT_AUTHOR_NAME: "Slipway Bench",
      GIT_AUTHOR_EMAIL: "bench@slipway.invalid",
      GIT_COMMITTER_NAME: "Slipway Bench",
      GIT_COMMITTER_EMAIL: "bench@slipway.invalid",
    });
    const repo = new WorkingRepo(work, pushUrl, env);
    await repo.git(["init", "-q", "-b", "main"]);
    return repo;
  }

  async git(args: readonly string[]): Promise<string> {
    return (await execChecked("git", ["-C", this.dir, ...args], { env: this.env })).stdout;
  }

  /** Writes files (path → content), commits everything; returns the commit id. */
  async commit(files: ReadonlyMap<string, Buffer | string>, message: string): Promise<string> {
    for (const [path, content] of files) {
      const full = join(this.dir, path);
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, content);
    }
    await this.git(["add", "-A"]);
    await this.git(["commit", "-q", "--no-verify", "-m", message]);
    return (await this.git(["rev-parse", "HEAD"])).trim();
  }

  /** `git push` of HEAD to main (argument vector; the token is in the URL, not the logs). */
  async push(): Promise<number> {
    const result = await execChecked(
      "git",
      ["-C", this.dir, "push", "-q", "--end-of-options", this.pushUrl, "HEAD:refs/heads/main"],
      { env: this.env },
    );
    return result.ms;
  }

  /** `git push` to another remote (a plain bare repository, for baselines). */
  async pushTo(url: string): Promise<number> {
    const result = await execChecked(
      "git",
      ["-C", this.dir, "push", "-q", "--end-of-options", url, "HEAD:refs/heads/main"],
      { env: this.env },
    );
    return result.ms;
  }

  gitEnv(): NodeJS.ProcessEnv {
    return this.env;
  }
}

/**
 * The e2e link story: a forge user with a token and a private project holding `files`, a
 * platform tenant, the tenant's deploy key added read-only at the forge, `POST /sites` linked
 * over SSH with `cmd` / `dir`, optionally the site's git webhook as a project hook; waits for
 * the first build to be published.
 */
export async function linkForgeSite(options: {
  platform: SlipwayChild;
  forge: ForgeChild;
  dir: string;
  siteName: string;
  files: ReadonlyMap<string, Buffer | string>;
  cmd: string;
  publishDir: string;
  webhook: boolean;
  /** Accept a first build that failed (a benchmark that needs only the link). Default false. */
  firstBuildMayFail?: boolean;
}): Promise<LinkedSite> {
  const { platform, forge, siteName } = options;
  const username = `bench-${siteName}`;
  const user = await api<{ id: number }>(forge, "POST", "/users", forge.rootToken, {
    username,
    name: "Bench User",
    email: `${username}@slipway.invalid`,
    skip_confirmation: true,
  });
  const { token: forgeToken } = await api<{ token: string }>(
    forge,
    "POST",
    `/users/${user.id}/personal_access_tokens`,
    forge.rootToken,
    { name: "bench", scopes: ["api", "read_repository", "write_repository"] },
  );
  const project = await api<{ id: number; path_with_namespace: string }>(
    forge,
    "POST",
    "/projects",
    forgeToken,
    { name: siteName, path: siteName, visibility: "private", default_branch: "main" },
  );
  const pushUrl = new URL(`http://127.0.0.1:${forge.httpPort}/${project.path_with_namespace}.git`);
  pushUrl.username = "oauth2";
  pushUrl.password = forgeToken;
  const repo = await WorkingRepo.create(options.dir, pushUrl.toString());
  await repo.commit(options.files, "Initial site");
  await repo.push();

  const tenant = await platformApi<{ token: string }>(
    platform,
    "POST",
    "/admin/users",
    platform.adminToken,
    { email: `${username}@slipway.invalid`, full_name: username },
  );
  const key = await platformApi<{ id: string; public_key: string }>(
    platform,
    "POST",
    "/deploy_keys",
    tenant.token,
  );
  await api(forge, "POST", `/projects/${project.id}/deploy_keys`, forgeToken, {
    title: "slipway",
    key: key.public_key,
    can_push: false,
  });
  const site = await platformApi<{
    id: string;
    name: string;
    git_webhook: { url: string; secret: string } | null;
    build_id: string | null;
  }>(platform, "POST", "/sites", tenant.token, {
    name: siteName,
    repo: {
      provider: "gitlab",
      repo_url: `ssh://git@127.0.0.1:${forge.sshPort}/${project.path_with_namespace}.git`,
      repo_path: project.path_with_namespace,
      id: project.id,
      repo_branch: "main",
      cmd: options.cmd,
      dir: options.publishDir,
      deploy_key_id: key.id,
    },
  });
  if (site.build_id === null) throw new Error("POST /sites started no build");
  if (options.webhook) {
    if (!site.git_webhook) throw new Error("the linked site has no git_webhook");
    await api(forge, "POST", `/projects/${project.id}/hooks`, forgeToken, {
      url: site.git_webhook.url,
      token: site.git_webhook.secret,
      push_events: true,
    });
  }
  const firstBuild = await waitForBuild(platform, tenant.token, site.build_id, 120_000).catch(
    async (error: unknown) => {
      if (options.firstBuildMayFail !== true) throw error;
      const build = await platformApi<BuildBody>(
        platform,
        "GET",
        `/builds/${site.build_id}`,
        tenant.token,
      );
      console.log(`(the first build failed, which this benchmark does not need: ${build.error})`);
      return build;
    },
  );
  return {
    siteId: site.id,
    siteName: site.name,
    host: `${site.name}.localhost`,
    tenantToken: tenant.token,
    projectId: project.id,
    forgeToken,
    repo,
    firstBuild,
    webhookUrl: site.git_webhook?.url,
  };
}

/** Polls `GET /builds/:id` until done; a build that did not end in `done` is an error. */
export async function waitForBuild(
  platform: SlipwayChild,
  token: string,
  buildId: string,
  timeoutMs: number,
): Promise<BuildBody> {
  let last: BuildBody | undefined;
  await waitUntil(
    `build ${buildId} to finish`,
    async () => {
      last = await platformApi<BuildBody>(platform, "GET", `/builds/${buildId}`, token);
      return last.done;
    },
    { timeoutMs, daemon: platform.daemon, intervalMs: 50 },
  );
  if (!last || last.state !== "done") {
    const log = await platformApi<LogLine[]>(platform, "GET", `/builds/${buildId}/log`, token);
    throw new Error(
      `build ${buildId} ended ${last?.state}: ${last?.error}\n${log.map((l) => `  ${l.section}: ${l.message}`).join("\n")}`,
    );
  }
  return last;
}
