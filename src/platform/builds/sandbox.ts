import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { constants as fsConstants } from "node:fs";
import {
  access,
  lstat,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  realpath,
  rm,
  stat,
} from "node:fs/promises";
import { isIPv4, isIPv6 } from "node:net";
import { networkInterfaces, constants as osConstants, tmpdir } from "node:os";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import type { Readable, Writable } from "node:stream";
import { IPV4_RANGES } from "../../lib/net-guard.ts";
import { run } from "../../lib/run.ts";
import { LineSplitter, Tail } from "./lines.ts";
import { sandboxSeccompFilter } from "./seccomp.ts";
import { killAllOfUid, killProcessGroup, processesOfUid } from "./process.ts";

/**
 * Runs a site's build command in a bubblewrap sandbox.
 *
 * The build command is the one shell string Slipway runs (`/bin/sh -c <cmd>`), and only inside
 * the sandbox. The chain, all by argument vector:
 *
 *   prlimit --nproc --fsize --nofile --core -- setpriv --reuid U --regid U --clear-groups
 *     --no-new-privs --pdeathsig=SIGKILL -- bwrap --args 3 -- /bin/sh -c <cmd>
 *
 * - As root, the build runs as a host uid U used by this build alone (picked from a pool), so
 *   RLIMIT_NPROC is enforced (the kernel ignores it for uid 0, even behind a user namespace that
 *   maps to root) and "every process of U" is exactly the build's processes: at the end all of
 *   them are killed and the sweep is verified through /proc. Inside, the build sees uid 1000.
 * - bwrap's options travel through a pipe (`--args`), so the site's environment variables, which
 *   may hold secrets, never appear in a process list. The platform's own environment is never
 *   passed on (the chain starts from an empty environment).
 * - If the platform dies, its builds die with it (PR_SET_PDEATHSIG on the bwrap monitor and the
 *   sandbox's pid 1). bwrap arms the latter only once the sandbox is set up, so a crash in those
 *   few milliseconds can leave an orphan: `sweepOrphanedBuilds()` at start-up finds and kills it.
 * - Only the checkout (bound at /build) is writable; /tmp and HOME are size-limited tmpfs; /usr and
 *   a few /etc files are read-only; everything else — the data dir, keys, other builds — is not
 *   there at all. Paths to hide that lie under a bound tree get an empty read-only tmpfs on top.
 * - A seccomp filter (seccomp.ts: Flatpak's denylist, 32-bit ABIs killed) is on for the command
 *   and everything it starts (`Seccomp: 2`): no namespaces, mounts, keyrings, ptrace, bpf…
 * - The build never shares the host's network namespace. With network on, bwrap holds the
 *   command (--block-fd) until the sandbox's own namespace has a firewall and slirp4netns has
 *   connected it to the outside (NAT; DNS at 10.0.2.3). The firewall (nftables, installed from
 *   the host with `nsenter --net=/proc/<pid>/ns/net -- nft -f -`) rejects — TCP reset, ICMP
 *   admin-prohibited, so builds fail fast — everything outside lo that goes to 10.0.2.0/24
 *   (slirp's host alias 10.0.2.2 included) except DNS to 10.0.2.3, to the private, loopback,
 *   link-local (cloud metadata), CGNAT, multicast and reserved ranges the webhook guard refuses
 *   (lib/net-guard.ts), to fc00::/7, fe80::/10 and friends, and to every address of the host's
 *   interfaces, read at each build start. The build has no CAP_NET_ADMIN there (capabilities
 *   dropped, its own user namespace), so it cannot change the rules. The host's abstract unix
 *   sockets are out of reach too. slirp4netns ends with the build; without it or nft a build
 *   with network fails and says how to fix it (never a silent fallback). With network off there
 *   is only lo.
 */

export const SANDBOX_WORKDIR = "/build";
export const SANDBOX_HOME = "/home/build";
/** The uid/gid the build sees inside the sandbox. */
export const SANDBOX_INNER_ID = 1000;

export const SANDBOX_DEFAULTS = {
  timeoutMs: 15 * 60_000,
  killGraceMs: 5_000,
  maxProcesses: 1024,
  maxFileSizeBytes: 2 * 1024 ** 3,
  maxOpenFiles: 65_536,
  maxOutputBytes: 16 * 1024 ** 2,
  tmpSizeBytes: 1024 ** 3,
  homeSizeBytes: 1024 ** 3,
  lastLines: 30,
  buildUidBase: 2_000_000_000,
  buildUidPoolSize: 1 << 20,
} as const;

/** Netlify's build environment variables (https://docs.netlify.com/configure-builds/environment-variables/). */
export interface NetlifyBuildEnv {
  /** `production`, `deploy-preview`, `branch-deploy` or `dev`. */
  context?: string;
  branch?: string;
  commitRef?: string;
  cachedCommitRef?: string;
  deployId?: string;
  buildId?: string;
  siteId?: string;
  siteName?: string;
  url?: string;
  deployUrl?: string;
  deployPrimeUrl?: string;
  repositoryUrl?: string;
  pullRequest?: boolean;
}

export interface OutputLine {
  /** Milliseconds since the epoch when the line was read. */
  time: number;
  /** `system` lines are the sandbox's own notes (limits hit, processes killed). */
  stream: "stdout" | "stderr" | "system";
  line: string;
}

