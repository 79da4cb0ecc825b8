import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pinned, type Pinning } from "./baselines.ts";
import type { Cleanup } from "./cleanup.ts";
import { childEnv, Daemon, freePort, waitForPort, waitUntil } from "./proc.ts";

/** The project's root directory (where bin/slipway.js is). */
export const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface ForgeChild {
  daemon: Daemon;
  apiUrl: string;
  httpPort: number;
  sshPort: number;
  dataDir: string;
  rootToken: string;
}

/**
 * Starts `node bin/slipway.js forge` as a child (pinned like the baselines), with its own data
 * dir and free ports, without NODE_EXTRA_CA_CERTS; resolves when its API answers.
 */
export async function startForgeChild(options: {
  dir: string;
  pin: Pinning;
  cleanup: Cleanup;
  logLevel: string;
}): Promise<ForgeChild> {
  const { dir, cleanup } = options;
  mkdirSync(dir, { recursive: true });
  const dataDir = join(dir, "data");
  const httpPort = await freePort();
  let sshPort = await freePort();
  while (sshPort === httpPort) sshPort = await freePort();
  const rootToken = `glpat-bench-${randomBytes(16).toString("hex")}`;
  const env = childEnv({
    SLIPWAY_DATA_DIR: dataDir,
    SLIPWAY_HOST: "127.0.0.1",
    SLIPWAY_FORGE_HTTP_PORT: String(httpPort),
    SLIPWAY_FORGE_SSH_PORT: String(sshPort),
    SLIPWAY_FORGE_PUBLIC_URL: undefined,
    SLIPWAY_FORGE_ROOT_TOKEN: rootToken,
    SLIPWAY_LOG_LEVEL: options.logLevel,
    NODE_ENV: "production",
  });
  const { command, args } = pinned(options.pin.server, process.execPath, [
    join(PROJECT_ROOT, "bin", "slipway.js"),
    "forge",
  ]);
  const daemon = Daemon.start("forge", join(dir, "forge.log"), command, args, {
    cwd: PROJECT_ROOT,
    env,
  });
  cleanup.defer("stop the forge", () => daemon.stop(10_000));
  const apiUrl = `http://127.0.0.1:${httpPort}/api/v4`;
  await waitUntil(
    "the forge's /healthz",
    async () => {
      try {
        const response = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
        await response.arrayBuffer();
        return response.ok;
      } catch {
        return false;
      }
    },
    { timeoutMs: 60_000, daemon, intervalMs: 100 },
  );
  return { daemon, apiUrl, httpPort, sshPort, dataDir, rootToken };
}

/** True when the forge's SSH server accepts connections within `timeoutMs`. */
export async function forgeSshListening(forge: ForgeChild, timeoutMs = 5_000): Promise<boolean> {
  try {
    await waitForPort(forge.sshPort, { timeoutMs, daemon: forge.daemon });
    return true;
  } catch {
    return false;
  }
}

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** One GitLab API call: JSON in, JSON out; a non-2xx answer is an ApiError. */
export async function api<T>(
  forge: ForgeChild,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { "private-token": token };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${forge.apiUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new ApiError(response.status, `${method} /api/v4${path}: ${response.status} ${text}`);
  }
  return JSON.parse(text) as T;
}

export interface ForgeProject {
  id: number;
  username: string;
  token: string;
  httpUrl: string;
  sshUrl: string;
  defaultBranch: string;
  /** The bare repository on disk (the forge keeps it at <data>/forge/repositories/<id>.git). */
  repoPath: string;
  /** How the client's SSH key was registered, or why it could not be. */
  sshKey: { ok: true; how: string } | { ok: false; reason: string };
}

/**
 * Through the GitLab API: a user with a token, a private project, and the client's SSH key (a
 * user key, else a deploy key with push access).
 */
export async function setUpProject(
  forge: ForgeChild,
  publicKey: string,
  path: string,
): Promise<ForgeProject> {
  const username = "bencher";
  const user = await api<{ id: number }>(forge, "POST", "/users", forge.rootToken, {
    username,
    name: "Bench User",
    email: "bencher@slipway.invalid",
    skip_confirmation: true,
  });
  const { token } = await api<{ token: string }>(
    forge,
    "POST",
    `/users/${user.id}/personal_access_tokens`,
    forge.rootToken,
    { name: "bench", scopes: ["api", "read_repository", "write_repository"] },
  );
  const project = await api<{
    id: number;
    http_url_to_repo: string;
    ssh_url_to_repo: string;
    default_branch: string | null;
  }>(forge, "POST", "/projects", token, {
    name: path,
    path,
    visibility: "private",
    default_branch: "main",
  });

  let sshKey: ForgeProject["sshKey"];
  const key = publicKey.trim();
  try {
    await api(forge, "POST", "/user/keys", token, { title: "bench", key });
    sshKey = { ok: true, how: "user key (POST /user/keys)" };
  } catch (userKeyError) {
    try {
      await api(forge, "POST", `/projects/${project.id}/deploy_keys`, token, {
        title: "bench",
        key,
        can_push: true,
      });
      sshKey = { ok: true, how: "deploy key with push (POST /projects/:id/deploy_keys)" };
    } catch (deployKeyError) {
      sshKey = {
        ok: false,
        reason: `${(userKeyError as Error).message}; ${(deployKeyError as Error).message}`,
      };
    }
  }

  const repoPath = join(forge.dataDir, "forge", "repositories", `${project.id}.git`);
  if (!existsSync(repoPath)) throw new Error(`the forge's repository is not at ${repoPath}`);
  return {
    id: project.id,
    username,
    token,
    httpUrl: project.http_url_to_repo,
    sshUrl: project.ssh_url_to_repo,
    defaultBranch: project.default_branch ?? "main",
    repoPath,
    sshKey,
  };
}
