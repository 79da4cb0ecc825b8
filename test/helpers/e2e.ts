import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { request } from "node:http";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import type { PlatformConfig } from "../../src/config.ts";
import { runChecked } from "../../src/lib/run.ts";
import { startTestForge, type TestForge, type TestProject, type TestUser } from "./forge.ts";
import { startTestPlatform, TEST_BUILD_POLICY, type TestPlatform } from "./platform.ts";
import { poll } from "./wait.ts";

/**
 * Helpers for whole-system stories: the forge and a platform that may reach it, a project pushed
 * from a git working copy over smart HTTP with a token (plain `git`, argument vectors, no machine
 * config), its deploy key added at the forge by hand, requests to the edge with a site's Host
 * header, and polling.
 */

export interface WorkingCopy {
  dir: string;
  /** Writes files (path → content), commits them, and returns the new commit id. */
  commit(files: Record<string, string | Uint8Array>, message?: string): Promise<string>;
  /**
   * `git push` of a local branch to the project over HTTP with the token (to several remote
   * branches at once, in one push, when given a list).
   */
  push(branch: string, remoteBranch?: string | string[]): Promise<void>;
  checkout(branch: string, create?: boolean): Promise<void>;
  cleanup(): Promise<void>;
}

export async function createWorkingCopy(
  forge: TestForge,
  project: TestProject,
  token: string,
): Promise<WorkingCopy> {
  const dir = await mkdtemp(join(tmpdir(), "slipway-e2e-repo-"));
  const home = join(dir, ".home");
  await mkdir(home);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    LC_ALL: "C",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    GIT_AUTHOR_NAME: "Test",
    GIT_AUTHOR_EMAIL: "test@example.test",
    GIT_COMMITTER_NAME: "Test",
    GIT_COMMITTER_EMAIL: "test@example.test",
  };
  const work = join(dir, "repo");
  await mkdir(work);
  const git = (args: string[]): Promise<string> => runChecked("git", args, { cwd: work, env });
  await git(["init", "-q", "-b", "main"]);
  const remote = new URL(`${forge.url}/${project.path_with_namespace}.git`);
  remote.username = "oauth2";
  remote.password = token;
  return {
    dir: work,
    async commit(files, message = "change") {
      for (const [path, content] of Object.entries(files)) {
        await mkdir(join(work, path, ".."), { recursive: true });
        await writeFile(join(work, path), content);
      }
      await git(["add", "-A"]);
      await git(["commit", "-q", "-m", message]);
      return (await git(["rev-parse", "HEAD"])).trim();
    },
    async push(branch, remoteBranch = branch) {
      const targets = typeof remoteBranch === "string" ? [remoteBranch] : remoteBranch;
      await git([
        "push",
        "-q",
        "--end-of-options",
        remote.toString(),
        ...targets.map((target) => `${branch}:refs/heads/${target}`),
      ]);
    },
    async checkout(branch, create = false) {
      await git(create ? ["checkout", "-q", "-b", branch] : ["checkout", "-q", branch]);
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * A forge and a platform allowed to reach it on loopback: its SSH port (builds fetch with deploy
 * keys), and with `forgeApi` its HTTP port too (linking through a connection, commit statuses).
 */
export async function startForgeAndPlatform(
  options: {
    forgeApi?: boolean;
    buildWorkers?: number;
    /** Build settings over the test defaults (a longer timeout, the build network's allowlist). */
    builds?: Partial<PlatformConfig["builds"]>;
    /** Both servers' `/metrics` (token, own address); default: none. */
    metrics?: PlatformConfig["metrics"];
  } = {},
): Promise<{ forge: TestForge; platform: TestPlatform }> {
  const forge = await startTestForge(
    options.metrics !== undefined ? { metrics: { ...options.metrics, address: undefined } } : {},
  );
  try {
    const allowed = [`127.0.0.1:${forge.sshPort}`];
    if (options.forgeApi === true) allowed.push(`127.0.0.1:${new URL(forge.url).port}`);
    const platform = await startTestPlatform({
      config: {
        allowedPrivateRepoHosts: allowed,
        builds: {
          ...TEST_BUILD_POLICY,
          workers: options.buildWorkers ?? TEST_BUILD_POLICY.workers,
          ...options.builds,
        },
        ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
      },
    });
    return { forge, platform };
  } catch (error) {
    await forge.stop();
    throw error;
  }
}

/**
 * A site under `test/fixtures/sites/<name>/`, as files to push: every file but the top-level
 * directories its `.gitignore` names (`node_modules/`, build output left by a run by hand).
 */
export async function fixtureSiteFiles(name: string): Promise<Record<string, Uint8Array>> {
  const root = join(import.meta.dirname, "..", "fixtures", "sites", name);
  const gitignore = await readFile(join(root, ".gitignore"), "utf8").catch(() => "");
  const ignored = new Set(
    gitignore
      .split("\n")
      .filter((line) => line.endsWith("/"))
      .map((line) => line.slice(0, -1)),
  );
  const files: Record<string, Uint8Array> = {};
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (dir === root && ignored.has(entry.name)) continue;
      if (entry.isDirectory()) await walk(path);
      else files[relative(root, path)] = await readFile(path);
    }
  };
  await walk(root);
  return files;
}