export interface SandboxOptions {
  /** The site's build command, run as `/bin/sh -c <command>` inside the sandbox. */
  command: string;
  /** The checkout on the host: bound read-write at /build, the only writable place. */
  workDir: string;
  /** The site's own environment variables, passed explicitly. */
  env?: Readonly<Record<string, string>>;
  netlify?: NetlifyBuildEnv;
  /** Network access for the build (package installs). Default true. */
  network?: boolean;
  timeoutMs?: number;
  /** Between SIGTERM to the build's processes and SIGKILL of everything, at the wall-time limit. */
  killGraceMs?: number;
  /** RLIMIT_NPROC: processes and threads of the build. */
  maxProcesses?: number;
  /** RLIMIT_FSIZE: the largest file the build may write. */
  maxFileSizeBytes?: number;
  maxOpenFiles?: number;
  /** stdout + stderr bytes; beyond this the build is killed and the output marked truncated. */
  maxOutputBytes?: number;
  tmpSizeBytes?: number;
  homeSizeBytes?: number;
  /** Host paths that must stay invisible (the data dir, key files) even if under a bound tree. */
  hidePaths?: readonly string[];
  /** More host directories to offer read-only at the same path (toolchains under /opt, …). */
  extraReadOnlyPaths?: readonly string[];
  /** The host uid to run as (root only). By default a free one is picked from a pool. */
  buildUid?: number;
  /** Called for each line of output, with its time, in order per stream. */
  onLine?: (line: OutputLine) => void;
  /** Aborting cancels the build (processes are killed as at the time limit). */
  signal?: AbortSignal;
  lastLinesCount?: number;
  /** Path of bwrap; by default looked up in /usr/bin, /usr/local/bin, /bin. */
  bwrapPath?: string;
  /** Path of slirp4netns (builds with network); by default looked up like bwrap. */
  slirp4netnsPath?: string;
  /** Path of nft, for the firewall of builds with network; by default looked up like bwrap. */
  nftPath?: string;
  /**
   * Run the command without any isolation (SLIPWAY_UNSAFE_NO_SANDBOX=true): only for machines
   * where bubblewrap cannot run and every build is trusted.
   */
  unsafeNoSandbox?: boolean;
}

export interface SandboxResult {
  /** The command's exit code (128+n when it was killed by signal n inside the sandbox). */
  exitCode: number | null;
  /** The signal that ended the sandbox process itself, if any. */
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  outputTruncated: boolean;
  cancelled: boolean;
  /** The last lines of output (stdout and stderr interleaved as read), for error messages. */
  lastLines: string[];
  durationMs: number;
  outputBytes: number;
  sandboxed: boolean;
  /** Processes still alive after the sandbox ended that had to be killed (should be 0). */
  strayProcessesKilled: number;
}

export class SandboxUnavailableError extends Error {
  override name = "SandboxUnavailableError";
}

export class SandboxConfigError extends Error {
  override name = "SandboxConfigError";
}

const SLIRP_MISSING =
  "This site's builds have network access, which Slipway gives each build through its own " +
  "network namespace with slirp4netns (the host's own network and services stay out of " +
  "reach), but slirp4netns is not installed. Install it with `apt-get install slirp4netns`, " +
  "or turn the site's build network off if its build needs no downloads.";

const NFT_MISSING =
  "This site's builds have network access, and Slipway keeps each build away from the host's " +
  "own addresses and from private and cloud-metadata networks with an nftables firewall in the " +
  "build's network namespace, but nft is not installed. Install it with " +
  "`apt-get install nftables`, or turn the site's build network off if its build needs no " +
  "downloads.";

const NETWORK_NEEDS_ROOT =
  "This site's builds have network access, which Slipway gives each build through a network " +
  "namespace of its own behind a firewall, set up from the host: that needs Slipway to run as " +
  "root, and it runs as another user. Run it as root, or turn the site's build network off " +
  "(repo.build_network: false) if its build needs no downloads.";

/** The guest side of slirp4netns's default network (10.0.2.0/24): its DNS forwarder. */
const SLIRP_DNS = "10.0.2.3";

const BWRAP_MISSING =
  "Builds run in a bubblewrap sandbox, but bubblewrap (bwrap) is not installed. Install it " +
  "with `apt-get install bubblewrap` (Debian/Ubuntu; `dnf install bubblewrap` on Fedora, " +
  "`apk add bubblewrap` on Alpine). To run build commands without any isolation instead — only " +
  "if every site's build command is trusted — set SLIPWAY_UNSAFE_NO_SANDBOX=true.";

