import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isValidBranchName } from "../../lib/git-refs.ts";
import { run } from "../../lib/run.ts";
import {
  diagnoseGitFailure,
  GitFetchError,
  type DiagnoseContext,
  type GitProvider,
} from "./diagnose.ts";
import {
  hostKeyFingerprint,
  knownHostsContent,
  knownHostsName,
  scanHostKeys,
  type HostKey,
  type HostKeyStore,
} from "./host-keys.ts";
import { runWithDeadline, type DeadlineRunResult } from "../../lib/process.ts";
import {
  HostNotAllowedError,
  resolveAllowedAddress,
  type PrivateNetworkPolicy,
} from "./host-guard.ts";
import { RepoUrlError, validateRepoUrl, type RepoUrl } from "./repo-url.ts";
export { GitFetchError, type GitErrorCode, type GitProvider } from "./diagnose.ts";

/**
 * Fetches a site's repository with the system git over SSH (or HTTPS: public repositories, or
 * private ones with a GitHub App installation token), into a per-site bare mirror, and checks a
 * commit out into the build directory.
 *
 * - The deploy key goes to a 0600 file in a private 0700 temp dir that is removed afterwards
 *   (and swept at start-up if the process died): never to a process argument or the log.
 * - ssh runs with `-F /dev/null`, IdentitiesOnly, BatchMode, no agent, StrictHostKeyChecking=yes
 *   against a known_hosts file holding only the site's pinned keys for this host (recorded on
 *   first contact, trust on first use). It connects to the address that was checked against the
 *   private-network policy (HostName=<ip>), so DNS cannot change it in between.
 * - git runs with no system or global config, GIT_ALLOW_PROTOCOL=ssh:https, no prompts, no
 *   credential helpers, no redirects, no submodules, and `--end-of-options` before URLs and refs.
 * - HTTPS credentials reach git only through its environment (`GIT_CONFIG_COUNT` →
 *   `http.extraHeader`), never through an argument, the URL or a log line.
 */

export interface GitAccess {
  repoUrl: string;
  /** The deploy key (OpenSSH private key). Needed for ssh URLs. */
  privateKey?: string;
  /** https URLs only: sent as `Authorization: Basic` (e.g. `x-access-token` + an App token). */
  httpsCredentials?: HttpsCredentials;
  /** https URLs only: trust this CA bundle (PEM file) instead of the system's. */
  caFile?: string;
  /** The site's pinned host keys. */
  hostKeys: HostKeyStore;
  /** Record the keys of a host seen for the first time (default true). */
  trustOnFirstUse?: boolean;
  /** May hosts resolving to loopback/private/link-local addresses be contacted? Default no. */
  allowPrivateNetwork?: PrivateNetworkPolicy;
  provider?: GitProvider;
  repoWebUrl?: string;
  connectTimeoutSec?: number;
  /** Per git command (fetch, ls-remote). Default 10 minutes. */
  timeoutMs?: number;
  /** Where per-build temp dirs go (default the OS temp dir). */
  tempRoot?: string;
  /** Progress notes for the build log ("preparing repo" stage). */
  onLog?: (message: string) => void;
}

export interface HttpsCredentials {
  username: string;
  password: string;
  /** What a refusal of these credentials means, for the build log (replaces git's words). */
  refusedMessage?: string;
}

export interface FetchOptions extends GitAccess {
  branch: string;
  /**
   * Fetch this ref instead of the branch (a pull/merge request's head: `refs/pull/5/head`,
   * `refs/merge-requests/3/head`); it is kept in the mirror under `refs/slipway/`.
   */
  fetchRef?: string;
  /** Build this commit (it must be on the branch); default the branch's head. */
  commit?: string;
  /** The site's bare mirror; created on first use, fetched into incrementally afterwards. */
  mirrorDir: string;
  /** Where the commit's files go; must not exist or be empty. No `.git` is written there. */
  checkoutDir: string;
}

export interface FetchResult {
  sha: string;
  branch: string;
  /** The branch's commit in the mirror before this fetch (the previously fetched one). */
  previousSha: string | undefined;
  /** Host keys were recorded during this fetch (first contact). */
  hostKeyRecorded: boolean;
  fetchMs: number;
  checkoutMs: number;
  durationMs: number;
}

