import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runWithDeadline, type DeadlineRunResult } from "../../lib/process.ts";
import {
  diagnoseGitFailure,
  GitFetchError,
  type DiagnoseContext,
  type GitProvider,
} from "./diagnose.ts";
import {
  deployKeyFingerprint,
  gitEnvironment,
  HARDENING_CONFIG,
  sshCommand,
} from "./git-command.ts";
import { gitTempDirPath } from "./git-temp-dirs.ts";
import {
  hostKeyFingerprint,
  knownHostsContent,
  knownHostsName,
  scanHostKeys,
  type HostKey,
  type HostKeyStore,
} from "./host-keys.ts";
import {
  HostNotAllowedError,
  resolveAllowedAddress,
  type PrivateNetworkPolicy,
  type ResolveHost,
} from "./host-guard.ts";
import { publishedHostKeys } from "./published-host-keys.ts";
import { RepoUrlError, validateRepoUrl, type RepoUrl } from "./repo-url.ts";

/**
 * A git session: the validated URL, the address checked against the private-network policy, the
 * key file and the pinned host keys, for one fetch or listing.
 *
 * - The deploy key goes to a 0600 file in a private 0700 temp dir that is removed afterwards
 *   (and swept at start-up if the process died): never to a process argument or the log.
 * - ssh checks the host against a known_hosts file holding only the site's pinned keys for this
 *   host (recorded on first contact, trust on first use). It connects to the address that was
 *   checked (HostName=<ip>; https: `http.curloptResolve`), so DNS cannot change it in between.
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
  /** Resolves the repository's host name (default: the system's resolver). */
  resolveHost?: ResolveHost;
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

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

export interface GitSession {
  repo: RepoUrl;
  tempDir: string;
  hostKeyRecorded: boolean;
  git(
    args: string[],
    options?: { network?: boolean; extraEnv?: NodeJS.ProcessEnv },
  ): Promise<DeadlineRunResult>;
  failure(result: DeadlineRunResult, extra?: Partial<DiagnoseContext>): GitFetchError;
}

export async function withGitSession<T>(
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
      access.resolveHost,
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
  const tempDir = gitTempDirPath(tempRoot);
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

      const published = publishedHostKeys(repo.host);
      // A provider's published keys, never a key first seen on the wire (which whoever sits
      // between the platform and the provider could have planted); TOFU for other hosts.
      const pinned = published
        ? { keys: [...published.keys], recorded: false }
        : await pinHostKeys(access, repo, address, connectTimeout);
      if (published) {
        context.publishedBy = { provider: published.provider, source: published.source };
      }
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

    const session: GitSession = { repo, tempDir, hostKeyRecorded, git, failure };
    return await body(session);
  } finally {
    await rm(tempDir, { recursive: true, force: true });
  }
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

export function notAllowed(message: string): GitFetchError {
  return new GitFetchError({ code: "not_allowed", message, detail: "" });
}