/** Runs one build command; never throws for a failing command, only for a bad setup. */
export async function runSandboxed(options: SandboxOptions): Promise<SandboxResult> {
  const env = buildEnvironment(options);
  const workDir = await checkWorkDir(options.workDir);
  if (options.command.includes("\0")) throw new SandboxConfigError("build command contains NUL");
  if (options.unsafeNoSandbox) {
    return execute({
      options,
      command: "/bin/sh",
      args: ["-c", options.command],
      cwd: workDir,
      env: { ...env, HOME: workDir },
      fdData: [],
      buildUid: undefined,
      sandboxed: false,
      prefix: await optionalPrlimit(options, await processLimit(options)),
    });
  }

  const bwrap = await findBwrap(options.bwrapPath);
  const tools = await findTools(["prlimit", "setpriv"]);
  const network = options.network === false ? undefined : await findNetworkTools(options);
  const asRoot = process.getuid?.() === 0;
  let buildUid: number | undefined;
  try {
    if (asRoot) {
      buildUid = await allocateBuildUid(options.buildUid);
      await assertReachable(workDir, buildUid);
      for (const path of options.extraReadOnlyPaths ?? []) await assertReachable(path, buildUid);
      await chownTree(workDir, buildUid);
    }
    const bwrapArgs = await bwrapArguments(options, workDir, env);
    // fd 3: bwrap's options; fd 4, 5: /etc/passwd and /etc/group; fd 6: the seccomp filter;
    // fd 7: /etc/resolv.conf. With network, fd 8 and 9 are bwrap's --info-fd and --block-fd.
    const fdData = [
      Buffer.from(bwrapArgs.map((a) => a + "\0").join("")),
      Buffer.from(
        `root:x:0:0:root:/root:/bin/sh\n` +
          `build:x:${SANDBOX_INNER_ID}:${SANDBOX_INNER_ID}:build:${SANDBOX_HOME}:/bin/sh\n` +
          `nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
      ),
      Buffer.from(`root:x:0:\nbuild:x:${SANDBOX_INNER_ID}:\nnogroup:x:65534:\n`),
      sandboxSeccompFilter(),
      Buffer.from(`nameserver ${SLIRP_DNS}\n`),
    ];
    const prefix = [
      tools.prlimit,
      ...(await limitArguments(options, await processLimit(options))),
      "--",
      tools.setpriv,
      ...(asRoot && buildUid !== undefined
        ? [`--reuid=${buildUid}`, `--regid=${buildUid}`, "--clear-groups"]
        : []),
      "--no-new-privs",
      // bwrap only ties itself to its parent after setting up namespaces; this covers the start.
      "--pdeathsig=SIGKILL",
      "--",
      bwrap,
      "--args",
      "3",
      "--",
    ];
    return await execute({
      options,
      command: prefix[0]!,
      args: [...prefix.slice(1), "/bin/sh", "-c", options.command],
      cwd: "/",
      env: { PATH: "/usr/bin:/bin" },
      fdData,
      buildUid,
      sandboxed: true,
      prefix: [],
      network,
    });
  } finally {
    if (buildUid !== undefined) releaseBuildUid(buildUid);
  }
}

/**
 * Runs `true` in a minimal sandbox to tell whether builds can run here: bwrap present, user
 * namespaces allowed. For start-up checks and `slipway doctor`-style diagnostics.
 */
export async function checkSandbox(
  options: Pick<SandboxOptions, "bwrapPath" | "unsafeNoSandbox"> = {},
): Promise<{ ok: boolean; sandboxed: boolean; message: string }> {
  if (options.unsafeNoSandbox) {
    return { ok: true, sandboxed: false, message: "sandbox disabled (SLIPWAY_UNSAFE_NO_SANDBOX)" };
  }
  const dir = await mkdtemp(`${tmpdir()}/slipway-sandbox-check-`);
  try {
    const result = await runSandboxed({
      command: "true",
      workDir: dir,
      network: false,
      timeoutMs: 30_000,
      ...(options.bwrapPath !== undefined ? { bwrapPath: options.bwrapPath } : {}),
    });
    if (result.exitCode === 0) return { ok: true, sandboxed: true, message: "bubblewrap works" };
    return {
      ok: false,
      sandboxed: true,
      message:
        `bubblewrap is installed but cannot create a sandbox: ${result.lastLines.join(" ").trim()}. ` +
        "It needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 on " +
        "older Debian; an AppArmor profile allowing bwrap on Ubuntu 24.04+).",
    };
  } catch (error) {
    return { ok: false, sandboxed: true, message: (error as Error).message };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Kills builds that lost their platform: sandboxes whose bwrap monitor is gone (the platform died
 * while bwrap was setting up, before bwrap tied the sandbox to it), and monitors that were
 * re-parented to pid 1. Only uids of the build pool are looked at, and a build whose monitor
 * still has its parent is left alone, so this is safe while other workers on the machine build.
 * Call at start-up (and from a periodic watchdog); returns how many processes it killed.
 */
export async function sweepOrphanedBuilds(
  range: { first: number; count: number } = {
    first: SANDBOX_DEFAULTS.buildUidBase,
    count: SANDBOX_DEFAULTS.buildUidPoolSize,
  },
): Promise<number> {
  const byUid = new Map<number, { pid: number; ppid: number; nsDepth: number }[]>();
  for (const pid of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
    if (uid < range.first || uid >= range.first + range.count) continue;
    if (/^State:\s+[ZX]/m.test(status)) continue;
    const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    const nsDepth = (/^NSpid:\s+(.*)$/m.exec(status)?.[1] ?? "").trim().split(/\s+/).length;
    const list = byUid.get(uid) ?? [];
    list.push({ pid: Number(pid), ppid, nsDepth });
    byUid.set(uid, list);
  }
  let killed = 0;
  for (const [uid, processes] of byUid) {
    if (uidsInUse.has(uid)) continue; // one of this process's own builds
    // The monitor is the build's process outside the sandbox's pid namespace.
    const monitors = processes.filter((p) => p.nsDepth === 1);
    const orphaned =
      monitors.length === 0 || monitors.every((m) => m.ppid === 1 && process.pid !== 1);
    if (orphaned) killed += await killAllOfUid(uid, 5000);
  }
  return killed;
}

/** A one-line summary of a failed run for `build.error` (the log has the details). */
export function describeSandboxFailure(result: SandboxResult): string | undefined {
  const tail = result.lastLines.length
    ? `\nLast lines of output:\n${result.lastLines.join("\n")}`
    : "";
  if (result.cancelled) return "The build was cancelled.";
  if (result.timedOut) {
    return `The build command did not finish within the time limit and was stopped.${tail}`;
  }
  if (result.outputTruncated) {
    return `The build command wrote more output than allowed (${result.outputBytes} bytes) and was stopped.${tail}`;
  }
  if (result.exitCode === 0 && result.signal === null) return undefined;
  const killedBy = signalOfExitCode(result.exitCode);
  const why =
    killedBy === "SIGXFSZ"
      ? " (killed by SIGXFSZ: it wrote a file larger than the file size limit)"
      : killedBy === "SIGKILL"
        ? " (killed by SIGKILL)"
        : killedBy !== undefined
          ? ` (killed by ${killedBy})`
          : "";
  const code = result.exitCode ?? result.signal;
  return `The build command failed with exit code ${code}${why}.${tail}`;
}

function signalOfExitCode(code: number | null): string | undefined {
  if (code === null || code <= 128 || code > 128 + 64) return undefined;
  const number = code - 128;
  return Object.entries(osConstants.signals).find(([, n]) => n === number)?.[0];
}

// ---------------------------------------------------------------------------------------------
// Environment

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The whole environment of the build: nothing is inherited from the platform. */
export function buildEnvironment(
  options: Pick<SandboxOptions, "env" | "netlify">,
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: SANDBOX_HOME,
    LANG: "C.UTF-8",
    USER: "build",
    TMPDIR: "/tmp",
    CI: "true",
    NETLIFY: "true",
  };
  const n = options.netlify ?? {};
  const netlifyVars: Record<string, string | undefined> = {
    CONTEXT: n.context,
    BRANCH: n.branch,
    HEAD: n.branch,
    COMMIT_REF: n.commitRef,
    CACHED_COMMIT_REF: n.cachedCommitRef,
    DEPLOY_ID: n.deployId,
    BUILD_ID: n.buildId,
    SITE_ID: n.siteId,
    SITE_NAME: n.siteName,
    URL: n.url,
    DEPLOY_URL: n.deployUrl,
    DEPLOY_PRIME_URL: n.deployPrimeUrl,
    REPOSITORY_URL: n.repositoryUrl,
    PULL_REQUEST: n.pullRequest === undefined ? undefined : String(n.pullRequest),
  };
  for (const [name, value] of Object.entries(netlifyVars)) {
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (!ENV_NAME.test(name)) {
      throw new SandboxConfigError(
        `environment variable name ${JSON.stringify(name)} is invalid (letters, digits and _; not starting with a digit)`,
      );
    }
    if (typeof value !== "string" || value.includes("\0")) {
      throw new SandboxConfigError(`environment variable ${name} must be a string without NUL`);
    }
    env[name] = value;
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// bwrap arguments

interface SystemDir {
  path: string;
  symlink?: string;
}

/** /bin, /lib… are symlinks into /usr on merged-/usr systems and directories elsewhere. */
async function systemDirs(): Promise<SystemDir[]> {
  const dirs: SystemDir[] = [];
  for (const path of ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]) {
    try {
      const info = await lstat(path);
      if (info.isSymbolicLink()) {
        dirs.push({ path, symlink: await readlink(path) });
      } else if (info.isDirectory()) {
        dirs.push({ path });
      }
    } catch {
      /* not on this system */
    }
  }
  return dirs;
}

function systemDirArguments(dirs: readonly SystemDir[]): string[] {
  return dirs.flatMap((d) =>
    d.symlink !== undefined ? ["--symlink", d.symlink, d.path] : ["--ro-bind", d.path, d.path],
  );
}

/** The /etc files a build needs: name resolution, TLS roots, the dynamic linker's cache, time. */
export const ETC_ESSENTIALS = [
  "/etc/resolv.conf",
  "/etc/hosts",
  "/etc/nsswitch.conf",
  "/etc/host.conf",
  "/etc/gai.conf",
  "/etc/services",
  "/etc/protocols",
  "/etc/ssl",
  "/etc/ca-certificates",
  "/etc/ca-certificates.conf",
  "/etc/pki",
  "/etc/crypto-policies",
  "/etc/alternatives",
  "/etc/localtime",
  "/etc/timezone",
  "/etc/ld.so.cache",
  "/etc/ld.so.conf",
  "/etc/ld.so.conf.d",
  "/etc/mime.types",
  "/etc/os-release",
] as const;

async function bwrapArguments(
  options: SandboxOptions,
  workDir: string,
  env: Record<string, string>,
): Promise<string[]> {
  const dirs = await systemDirs();
  const args = [
    "--unshare-all",
    // With network, the command waits (fd 9) until slirp4netns has set up the namespace.
    ...(options.network === false ? [] : ["--info-fd", "8", "--block-fd", "9"]),
    "--unshare-user",
    "--disable-userns",
    "--die-with-parent",
    "--new-session",
    "--hostname",
    "slipway-build",
    "--uid",
    String(SANDBOX_INNER_ID),
    "--gid",
    String(SANDBOX_INNER_ID),
    "--cap-drop",
    "ALL",
    "--ro-bind",
    "/usr",
    "/usr",
    ...systemDirArguments(dirs),
  ];
  for (const path of ETC_ESSENTIALS) {
    if (path !== "/etc/resolv.conf") args.push("--ro-bind-try", path, path);
  }
  args.push("--ro-bind-data", "4", "/etc/passwd", "--ro-bind-data", "5", "/etc/group");
  args.push("--ro-bind-data", "7", "/etc/resolv.conf");
  args.push("--proc", "/proc", "--dev", "/dev");
  args.push("--size", String(options.tmpSizeBytes ?? SANDBOX_DEFAULTS.tmpSizeBytes));
  args.push("--tmpfs", "/dev/shm");
  args.push("--size", String(options.tmpSizeBytes ?? SANDBOX_DEFAULTS.tmpSizeBytes));
  args.push("--tmpfs", "/tmp");
  args.push("--symlink", "../tmp", "/var/tmp");
  args.push("--size", String(options.homeSizeBytes ?? SANDBOX_DEFAULTS.homeSizeBytes));
  args.push("--tmpfs", SANDBOX_HOME);
  const extra: string[] = [];
  for (const path of options.extraReadOnlyPaths ?? []) {
    if (!isAbsolute(path))
      throw new SandboxConfigError(`extraReadOnlyPaths: ${path} is not absolute`);
    const real = await realpath(path);
    extra.push(real);
    args.push("--ro-bind", real, real);
  }
  args.push("--bind", workDir, SANDBOX_WORKDIR);

  // Identity-bound trees: a path under one of them is visible at the same path inside.
  const roots = [
    "/usr",
    ...dirs.filter((d) => !d.symlink).map((d) => d.path),
    ...ETC_ESSENTIALS,
    ...extra,
  ];
  for (const hidden of options.hidePaths ?? []) {
    for (const mapped of await sandboxPathsOf(hidden, roots, workDir)) {
      if (mapped.isDirectory) {
        args.push("--size", "4096", "--tmpfs", mapped.path, "--remount-ro", mapped.path);
      } else {
        args.push("--ro-bind", "/dev/null", mapped.path);
      }
    }
  }
  // The sandbox's own root (a tmpfs holding the mount points) is not a place to write either.
  args.push("--remount-ro", "/", "--remount-ro", "/dev");
  args.push("--seccomp", "6");
  args.push("--chdir", SANDBOX_WORKDIR, "--clearenv");
  for (const [name, value] of Object.entries(env)) args.push("--setenv", name, value);
  for (const arg of args) {
    if (arg.includes("\0")) throw new SandboxConfigError("sandbox argument contains NUL");
  }
  return args;
}

/** Where a host path would be visible inside the sandbox (so it can be covered up). */
async function sandboxPathsOf(
  hidden: string,
  roots: readonly string[],
  workDir: string,
): Promise<{ path: string; isDirectory: boolean }[]> {
  if (!isAbsolute(hidden)) throw new SandboxConfigError(`hidePaths: ${hidden} is not absolute`);
  let real: string;
  let isDirectory: boolean;
  try {
    real = await realpath(hidden);
    isDirectory = (await stat(real)).isDirectory();
  } catch {
    return []; // nothing there, nothing to hide
  }
  const found: { path: string; isDirectory: boolean }[] = [];
  for (const candidate of new Set([resolve(hidden), real])) {
    if (isInside(candidate, workDir)) {
      found.push({ path: resolve(SANDBOX_WORKDIR, relative(workDir, candidate)), isDirectory });
      continue;
    }
    for (const root of roots) {
      if (candidate === root || isInside(root, candidate)) {
        throw new SandboxConfigError(
          `cannot hide ${hidden}: the sandbox needs ${root}, which it contains`,
        );
      }
      if (isInside(candidate, root)) found.push({ path: candidate, isDirectory });
    }
  }
  return found;
}

function isInside(path: string, dir: string): boolean {
  return path !== dir && path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

async function limitArguments(options: SandboxOptions, nproc: number): Promise<string[]> {
  const hard = await hardLimits();
  const wanted = {
    nproc,
    fsize: options.maxFileSizeBytes ?? SANDBOX_DEFAULTS.maxFileSizeBytes,
    nofile: options.maxOpenFiles ?? SANDBOX_DEFAULTS.maxOpenFiles,
  };
  const args: string[] = [];
  for (const [name, value] of Object.entries(wanted)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new SandboxConfigError(`limit ${name} must be a positive integer`);
    }
    // A limit can only be lowered without CAP_SYS_RESOURCE (containers often lack it).
    args.push(`--${name}=${Math.min(value, hard[name] ?? Infinity)}`);
  }
  args.push("--core=0");
  return args;
}

const LIMIT_NAMES: Record<string, string> = {
  "Max processes": "nproc",
  "Max file size": "fsize",
  "Max open files": "nofile",
};

/** The hard limits this process has (and so can hand down at most), from /proc/self/limits. */
async function hardLimits(): Promise<Record<string, number>> {
  const limits: Record<string, number> = {};
  try {
    for (const line of (await readFile("/proc/self/limits", "utf8")).split("\n")) {
      for (const [label, name] of Object.entries(LIMIT_NAMES)) {
        if (!line.startsWith(label + " ")) continue;
        const fields = line.slice(label.length).trim().split(/\s+/);
        const value = Number(fields[1]);
        if (Number.isFinite(value)) limits[name] = value;
      }
    }
  } catch {
    /* no /proc: ask for what was configured */
  }
  return limits;
}

async function optionalPrlimit(options: SandboxOptions, nproc: number): Promise<string[]> {
  try {
    const { prlimit } = await findTools(["prlimit"]);
    return [prlimit, ...(await limitArguments(options, nproc)), "--"];
  } catch {
    return [];
  }
}

/**
 * RLIMIT_NPROC counts every task of the real uid. As root the build gets a uid of its own, so the
 * limit is the build's alone; otherwise it shares the platform's uid, and the limit is set above
 * what that uid already runs (the kernel ignores it for root in the unsafe mode).
 */
async function processLimit(options: SandboxOptions): Promise<number> {
  const wanted = options.maxProcesses ?? SANDBOX_DEFAULTS.maxProcesses;
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return wanted;
  return (await countTasksOfUid(uid)) + wanted;
}

// ---------------------------------------------------------------------------------------------
// Tools, uids and the work dir

const SEARCH_PATH = ["/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin", "/sbin"];

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function findBwrap(explicit: string | undefined): Promise<string> {
  const candidates = explicit !== undefined ? [explicit] : SEARCH_PATH.map((d) => `${d}/bwrap`);
  for (const candidate of candidates) {
    if (await isExecutable(candidate)) return candidate;
  }
  throw new SandboxUnavailableError(BWRAP_MISSING);
}

/** An explicit path, or the first executable `name` on the search path. */
async function findExecutable(name: string, explicit: string | undefined): Promise<string | null> {
  const candidates = explicit !== undefined ? [explicit] : SEARCH_PATH.map((d) => `${d}/${name}`);
  for (const candidate of candidates) {
    if (await isExecutable(candidate)) return candidate;
  }
  return null;
}

async function findNetworkTools(options: SandboxOptions): Promise<NetworkTools> {
  if (process.getuid?.() !== 0) throw new SandboxUnavailableError(NETWORK_NEEDS_ROOT);
  const slirp4netns = await findExecutable("slirp4netns", options.slirp4netnsPath);
  if (slirp4netns === null) throw new SandboxUnavailableError(SLIRP_MISSING);
  const nft = await findExecutable("nft", options.nftPath);
  if (nft === null) throw new SandboxUnavailableError(NFT_MISSING);
  const { nsenter } = await findTools(["nsenter"]);
  return { slirp4netns, nft, nsenter };
}

async function findTools<T extends string>(names: readonly T[]): Promise<Record<T, string>> {
  const found = {} as Record<T, string>;
  for (const name of names) {
    let path: string | undefined;
    for (const dir of SEARCH_PATH) {
      if (await isExecutable(`${dir}/${name}`)) {
        path = `${dir}/${name}`;
        break;
      }
    }
    if (path === undefined) {
      throw new SandboxUnavailableError(
        `The build sandbox needs ${name} from util-linux, which is not installed: \`apt-get install util-linux\`.`,
      );
    }
    found[name] = path;
  }
  return found;
}