const TEMP_PREFIX = "slipway-git-";
const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** git's complaints about the local repository (not the remote one). */
const LOCAL_DAMAGE =
  /not a git repository|fatal: bad object|is corrupt|unable to read [0-9a-f]{40}|cannot lock ref|fatal: loose object|bad config|unable to write/i;

/** Fetches `branch` into the site's mirror and checks it (or `commit`) out into `checkoutDir`. */
export async function fetchRepository(options: FetchOptions): Promise<FetchResult> {
  const started = performance.now();
  if (!isValidBranchName(options.branch)) {
    throw notAllowed(
      `the branch name ${JSON.stringify(options.branch)} is not a valid git branch name`,
    );
  }
  if (options.commit !== undefined && !SHA.test(options.commit)) {
    throw notAllowed(`the commit ${JSON.stringify(options.commit)} is not a full hexadecimal sha`);
  }
  if (options.fetchRef !== undefined && !isFetchableRef(options.fetchRef)) {
    throw notAllowed(`the ref ${JSON.stringify(options.fetchRef)} is not a valid git ref to fetch`);
  }
  const remoteRef = options.fetchRef ?? `refs/heads/${options.branch}`;
  const ref = options.fetchRef === undefined ? remoteRef : `refs/slipway/${remoteRef.slice(5)}`;
  const what = options.fetchRef ?? `branch ${options.branch}`;
  return withGitSession(options, async (session) => {
    await ensureMirror(options.mirrorDir, session);
    const previousSha = await revParse(options.mirrorDir, ref, session);

    const fetchStarted = performance.now();
    options.onLog?.(`Fetching ${what} from ${session.repo.url}`);
    const fetch = () =>
      session.git(
        [
          `--git-dir=${options.mirrorDir}`,
          "fetch",
          "--prune",
          "--no-tags",
          "--no-write-fetch-head",
          "--no-recurse-submodules",
          "--end-of-options",
          session.repo.url,
          `+${remoteRef}:${ref}`,
        ],
        { network: true },
      );
    let fetched = await fetch();
    if (fetched.code !== 0 && !fetched.timedOut && LOCAL_DAMAGE.test(fetched.stderr)) {
      // The mirror itself is damaged (disk trouble, a crash mid-write): rebuild it once.
      options.onLog?.("The site's git mirror is damaged; fetching it again from scratch");
      await rm(options.mirrorDir, { recursive: true, force: true });
      await ensureMirror(options.mirrorDir, session);
      fetched = await fetch();
    }
    if (
      fetched.code !== 0 &&
      options.fetchRef !== undefined &&
      /couldn't find remote ref/i.test(fetched.stderr)
    ) {
      throw new GitFetchError({
        code: "ref_not_found",
        message: `The repository ${session.repo.url} has no ${options.fetchRef}: the pull or merge request may have been deleted, or the site's repository is not the one the request was opened against.`,
        detail: fetched.stderr.replaceAll(session.tempDir, "<temp>").trim(),
      });
    }
    if (fetched.code !== 0) {
      let remoteBranches: string[] | undefined;
      if (/couldn't find remote ref/i.test(fetched.stderr)) {
        remoteBranches = await session.listBranches().catch(() => undefined);
      }
      throw session.failure(fetched, { branch: options.branch, remoteBranches });
    }
    const fetchMs = Math.round(performance.now() - fetchStarted);

    const head = await revParse(options.mirrorDir, ref, session);
    if (head === undefined)
      throw new Error(`git fetch succeeded but ${ref} is missing in the mirror`);
    let sha = head;
    if (options.commit !== undefined && options.commit !== head) {
      const onBranch = await session.git([
        `--git-dir=${options.mirrorDir}`,
        "merge-base",
        "--is-ancestor",
        "--end-of-options",
        options.commit,
        head,
      ]);
      if (onBranch.code !== 0) {
        throw new GitFetchError({
          code: "commit_not_on_branch",
          message:
            `The commit ${options.commit} is not on the ${what} of ` +
            `${session.repo.url} (its head is ${head}); it may have been removed by a force push.`,
          detail: onBranch.stderr.trim(),
        });
      }
      sha = options.commit;
    }
    options.onLog?.(
      previousSha === undefined
        ? `Fetched ${what} at ${sha} in ${fetchMs} ms`
        : previousSha === head
          ? `The ${what} is unchanged at ${head} (${fetchMs} ms)`
          : `Fetched ${what}: ${previousSha.slice(0, 12)}..${head.slice(0, 12)} in ${fetchMs} ms`,
    );

    const checkoutStarted = performance.now();
    await checkout(options.mirrorDir, sha, options.checkoutDir, session);
    const checkoutMs = Math.round(performance.now() - checkoutStarted);
    options.onLog?.(`Checked out ${sha} in ${checkoutMs} ms`);
    return {
      sha,
      branch: options.branch,
      previousSha,
      hostKeyRecorded: session.hostKeyRecorded,
      fetchMs,
      checkoutMs,
      durationMs: Math.round(performance.now() - started),
    };
  });
}

