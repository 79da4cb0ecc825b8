import { createHash } from "node:crypto";
import { request } from "node:http";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runChecked } from "../../src/lib/run.ts";
import { waitUntil, type TestForge, type TestProject } from "./forge.ts";

/**
 * Helpers for whole-system stories: a git working copy pushed to the forge over smart HTTP with
 * a token (plain `git`, argument vectors, no machine config), requests to the edge with a site's
 * Host header, and polling.
 */

export interface WorkingCopy {
  dir: string;
  /** Writes files (path → content), commits them, and returns the new commit id. */
  commit(files: Record<string, string>, message?: string): Promise<string>;
  /** `git push` of a local branch to the project over HTTP with the token. */
  push(branch: string, remoteBranch?: string): Promise<void>;
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
      await git([
        "push",
        "-q",
        "--end-of-options",
        remote.toString(),
        `${branch}:refs/heads/${remoteBranch}`,
      ]);
    },
    async checkout(branch, create = false) {
      await git(create ? ["checkout", "-q", "-b", branch] : ["checkout", "-q", branch]);
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface EdgeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** GET `path` from the platform's port with `Host: host` (as a browser at that name would). */
export function edgeGet(baseUrl: string, host: string, path = "/"): Promise<EdgeResponse> {
  const base = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        path,
        method: "GET",
        headers: { host: `${host}:${base.port}` },
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
    req.end();
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

/** `waitUntil` with the slower pace and longer patience that whole-system stories need. */
export function poll<T>(
  check: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  return waitUntil(check, what, timeoutMs, intervalMs);
}