async function checkWorkDir(workDir: string): Promise<string> {
  if (!isAbsolute(workDir)) throw new SandboxConfigError(`workDir ${workDir} is not absolute`);
  let info;
  try {
    info = await lstat(workDir);
  } catch {
    throw new SandboxConfigError(`workDir ${workDir} does not exist`);
  }
  if (!info.isDirectory()) throw new SandboxConfigError(`workDir ${workDir} is not a directory`);
  return resolve(workDir);
}

const uidsInUse = new Set<number>();

async function allocateBuildUid(requested: number | undefined): Promise<number> {
  if (requested !== undefined) {
    if (!Number.isSafeInteger(requested) || requested < 1000 || requested > 0x7fffffff) {
      throw new SandboxConfigError(`buildUid ${requested} must be between 1000 and 2^31-1`);
    }
    if (uidsInUse.has(requested) || (await processesOfUid(requested)).length > 0) {
      throw new SandboxConfigError(`build uid ${requested} is in use by other processes`);
    }
    uidsInUse.add(requested);
    return requested;
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    const uid =
      SANDBOX_DEFAULTS.buildUidBase + Math.floor(Math.random() * SANDBOX_DEFAULTS.buildUidPoolSize);
    if (uidsInUse.has(uid)) continue;
    uidsInUse.add(uid);
    if ((await processesOfUid(uid)).length === 0) return uid;
    uidsInUse.delete(uid);
  }
  throw new SandboxConfigError("no free build uid found");
}