/** The repository's branch names (sorted), through the same hardened connection. */
export async function listRemoteBranches(options: GitAccess): Promise<string[]> {
  return withGitSession(options, (session) => session.listBranches());
}

/**
 * Removes the temp dirs of git sessions whose process is gone (a crash or kill -9 can leave a
 * deploy key behind). Call at start-up; returns how many were removed.
 */
export async function sweepStaleGitTempDirs(tempRoot = tmpdir()): Promise<number> {
  let removed = 0;
  let entries: string[];
  try {
    entries = await readdir(tempRoot);
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const match = new RegExp(`^${TEMP_PREFIX}(\\d+)-[0-9a-f]+$`).exec(entry);
    if (!match) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    await rm(join(tempRoot, entry), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

// ---------------------------------------------------------------------------------------------
// A session: validated URL, checked address, key file and pinned host keys, for one build step

interface GitSession {
  repo: RepoUrl;
  tempDir: string;
  hostKeyRecorded: boolean;
  git(
    args: string[],
    options?: { network?: boolean; extraEnv?: NodeJS.ProcessEnv },
  ): Promise<DeadlineRunResult>;
  listBranches(): Promise<string[]>;
  failure(result: DeadlineRunResult, extra?: Partial<DiagnoseContext>): GitFetchError;
}

async function withGitSession<T>(
  access: GitAccess,
  body: (session: GitSession) => Promise<T>,
): Promise<T> {
  let repo: RepoUrl;
  try {
    repo = validateRepoUrl(access.repoUrl);
  } catch (error) {
    if (error instanceof RepoUrlError) throw notAllowed(error.message);
    throw error;
  }
  let address: string;
  try {
    address = await resolveAllowedAddress(
      repo.host,
      repo.port,
      access.allowPrivateNetwork ?? false,
    );
  } catch (error) {
    if (error instanceof HostNotAllowedError) {
      throw new GitFetchError({
        code: error.address === undefined ? "network" : "not_allowed",
        message: error.message,
        detail: "",
      });
    }
    throw error;
  }
  if (repo.protocol === "ssh" && !access.privateKey) {
    throw notAllowed("an ssh repository needs the site's deploy key, and none was given");
  }
  if (repo.protocol === "ssh" && access.httpsCredentials) {
    throw notAllowed("HTTPS credentials are only sent to https repositories");
  }

  const tempRoot = access.tempRoot ?? tmpdir();
  const tempDir = join(tempRoot, `${TEMP_PREFIX}${process.pid}-${randomBytes(8).toString("hex")}`);
  await mkdir(tempDir, { mode: 0o700 });
  try {
    await chmod(tempDir, 0o700); // whatever the umask
    const timeoutMs = access.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const connectTimeout = access.connectTimeoutSec ?? 15;
    const baseEnv: NodeJS.ProcessEnv = gitEnvironment(tempDir);
    const context: DiagnoseContext = {
      repo,
      ...(access.provider !== undefined ? { provider: access.provider } : {}),
      ...(access.repoWebUrl !== undefined ? { repoWebUrl: access.repoWebUrl } : {}),
      timeoutMs,
    };
    const config = [...HARDENING_CONFIG];
    let hostKeyRecorded = false;

    if (repo.protocol === "ssh") {
      const keyPath = join(tempDir, "deploy_key");
      const key = access.privateKey!.replace(/\r\n/g, "\n").trimEnd() + "\n";
      await writeFile(keyPath, key, { mode: 0o600, flag: "wx" });
      context.keyFingerprint = await deployKeyFingerprint(key, keyPath);

      const pinned = await pinHostKeys(access, repo, address, connectTimeout);
      hostKeyRecorded = pinned.recorded;
      context.pinnedHostKeys = pinned.keys.map(hostKeyFingerprint);
      const alias = knownHostsName(repo.host, repo.port);
      const knownHostsPath = join(tempDir, "known_hosts");
      await writeFile(knownHostsPath, knownHostsContent(alias, pinned.keys), { mode: 0o600 });
      baseEnv.GIT_SSH_COMMAND = sshCommand({
        keyPath,
        knownHostsPath,
        alias,
        address,
        connectTimeout,
      });
      baseEnv.GIT_SSH_VARIANT = "ssh";
      if (pinned.recorded) {
        access.onLog?.(
          `First connection to ${alias}: recorded its host key (${context.pinnedHostKeys.join(", ")}). ` +
            "A different key later will stop builds.",
        );
      }
      access.onLog?.(`Using the site's deploy key ${context.keyFingerprint ?? ""}`.trimEnd());
    } else {
      // https: connect to the checked address, not to whatever DNS says next.
      const host = repo.host.includes(":") ? `[${repo.host}]` : repo.host;
      const ip = address.includes(":") ? `[${address}]` : address;
      config.push("-c", `http.curloptResolve=${host}:${repo.port}:${ip}`);
      if (access.caFile !== undefined) config.push("-c", `http.sslCAInfo=${access.caFile}`);
      if (access.httpsCredentials) {
        // In the environment only: arguments are world-readable in /proc, URLs end up in logs.
        const { username, password } = access.httpsCredentials;
        const basic = Buffer.from(`${username}:${password}`).toString("base64");
        baseEnv.GIT_CONFIG_COUNT = "1";
        baseEnv.GIT_CONFIG_KEY_0 = "http.extraHeader";
        baseEnv.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${basic}`;
        access.onLog?.(`Using HTTPS credentials for ${repo.host} (${username})`);
      }
    }

    const git = (
      args: string[],
      options: { network?: boolean; extraEnv?: NodeJS.ProcessEnv } = {},
    ): Promise<DeadlineRunResult> =>
      runWithDeadline("git", [...config, ...args], {
        env: { ...baseEnv, ...options.extraEnv },
        timeoutMs: options.network ? timeoutMs : 5 * 60_000,
      });

    const failure = (
      result: DeadlineRunResult,
      extra: Partial<DiagnoseContext> = {},
    ): GitFetchError => {
      const diagnosis = diagnoseGitFailure(result.stderr.replaceAll(tempDir, "<temp>"), {
        ...context,
        ...extra,
        timedOut: result.timedOut,
      });
      const refused = diagnosis.code === "auth_failed" || diagnosis.code === "repo_not_found";
      if (refused && access.httpsCredentials) {
        // git's words ("could not read Username", "not found") would point at the wrong fix.
        diagnosis.code = "auth_failed";
        diagnosis.message =
          access.httpsCredentials.refusedMessage ??
          `${repo.host} refused the HTTPS credentials for ${repo.path}.`;
      }
      return new GitFetchError(diagnosis);
    };

    const listBranches = async (): Promise<string[]> => {
      const result = await git(["ls-remote", "--heads", "--end-of-options", repo.url], {
        network: true,
      });
      if (result.code !== 0) throw failure(result);
      return result.stdout
        .split("\n")
        .map((line) => /^[0-9a-f]+\trefs\/heads\/(.+)$/.exec(line)?.[1])
        .filter((name): name is string => name !== undefined)
        .sort();
    };

    const session: GitSession = { repo, tempDir, hostKeyRecorded, git, listBranches, failure };
    return await body(session);
  } finally {
    await rm(tempDir, { recursive: true, force: true });
  }
}

/**
 * git's settings for every command: nothing from the machine's or a user's config, only ssh and
 * https, no credential helpers or prompts, no redirects (a validated URL must not lead elsewhere),
 * no submodules, no hooks.
 */
const HARDENING_CONFIG: readonly string[] = [
  "-c", "protocol.allow=never",
  "-c", "protocol.ssh.allow=always",
  "-c", "protocol.https.allow=always",
  "-c", "http.followRedirects=false",
  "-c", "credential.helper=",
  "-c", "core.askPass=",
  "-c", "core.hooksPath=/dev/null",
  "-c", "core.fsmonitor=false",
  "-c", "submodule.recurse=false",
  "-c", "fetch.recurseSubmodules=false",
  "-c", "core.autocrlf=false",
  "-c", "gc.auto=0",
  "-c", "maintenance.auto=false",
]; // prettier-ignore

/** The environment of every git command: nothing inherited from the platform. */
export function gitEnvironment(home: string): NodeJS.ProcessEnv {
  return {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    HOME: home,
    LC_ALL: "C",
    LANG: "C",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    GIT_ALLOW_PROTOCOL: "ssh:https",
    GIT_PROTOCOL_FROM_USER: "0",
    GIT_LFS_SKIP_SMUDGE: "1",
  };
}

interface SshCommandParts {
  keyPath: string;
  knownHostsPath: string;
  alias: string;
  address: string;
  connectTimeout: number;
}

/**
 * GIT_SSH_COMMAND (git runs it through `sh -c`): every value is ours — temp paths, a validated
 * host, an IP address — and each is single-quoted anyway.
 */
export function sshCommand(parts: SshCommandParts): string {
  const words = [
    "ssh",
    "-F", "/dev/null",
    "-i", parts.keyPath,
    "-o", "IdentitiesOnly=yes",
    "-o", "IdentityAgent=none",
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${parts.knownHostsPath}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", `HostKeyAlias=${parts.alias}`,
    "-o", `HostName=${parts.address}`,
    "-o", "CheckHostIP=no",
    "-o", "UpdateHostKeys=no",
    "-o", "PasswordAuthentication=no",
    "-o", "KbdInteractiveAuthentication=no",
    "-o", "PreferredAuthentications=publickey",
    "-o", "ForwardAgent=no",
    "-o", "ForwardX11=no",
    "-o", "ClearAllForwardings=yes",
    "-o", "PermitLocalCommand=no",
    "-o", "ControlMaster=no",
    "-o", "ControlPath=none",
    "-o", `ConnectTimeout=${parts.connectTimeout}`,
    "-o", "ServerAliveInterval=15",
    "-o", "ServerAliveCountMax=4",
  ]; // prettier-ignore
  return words.map(shellQuote).join(" ");
}

function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

async function pinHostKeys(
  access: GitAccess,
  repo: RepoUrl,
  address: string,
  connectTimeout: number,
): Promise<{ keys: HostKey[]; recorded: boolean }> {
  const existing = await access.hostKeys.get(repo.host, repo.port);
  if (existing && existing.length > 0) return { keys: [...existing], recorded: false };
  const where = knownHostsName(repo.host, repo.port);
  if (access.trustOnFirstUse === false) {
    throw new GitFetchError({
      code: "host_key_unknown",
      message:
        `Slipway has no pinned SSH host key for ${where}, and trusting a new host on first use ` +
        "is turned off. Record the host's key for this site first (after checking its fingerprint).",
      detail: "",
    });
  }
  let keys: HostKey[];
  try {
    keys = await scanHostKeys(address, repo.port, { timeoutSec: connectTimeout });
  } catch {
    const hostPort = `${repo.host.includes(":") ? `[${repo.host}]` : repo.host}:${repo.port}`;
    const why = await probeTcp(address, repo.port, connectTimeout * 1000);
    throw new GitFetchError({
      code: "network",
      message:
        `Could not read the SSH host key of ${hostPort}: ${why}. Check the host and port in ` +
        "the repository URL, and that the git server is running.",
      detail: "",
    });
  }
  await access.hostKeys.save(repo.host, repo.port, keys);
  return { keys, recorded: true };
}

/** `ED25519 SHA256:…` of the deploy key, from its public half (no passphrase support needed). */
export async function deployKeyFingerprint(
  privateKey: string,
  keyPath?: string,
): Promise<string | undefined> {
  const publicBlob = openSshPublicBlob(privateKey);
  if (publicBlob) {
    const typeLength = publicBlob.readUInt32BE(0);
    const type = publicBlob.subarray(4, 4 + typeLength).toString("latin1");
    return hostKeyFingerprint(`${type} ${publicBlob.toString("base64")}`);
  }
  if (keyPath === undefined) return undefined;
  // Other formats (PEM RSA/ECDSA): ask ssh-keygen for the public key.
  const result = await run("ssh-keygen", ["-y", "-f", keyPath], {
    env: { PATH: "/usr/bin:/bin", LC_ALL: "C" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return result.code === 0 ? hostKeyFingerprint(result.stdout.trim()) : undefined;
}

function openSshPublicBlob(privateKey: string): Buffer | undefined {
  const match =
    /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]+?)-----END OPENSSH PRIVATE KEY-----/.exec(
      privateKey,
    );
  if (!match) return undefined;
  const data = Buffer.from(match[1]!.replace(/\s+/g, ""), "base64");
  const magic = "openssh-key-v1\0";
  if (data.subarray(0, magic.length).toString("latin1") !== magic) return undefined;
  let offset = magic.length;
  const readString = (): Buffer | undefined => {
    if (offset + 4 > data.length) return undefined;
    const length = data.readUInt32BE(offset);
    offset += 4;
    if (offset + length > data.length) return undefined;
    const value = data.subarray(offset, offset + length);
    offset += length;
    return value;
  };
  readString(); // cipher
  readString(); // kdf
  readString(); // kdf options
  if (offset + 4 > data.length || data.readUInt32BE(offset) < 1) return undefined;
  offset += 4;
  const blob = readString();
  return blob && blob.length >= 4 ? blob : undefined;
}

// ---------------------------------------------------------------------------------------------
// Mirror and checkout

async function ensureMirror(mirrorDir: string, session: GitSession): Promise<void> {
  if (existsSync(join(mirrorDir, "HEAD")) && existsSync(join(mirrorDir, "objects"))) return;
  // Missing, or left half-made by a crash: start over.
  await rm(mirrorDir, { recursive: true, force: true });
  await mkdir(mirrorDir, { recursive: true, mode: 0o700 });
  const result = await session.git(["init", "--bare", "--quiet", "--", mirrorDir]);
  if (result.code !== 0)
    throw new Error(`git init --bare ${mirrorDir} failed: ${result.stderr.trim()}`);
}

async function revParse(
  mirrorDir: string,
  ref: string,
  session: GitSession,
): Promise<string | undefined> {
  const result = await session.git([
    `--git-dir=${mirrorDir}`,
    "rev-parse",
    "--verify",
    "--quiet",
    "--end-of-options",
    `${ref}^{commit}`,
  ]);
  const sha = result.stdout.trim();
  return result.code === 0 && SHA.test(sha) ? sha : undefined;
}

/**
 * Writes the commit's tree into `checkoutDir` with git's own checkout code (which refuses paths
 * with `..`, `.git` and writes through symlinks), using a throwaway index: the mirror is not
 * touched and the build directory gets no `.git` (no remote URL, no config to leak).
 */
async function checkout(
  mirrorDir: string,
  sha: string,
  checkoutDir: string,
  session: GitSession,
): Promise<void> {
  await mkdir(checkoutDir, { recursive: true });
  const existing = await readdir(checkoutDir);
  if (existing.length > 0) throw new Error(`the checkout directory ${checkoutDir} is not empty`);
  const result = await session.git(
    [
      `--git-dir=${mirrorDir}`,
      `--work-tree=${checkoutDir}`,
      "read-tree",
      "--reset",
      "-u",
      "--end-of-options",
      sha,
    ],
    { extraEnv: { GIT_INDEX_FILE: join(session.tempDir, "checkout-index") } },
  );
  if (result.code !== 0) {
    throw new Error(
      `checking out ${sha} failed: ${result.stderr.replaceAll(session.tempDir, "<temp>").trim()}`,
    );
  }
}

/** Why a TCP connection to address:port does not lead to an SSH server, in words. */
function probeTcp(address: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    const done = (why: string) => {
      socket.destroy();
      resolve(why);
    };
    socket.setTimeout(timeoutMs, () => done("the connection timed out"));
    socket.once("connect", () =>
      done(
        "the server accepted the connection but did not present an SSH host key (is it an SSH server?)",
      ),
    );
    socket.once("error", (error: NodeJS.ErrnoException) =>
      done(
        error.code === "ECONNREFUSED"
          ? "connection refused (nothing listens there)"
          : error.code === "EHOSTUNREACH" || error.code === "ENETUNREACH"
            ? "the host is unreachable"
            : `connection failed (${error.code ?? error.message})`,
      ),
    );
  });
}

/** A ref under `refs/` whose rest is a valid branch name (no `..`, no leading dash, ...). */
function isFetchableRef(ref: string): boolean {
  return (
    ref.startsWith("refs/") && !ref.startsWith("refs/slipway/") && isValidBranchName(ref.slice(5))
  );
}

function notAllowed(message: string): GitFetchError {
  return new GitFetchError({ code: "not_allowed", message, detail: "" });
}