/** The usual build script of these stories: publish `index.html` from `dist/`. */
export const COPY_TO_DIST = "mkdir -p dist && cp index.html dist/\n";

export interface PushedProject {
  owner: TestUser;
  project: TestProject;
  /** The owner's working copy, on `main`; the test cleans it up. */
  repo: WorkingCopy;
}

/** A new user's private project on the forge, with `files` committed and pushed to `main`. */
export async function createPushedProject(
  forge: TestForge,
  username: string,
  path: string,
  files: Record<string, string | Uint8Array>,
): Promise<PushedProject> {
  const owner = await forge.createUser(username);
  const project = await forge.createProject(owner, path);
  const repo = await createWorkingCopy(forge, project, owner.token);
  try {
    await repo.commit(files);
    await repo.push("main");
  } catch (error) {
    await repo.cleanup();
    throw error;
  }
  return { owner, project, repo };
}

/** Adds a public key to the project as a read-only deploy key, as its owner would by hand. */
export async function addForgeDeployKey(
  forge: TestForge,
  project: TestProject,
  owner: TestUser,
  publicKey: string,
): Promise<void> {
  const added = await forge.api("POST", `/projects/${project.id}/deploy_keys`, {
    token: owner.token,
    body: { title: "slipway", key: publicKey, can_push: false },
  });
  assert.equal(added.status, 201, added.text);
}

/**
 * A site's `repo` settings for the forge project fetched over SSH with a deploy key (the manual
 * flow, no connection): branch `main`, `sh build.sh`, publishing `dist`; `settings` on top (a
 * setting given as undefined is left out of the request).
 */
export function repoWithDeployKey(
  project: TestProject,
  deployKeyId: string,
  settings: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    provider: "gitlab",
    repo_url: project.ssh_url_to_repo,
    repo_branch: "main",
    cmd: "sh build.sh",
    dir: "dist",
    deploy_key_id: deployKeyId,
    ...settings,
  };
}

export interface EdgeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * GET `path` from the platform's port with `Host: host` (as a browser at that name would);
 * `init` for another method, more headers (cookies, credentials) or a body.
 */
export function edgeGet(
  baseUrl: string,
  host: string,
  path = "/",
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<EdgeResponse> {
  const base = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        path,
        method: init.method ?? "GET",
        headers: { ...init.headers, host: `${host}:${base.port}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(init.body);
  });
}

/** `ED25519 SHA256:…` of an OpenSSH public key line, as ssh and the build errors print it. */
export function publicKeyFingerprint(publicKey: string): string {
  const [type, base64] = publicKey.trim().split(/\s+/);
  const digest = createHash("sha256")
    .update(Buffer.from(base64 ?? "", "base64"))
    .digest("base64")
    .replace(/=+$/, "");
  return `${(type ?? "").replace(/^ssh-/, "").toUpperCase()} SHA256:${digest}`;
}

/** Polls the edge at `host` until `check` accepts the page, and returns it. */
export function waitForPage(
  baseUrl: string,
  host: string,
  check: (page: EdgeResponse) => boolean,
  what: string,
  timeoutMs?: number,
): Promise<EdgeResponse> {
  return poll(
    async () => {
      const page = await edgeGet(baseUrl, host);
      return check(page) ? page : undefined;
    },
    what,
    timeoutMs,
  );
}
