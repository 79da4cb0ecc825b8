import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, runChecked, type RunResult } from "../../src/lib/run.ts";
import type { TestForge, TestProject, TestUser } from "./forge.ts";
import type { PushEvent } from "../../src/forge/context.ts";

/**
 * Fixtures for the git transport tests: a scratch directory with real OpenSSH keys (made by
 * ssh-keygen), a git client environment isolated from the machine's config, and helpers that run
 * the real `git` and `ssh` binaries with argument vectors.
 */

export interface KeyPair {
  /** Path of the private key file (mode 0600). */
  privatePath: string;
  /** `ssh-ed25519 AAAA... comment` */
  publicKey: string;
}

export interface GitWorkspace {
  dir: string;
  /** A new ed25519 key pair made by ssh-keygen. */
  keygen(name: string): Promise<KeyPair>;
  /** `git <args>` with this workspace's isolated config; `key` selects the SSH identity. */
  git(
    args: readonly string[],
    options?: { cwd?: string; key?: KeyPair; env?: Env },
  ): Promise<RunResult>;
  /** `ssh <options> <args>` with the key, against the forge's SSH port (args name the host). */
  ssh(key: KeyPair, args: readonly string[]): Promise<RunResult>;
  /** A fresh local repository with one commit on `main` (file `README.md`). */
  initRepo(name: string, content?: string): Promise<string>;
  /** Commits a new file in a working copy; returns the new commit id. */
  commit(repoDir: string, file: string, content: string): Promise<string>;
  sshUrl(project: Pick<TestProject, "path_with_namespace">): string;
  /** `http://oauth2:<token>@host/<path>.git` (or anonymous without a token). */
  httpUrl(project: Pick<TestProject, "path_with_namespace">, token?: string): string;
  cleanup(): Promise<void>;
}

type Env = Record<string, string>;

export async function createGitWorkspace(t: TestForge): Promise<GitWorkspace> {
  const dir = await mkdtemp(join(tmpdir(), "slipway-git-test-"));
  const home = join(dir, "home");
  await mkdir(home, { recursive: true });
  let serial = 0;

  const baseEnv = (key: KeyPair | undefined, extra: Env = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: home,
    LC_ALL: "C",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    GIT_AUTHOR_NAME: "Test",
    GIT_AUTHOR_EMAIL: "test@example.test",
    GIT_COMMITTER_NAME: "Test",
    GIT_COMMITTER_EMAIL: "test@example.test",
    // git runs this through a shell; every part is a fixed option or a path made here.
    GIT_SSH_COMMAND: key
      ? ["ssh", ...sshOptions(key, t.sshPort).map((part) => `'${part}'`)].join(" ")
      : "false",
    ...extra,
  });

  const workspace: GitWorkspace = {
    dir,
    async keygen(name) {
      const privatePath = join(dir, `key-${name}-${++serial}`);
      await runChecked("ssh-keygen", [
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        name,
        "-f",
        privatePath,
      ]);
      const publicKey = (await readFile(`${privatePath}.pub`, "utf8")).trim();
      return { privatePath, publicKey };
    },
    git(args, options = {}) {
      return run("git", args, {
        cwd: options.cwd ?? dir,
        env: baseEnv(options.key, options.env),
        stdio: ["ignore", "pipe", "pipe"],
      });
    },
    ssh(key, args) {
      return run("ssh", [...sshOptions(key, t.sshPort), ...args], {
        env: { PATH: process.env.PATH, HOME: home },
        stdio: ["ignore", "pipe", "pipe"],
      });
    },
    async initRepo(name, content = "hello\n") {
      const repo = join(dir, name);
      await runChecked("git", ["init", "-q", "-b", "main", "--", repo], {
        env: baseEnv(undefined),
      });
      await writeFile(join(repo, "README.md"), content);
      await runChecked("git", ["add", "README.md"], { cwd: repo, env: baseEnv(undefined) });
      await runChecked("git", ["commit", "-q", "-m", "initial"], {
        cwd: repo,
        env: baseEnv(undefined),
      });
      return repo;
    },
    async commit(repoDir, file, content) {
      await writeFile(join(repoDir, file), content);
      await runChecked("git", ["add", "--", file], { cwd: repoDir, env: baseEnv(undefined) });
      await runChecked("git", ["commit", "-q", "-m", `add ${file}`], {
        cwd: repoDir,
        env: baseEnv(undefined),
      });
      return (
        await runChecked("git", ["rev-parse", "HEAD"], { cwd: repoDir, env: baseEnv(undefined) })
      ).trim();
    },
    sshUrl(project) {
      return `ssh://git@127.0.0.1:${t.sshPort}/${project.path_with_namespace}.git`;
    },
    httpUrl(project, token) {
      const url = new URL(`${t.url}/${project.path_with_namespace}.git`);
      if (token !== undefined) {
        url.username = "oauth2";
        url.password = token;
      }
      return url.toString();
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
  return workspace;
}

function sshOptions(key: KeyPair, port: number): string[] {
  return [
    "-F",
    "/dev/null",
    "-i",
    key.privatePath,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "LogLevel=ERROR",
    "-p",
    String(port),
  ];
}

/** The ref → commit map of a forge repository, read straight from disk. */
export async function serverRefs(t: TestForge, projectId: number): Promise<Map<string, string>> {
  const out = await runChecked("git", [
    "--git-dir",
    t.forge.ctx.repositories.pathFor(projectId),
    "for-each-ref",
    "--format=%(refname) %(objectname)",
  ]);
  return new Map(
    out
      .split("\n")
      .filter(Boolean)
      .map((line) => line.split(" ") as [string, string]),
  );
}

/** Adds a key to the user's account through `POST /user/keys`. */
export async function addUserKey(t: TestForge, user: TestUser, key: KeyPair): Promise<number> {
  const res = await t.api<{ id: number }>("POST", "/user/keys", {
    token: user.token,
    body: { title: "laptop", key: key.publicKey },
  });
  if (res.status !== 201) throw new Error(`POST /user/keys: ${res.status} ${res.text}`);
  return res.body.id;
}

/** Adds a deploy key to a project through `POST /projects/:id/deploy_keys`. */
export async function addDeployKey(
  t: TestForge,
  maintainer: TestUser,
  projectId: number,
  key: KeyPair,
  canPush: boolean,
): Promise<number> {
  const res = await t.api<{ id: number }>("POST", `/projects/${projectId}/deploy_keys`, {
    token: maintainer.token,
    body: { title: "deploy", key: key.publicKey, can_push: canPush },
  });
  if (res.status !== 201) throw new Error(`POST deploy_keys: ${res.status} ${res.text}`);
  return res.body.id;
}

/** Records every push the forge reports to its hook dispatcher (the dispatcher still runs). */
export function recordPushes(t: TestForge): PushEvent[] {
  const events: PushEvent[] = [];
  const hooks = t.forge.ctx.hooks;
  const original = hooks.recordPush.bind(hooks);
  hooks.recordPush = async (event) => {
    events.push(event);
    await original(event);
  };
  return events;
}
