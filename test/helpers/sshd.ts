import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, runChecked } from "../../src/lib/run.ts";
import { waitUntil } from "./wait.ts";

/**
 * A real OpenSSH server for tests: its own config, host key and authorized_keys in a temp dir,
 * on a free loopback port, serving bare repositories to a dedicated `git-shell` user.
 */

export const SSHD = "/usr/sbin/sshd";
export const GIT_SHELL = "/usr/bin/git-shell";
export const TEST_GIT_USER = "slipway-buildtest";

/** Why the sshd tests cannot run here, or undefined when they can. */
export function sshdSkipReason(): string | undefined {
  if (process.platform !== "linux") return "sshd tests run on Linux only";
  if (!existsSync(SSHD))
    return `OpenSSH server not installed (${SSHD}); apt-get install openssh-server`;
  if (!existsSync(GIT_SHELL)) return `git-shell not found at ${GIT_SHELL}`;
  if (process.getuid?.() !== 0) return "the sshd tests create a system user and need root";
  return undefined;
}

export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

export async function generateKeyPair(dir: string, name: string): Promise<KeyPair> {
  const path = join(dir, name);
  await runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path]);
  return {
    privateKey: await readFile(path, "utf8"),
    publicKey: (await readFile(`${path}.pub`, "utf8")).trim(),
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

async function ensureUser(): Promise<void> {
  const exists = await run("id", ["-u", TEST_GIT_USER]);
  if (exists.code === 0) return;
  const created = await run("useradd", [
    "--system",
    "--no-create-home",
    "--home-dir",
    "/nonexistent",
    "--shell",
    GIT_SHELL,
    TEST_GIT_USER,
  ]);
  // A concurrent test may have created it meanwhile (exit 9: already exists).
  if (created.code !== 0 && created.code !== 9) {
    throw new Error(`useradd ${TEST_GIT_USER} failed: ${created.stderr}`);
  }
  // Not "locked" ('!'), so that sshd lets the user log in with a key.
  await runChecked("usermod", ["-p", "*", TEST_GIT_USER]);
}

export class TestSshd {
  readonly dir: string;
  readonly repoRoot: string;
  port = 0;
  hostPublicKey = "";
  private child: ChildProcess | undefined;
  private log = "";

  private constructor(dir: string) {
    this.dir = dir;
    this.repoRoot = join(dir, "repos");
  }

  static async start(authorizedKeys: readonly string[]): Promise<TestSshd> {
    await ensureUser();
    await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    const dir = await mkdtemp(join(tmpdir(), "slipway-sshd-"));
    await chmod(dir, 0o755); // the git user reads repositories and authorized_keys here
    const sshd = new TestSshd(dir);
    await mkdir(sshd.repoRoot, { mode: 0o755 });
    // safe.directory for root-owned repositories, for the git user only.
    await writeFile(join(dir, "gitconfig"), "[safe]\n\tdirectory = *\n", { mode: 0o644 });
    await sshd.setAuthorizedKeys(authorizedKeys);
    await sshd.newHostKey();
    sshd.port = await freePort();
    await sshd.launch();
    return sshd;
  }

  get user(): string {
    return TEST_GIT_USER;
  }

  /** ssh:// URL of a repository under repoRoot. */
  url(repoName: string): string {
    return `ssh://${TEST_GIT_USER}@127.0.0.1:${this.port}${join(this.repoRoot, repoName)}`;
  }

  async setAuthorizedKeys(keys: readonly string[]): Promise<void> {
    await writeFile(join(this.dir, "authorized_keys"), keys.map((k) => k + "\n").join(""), {
      mode: 0o644,
    });
  }

  /** Replaces the host key (as a reinstalled or impersonated server would); restart to apply. */
  async newHostKey(): Promise<void> {
    await rm(join(this.dir, "host_ed25519"), { force: true });
    await rm(join(this.dir, "host_ed25519.pub"), { force: true });
    const pair = await generateKeyPair(this.dir, "host_ed25519");
    this.hostPublicKey = pair.publicKey.split(" ").slice(0, 2).join(" ");
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  private async launch(): Promise<void> {
    const config = [
      `Port ${this.port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(this.dir, "host_ed25519")}`,
      `PidFile ${join(this.dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(this.dir, "authorized_keys")}`,
      `AllowUsers ${TEST_GIT_USER}`,
      "PermitRootLogin no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "UseDNS no",
      "AcceptEnv GIT_PROTOCOL",
      `SetEnv GIT_CONFIG_GLOBAL=${join(this.dir, "gitconfig")}`,
      "LogLevel VERBOSE",
    ].join("\n");
    await writeFile(join(this.dir, "sshd_config"), config + "\n");
    this.log = "";
    // setpriv --pdeathsig: the server goes away with the test process, even if that crashes.
    const args = [
      "--pdeathsig=SIGKILL",
      "--",
      SSHD,
      "-D",
      "-e",
      "-f",
      join(this.dir, "sshd_config"),
    ];
    const child = spawn("setpriv", args, {
      stdio: ["ignore", "ignore", "pipe"],
      env: { PATH: "/usr/sbin:/usr/bin:/bin" },
    });
    this.child = child;
    child.stderr!.on("data", (chunk: Buffer) => (this.log += chunk.toString()));
    await waitUntil(
      () => {
        if (/Server listening on 127\.0\.0\.1/.test(this.log)) return true;
        if (child.exitCode !== null) throw new Error(`sshd exited: ${this.log}`);
        return false;
      },
      () => `sshd to start: ${this.log}`,
      10_000,
      20,
    );
  }

  /** What sshd logged (for debugging failed tests). */
  get output(): string {
    return this.log;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
    this.child = undefined;
  }

  async dispose(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A bare repository under repoRoot plus a work tree to commit from (as root, over the file system). */
export class TestRepo {
  private constructor(
    readonly bare: string,
    readonly work: string,
  ) {}

  static async create(sshd: TestSshd, name: string): Promise<TestRepo> {
    const bare = join(sshd.repoRoot, name);
    const work = join(sshd.dir, `work-${name}`);
    await runChecked("git", ["init", "--quiet", "--bare", "--initial-branch=main", "--", bare], {
      env: testGitEnv(),
    });
    await runChecked("git", ["init", "--quiet", "--initial-branch=main", "--", work], {
      env: testGitEnv(),
    });
    return new TestRepo(bare, work);
  }

  /** Writes files, commits them on `branch` and pushes; returns the commit sha. */
  async commit(
    files: Record<string, string>,
    branch = "main",
    message = "commit",
  ): Promise<string> {
    const git = (...args: string[]) =>
      runChecked("git", ["-C", this.work, ...args], { env: testGitEnv() });
    const current = (await git("branch", "--show-current")).trim();
    if (current !== branch) {
      const exists = await run(
        "git",
        ["-C", this.work, "rev-parse", "--verify", "--quiet", branch],
        {
          env: testGitEnv(),
        },
      );
      await git("checkout", "--quiet", ...(exists.code === 0 ? [branch] : ["-b", branch]));
    }
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(this.work, path, ".."), { recursive: true });
      await writeFile(join(this.work, path), content);
    }
    await git("add", "--all");
    await git("commit", "--quiet", "-m", message);
    await git("push", "--quiet", this.bare, `${branch}:${branch}`);
    return (await git("rev-parse", "HEAD")).trim();
  }
}

export function testGitEnv(): NodeJS.ProcessEnv {
  return {
    PATH: "/usr/bin:/bin",
    HOME: tmpdir(),
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_AUTHOR_NAME: "Test",
    GIT_AUTHOR_EMAIL: "test@example.com",
    GIT_COMMITTER_NAME: "Test",
    GIT_COMMITTER_EMAIL: "test@example.com",
  };
}