function releaseBuildUid(uid: number): void {
  uidsInUse.delete(uid);
}

/**
 * bwrap runs as the build uid and resolves the work dir's path itself, so every directory above
 * it must be searchable by that uid (0711 is enough: no listing).
 */
async function assertReachable(path: string, uid: number): Promise<void> {
  let dir = resolve(path);
  for (;;) {
    const parent = dirname(dir);
    if (parent === dir) return;
    dir = parent;
    const info = await stat(dir);
    const searchable =
      (info.mode & 0o001) !== 0 ||
      (info.uid === uid && (info.mode & 0o100) !== 0) ||
      (info.gid === uid && (info.mode & 0o010) !== 0);
    if (!searchable) {
      throw new SandboxConfigError(
        `the build cannot reach ${path}: ${dir} is not searchable by other users ` +
          `(mode ${(info.mode & 0o777).toString(8)}); make the directories above build checkouts ` +
          `mode 0711 (search only, no listing)`,
      );
    }
  }
}

/** The checkout belongs to the build uid (symlinks themselves, never their targets). */
async function chownTree(dir: string, uid: number): Promise<void> {
  const result = await run("chown", ["-R", "-P", "-h", "--", `${uid}:${uid}`, dir], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  if (result.code !== 0) {
    throw new SandboxConfigError(
      `could not hand ${dir} to the build user: ${result.stderr.trim()}`,
    );
  }
}

/**
 * After the sandbox ended: its pid namespace is being torn down by the kernel, which can take a
 * moment for many processes. Whatever of the build uid is still alive after that is killed and
 * counted (nothing should be).
 */
async function sweepBuildUid(uid: number): Promise<number> {
  const deadline = Date.now() + 2000;
  while ((await processesOfUid(uid)).length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return killAllOfUid(uid, 5000);
}

async function countTasksOfUid(uid: number): Promise<number> {
  let tasks = 0;
  for (const pid of await processesOfUid(uid)) {
    try {
      tasks += (await readdir(`/proc/${pid}/task`)).length;
    } catch {
      /* ended */
    }
  }
  return tasks;
}

// ---------------------------------------------------------------------------------------------
// Running and stopping

interface Execution {
  options: SandboxOptions;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Written to fds 3, 4, … of the child, in order. */
  fdData: Buffer[];
  buildUid: number | undefined;
  sandboxed: boolean;
  /** A wrapper (prlimit) to put in front of the command in unsafe mode. */
  prefix: string[];
  /** Set when the build has network: bwrap then has --info-fd 8 --block-fd 9. */
  network?: NetworkTools | undefined;
}

function execute(x: Execution): Promise<SandboxResult> {
  const { options } = x;
  const timeoutMs = options.timeoutMs ?? SANDBOX_DEFAULTS.timeoutMs;
  const graceMs = options.killGraceMs ?? SANDBOX_DEFAULTS.killGraceMs;
  const maxOutput = options.maxOutputBytes ?? SANDBOX_DEFAULTS.maxOutputBytes;
  const tail = new Tail<string>(options.lastLinesCount ?? SANDBOX_DEFAULTS.lastLines);
  const started = performance.now();
  const [command, ...args] = x.prefix.length
    ? [...x.prefix, x.command, ...x.args]
    : [x.command, ...x.args];

  return new Promise<SandboxResult>((resolvePromise, reject) => {
    const networkFds = x.network !== undefined ? (["pipe", "pipe"] as const) : [];
    const stdio: StdioOptions = [
      "ignore",
      "pipe",
      "pipe",
      ...x.fdData.map(() => "pipe" as const),
      ...networkFds,
    ];
    let child;
    try {
      child = spawn(command!, args, {
        cwd: x.cwd,
        env: x.env,
        stdio,
        detached: true,
        shell: false,
      });
    } catch (error) {
      reject(error);
      return;
    }
    const pid = child.pid;
    x.fdData.forEach((data, i) => {
      const stream = child.stdio[3 + i] as Writable;
      stream.on("error", () => {
        /* bwrap exited before reading it: its own error explains why */
      });
      stream.end(data);
    });

    let network: BuildNetwork | undefined;
    let networkError: Error | undefined;
    let networkReady: Promise<void> = Promise.resolve();
    if (x.network !== undefined) {
      const infoFd = child.stdio[3 + x.fdData.length] as Readable;
      const blockFd = child.stdio[4 + x.fdData.length] as Writable;
      blockFd.on("error", () => {
        /* bwrap ended first */
      });
      networkReady = startNetwork(x.network, infoFd, (started) => (network = started))
        .then(() => {
          blockFd.end("1");
        }) // only now may the build command start
        .catch((error: unknown) => {
          networkError = error instanceof Error ? error : new Error(String(error));
          void killEverything();
        });
    }

    let outputBytes = 0;
    let outputTruncated = false;
    let timedOut = false;
    let cancelled = false;
    let stopping = false;
    const timers: NodeJS.Timeout[] = [];

    const emit = (stream: OutputLine["stream"], line: string, time = Date.now()): void => {
      tail.push(line);
      if (!options.onLine) return;
      try {
        options.onLine({ time, stream, line });
      } catch {
        /* a failing log sink must not break the build */
      }
    };

    const killEverything = async (): Promise<void> => {
      if (pid !== undefined) killProcessGroup(pid, "SIGKILL");
      if (x.buildUid !== undefined) await killAllOfUid(x.buildUid, 2000);
    };

    const stop = (reason: "timeout" | "output" | "cancel"): void => {
      if (stopping) return;
      stopping = true;
      if (reason === "output") {
        void killEverything();
        return;
      }
      // SIGTERM the build's own processes first (not bwrap: it would take them down at once).
      void (async () => {
        if (x.buildUid !== undefined) {
          for (const p of await processesOfUid(x.buildUid)) {
            if (p === pid) continue;
            try {
              process.kill(p, "SIGTERM");
            } catch {
              /* gone */
            }
          }
        } else if (pid !== undefined) {
          killProcessGroup(pid, "SIGTERM");
        }
      })();
      timers.push(setTimeout(() => void killEverything(), graceMs));
    };

    const splitters = { stdout: new LineSplitter(), stderr: new LineSplitter() };
    const onData = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
      if (outputTruncated) return;
      let data = chunk;
      if (outputBytes + chunk.length > maxOutput) {
        data = chunk.subarray(0, Math.max(0, maxOutput - outputBytes));
        outputTruncated = true;
      }
      outputBytes += data.length;
      const time = Date.now(); // one clock read per chunk: a chunk can hold thousands of lines
      for (const line of splitters[stream].push(data)) emit(stream, line, time);
      if (outputTruncated) {
        for (const line of splitters[stream].end()) emit(stream, line);
        emit(
          "system",
          `Output exceeded the limit of ${maxOutput} bytes: the rest was dropped and the build was stopped.`,
        );
        stop("output");
      }
    };
    child.stdout!.on("data", onData("stdout"));
    child.stderr!.on("data", onData("stderr"));
    const drained = Promise.all([
      new Promise((r) => child.stdout!.once("close", r)),
      new Promise((r) => child.stderr!.once("close", r)),
    ]);

    timers.push(
      setTimeout(() => {
        timedOut = true;
        emit(
          "system",
          `Build exceeded the time limit of ${Math.round(timeoutMs / 1000)} s: stopping it.`,
        );
        stop("timeout");
      }, timeoutMs),
    );
    const onAbort = (): void => {
      cancelled = true;
      emit("system", "Build cancelled: stopping it.");
      stop("cancel");
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });

    child.on("error", (error) => {
      timers.forEach(clearTimeout);
      options.signal?.removeEventListener("abort", onAbort);
      reject(error);
    });

    child.on("exit", (code, signal) => {
      timers.forEach(clearTimeout);
      options.signal?.removeEventListener("abort", onAbort);
      void (async () => {
        // Whatever is left (nothing, inside a pid namespace) is killed and counted.
        if (pid !== undefined) killProcessGroup(pid, "SIGKILL");
        if (x.network !== undefined) {
          (child.stdio[3 + x.fdData.length] as Readable).destroy();
          await networkReady;
          await network?.stop();
        }
        const stray = x.buildUid !== undefined ? await sweepBuildUid(x.buildUid) : 0;
        if (stray > 0) emit("system", `Killed ${stray} process(es) left behind by the build.`);
        // Let the pipes drain; a process that escaped the group may hold them open.
        await Promise.race([drained, new Promise((r) => setTimeout(r, 1000))]);
        child.stdout!.destroy();
        child.stderr!.destroy();
        if (!outputTruncated) {
          for (const line of splitters.stdout.end()) emit("stdout", line);
          for (const line of splitters.stderr.end()) emit("stderr", line);
        }
        if (networkError !== undefined && !cancelled && !timedOut) {
          reject(networkError);
          return;
        }
        resolvePromise({
          exitCode: code,
          signal,
          timedOut,
          outputTruncated,
          cancelled,
          lastLines: tail.toArray(),
          durationMs: Math.round(performance.now() - started),
          outputBytes,
          sandboxed: x.sandboxed,
          strayProcessesKilled: stray,
        });
      })();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The build's network: its own namespace, connected to the outside by slirp4netns

interface BuildNetwork {
  /** Kills slirp4netns and waits until it is gone. */
  stop(): Promise<void>;
}

interface NetworkTools {
  slirp4netns: string;
  nft: string;
  nsenter: string;
}

const NETWORK_SETUP_MS = 15_000;

/**
 * Reads the sandbox's pid from bwrap's --info-fd, installs the firewall in its network namespace
 * (before any link to the outside exists), then starts slirp4netns on it and waits for its ready
 * byte. slirp4netns runs as the platform's user (it must
 * open /dev/net/tun) in a mount namespace of its own, with its capabilities dropped and its own
 * seccomp filter; `--disable-host-loopback` keeps 127.0.0.1 of the host out of reach (10.0.2.2
 * leads nowhere). Its --exit-fd is a pipe from this process: if the platform dies, it exits.
 */
async function startNetwork(
  tools: NetworkTools,
  info: Readable,
  onStarted: (network: BuildNetwork) => void,
): Promise<void> {
  const sandboxPid = await readSandboxPid(info);
  await installFirewall(tools, sandboxPid);
  const slirp = spawn(
    tools.slirp4netns,
    [
      "--configure",
      "--mtu=65520",
      "--disable-host-loopback",
      "--enable-sandbox",
      "--enable-seccomp",
      "--ready-fd=3",
      "--exit-fd=4",
      // By path: given a pid, slirp4netns also joins the sandbox's (nested) user namespace,
      // from which it may not enter the network namespace bwrap's outer one owns.
      "--netns-type=path",
      "--",
      `/proc/${sandboxPid}/ns/net`,
      "tap0",
    ],
    { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"], env: {}, detached: true },
  );
  const exited = new Promise<void>((r) => {
    if (slirp.exitCode !== null || slirp.signalCode !== null) r();
    else slirp.once("exit", () => r());
  });
  slirp.on("error", () => {
    /* reported through the ready wait below */
  });
  (slirp.stdio[4] as Writable).on("error", () => undefined);
  onStarted({
    stop: async () => {
      if (slirp.pid !== undefined) killProcessGroup(slirp.pid, "SIGKILL");
      await exited;
    },
  });
  await waitReady(slirp, exited);
}

/**
 * The sandbox's pid from bwrap's --info-fd JSON. The pipe is read to its end (bwrap closes it
 * after the JSON): closing it early would let bwrap's next write die of SIGPIPE.
 */
function readSandboxPid(info: Readable): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = "";
    let settled = false;
    const done = (result: number | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (typeof result === "number") resolve(result);
      else reject(result);
    };
    const timer = setTimeout(
      () => done(new Error("bwrap did not report its sandbox")),
      NETWORK_SETUP_MS,
    );
    info.on("data", (chunk: Buffer) => {
      if (settled) return;
      text += chunk.toString("utf8");
      const pid = /"child-pid"\s*:\s*(\d+)\s*[,}]/.exec(text)?.[1];
      if (pid !== undefined) done(Number(pid));
    });
    info.on("error", () => undefined);
    // bwrap failed before creating the sandbox: its own message is in the build's output.
    info.once("close", () => done(new Error("the sandbox ended before its network was set up")));
  });
}

function waitReady(slirp: ChildProcess, exited: Promise<void>): Promise<void> {
  let stderr = "";
  slirp.stderr!.on("data", (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString("utf8");
  });
  const ready = new Promise<boolean>((resolve) => {
    (slirp.stdio[3] as Readable).on("data", () => resolve(true));
    (slirp.stdio[3] as Readable).on("error", () => undefined);
    void exited.then(() => resolve(false));
    setTimeout(() => resolve(false), NETWORK_SETUP_MS).unref();
  });
  return ready.then((ok) => {
    if (ok) return;
    throw new SandboxUnavailableError(
      `could not set up the build's network with slirp4netns: ${stderr.trim() || "no answer"}`,
    );
  });
}

// ---------------------------------------------------------------------------------------------
// The build's firewall

/** IPv6 ranges a build may not reach (lo is allowed before any of this is looked at). */
const BLOCKED_IPV6 = [
  "::/128", // unspecified
  "::1/128", // loopback: only through lo
  "64:ff9b::/96", // NAT64 to any IPv4 address, private ones included
  "64:ff9b:1::/48", // local-use NAT64
  "fc00::/7", // unique local
  "fe80::/10", // link-local
  "fec0::/10", // site-local (deprecated)
  "ff00::/8", // multicast
] as const;

const ipv4Text = (n: number): string =>
  [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");

/** Every address of the host's interfaces: a build must not reach the host through any of them. */
function hostAddresses(): { ipv4: string[]; ipv6: string[] } {
  const ipv4 = new Set<string>();
  const ipv6 = new Set<string>();
  for (const addresses of Object.values(networkInterfaces())) {
    for (const { address } of addresses ?? []) {
      if (isIPv4(address)) ipv4.add(address);
      else if (isIPv6(address)) ipv6.add(address);
    }
  }
  return { ipv4: [...ipv4], ipv6: [...ipv6] };
}

/**
 * The ruleset for a build's network namespace. Output only: nothing reaches the build from
 * outside (slirp4netns forwards no ports). Rejected rather than dropped, so a build that tries
 * fails at once instead of hanging until its time limit. The sets auto-merge overlapping ranges
 * (a host address inside a private range, 10.0.2.0/24 inside 10/8).
 */
export function buildFirewallRuleset(host = hostAddresses()): string {
  const ipv4 = [
    "10.0.2.0/24", // slirp's network: 10.0.2.2 is its alias of the host; DNS is let through below
    ...IPV4_RANGES.map(([base, bits]) => `${ipv4Text(base)}/${bits}`),
    ...host.ipv4,
  ];
  const ipv6 = [...BLOCKED_IPV6, ...host.ipv6];
  for (const address of [...host.ipv4, ...host.ipv6]) {
    if (!isIPv4(address) && !isIPv6(address)) throw new Error(`not an address: ${address}`);
  }
  return [
    "table inet slipway_build {",
    "  set blocked_ipv4 {",
    "    type ipv4_addr; flags interval; auto-merge;",
    `    elements = { ${ipv4.join(", ")} }`,
    "  }",
    "  set blocked_ipv6 {",
    "    type ipv6_addr; flags interval; auto-merge;",
    `    elements = { ${ipv6.join(", ")} }`,
    "  }",
    "  chain output {",
    "    type filter hook output priority filter; policy accept;",
    '    oifname "lo" accept',
    `    ip daddr ${SLIRP_DNS} meta l4proto { tcp, udp } th dport 53 accept`,
    "    ip daddr @blocked_ipv4 meta l4proto tcp reject with tcp reset",
    "    ip daddr @blocked_ipv4 reject with icmpx type admin-prohibited",
    "    ip6 daddr @blocked_ipv6 meta l4proto tcp reject with tcp reset",
    "    ip6 daddr @blocked_ipv6 reject with icmpx type admin-prohibited",
    "  }",
    "}",
    "",
  ].join("\n");
}

/** Loads the ruleset into the sandbox's network namespace, from the host (as root). */
async function installFirewall(tools: NetworkTools, sandboxPid: number): Promise<void> {
  const result = await run(
    tools.nsenter,
    [`--net=/proc/${sandboxPid}/ns/net`, "--", tools.nft, "-f", "-"],
    {
      input: buildFirewallRuleset(),
      stdio: ["pipe", "ignore", "pipe"],
      env: {},
      // The build's exit waits for its network setup: that must not hang on a stuck nft.
      signal: AbortSignal.timeout(NETWORK_SETUP_MS),
    },
  );
  if (result.code !== 0) {
    throw new SandboxUnavailableError(
      `could not install the build's firewall with nft: ${result.stderr.trim() || `exit ${result.code ?? result.signal}`}`,
    );
  }
}
