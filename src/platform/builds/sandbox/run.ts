import { lstat, readdir, readFile, realpath } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { isAbsolute, resolve } from "node:path";
import { killAllOfUid } from "../../../lib/process.ts";
import { BWRAP_FD, bwrapInputs } from "./bwrap-args.ts";
import type { AllowEntry } from "../../../lib/allow-ranges.ts";
import { resolveAllowHosts } from "./allow-hosts.ts";
import {
  buildEnvironment,
  type NetlifyBuildEnv,
  type PackageSettings,
  type Toolchain,
} from "./environment.ts";
import { SandboxConfigError } from "./errors.ts";
import { execute } from "./execution.ts";
import { limitArguments, optionalPrlimit, processLimit } from "./limits.ts";
import { findBwrap, findNetworkTools, findTools } from "./tools.ts";
import { confine, type Confinement } from "./confinement.ts";
import { sweepLeftoverCgroups } from "./cgroups.ts";
import {
  assertReachable,
  BUILD_UID_POOL,
  chownTree,
  isBuildUidInUse,
  processUidAllocator,
  type BuildUidAllocator,
} from "./uids.ts";
import type { LimitHit } from "./watch.ts";

/**
 * Runs a site's build command — the one shell string Slipway runs, and only here — in a
 * bubblewrap sandbox, through a chain of argument vectors that starts from an empty environment:
 *
 *   sh -c <join the build's cgroup> … -- prlimit … -- setpriv --reuid U --regid U --clear-groups
 *     --no-new-privs --pdeathsig=SIGKILL -- bwrap --args 3 -- /bin/sh -c <command>
 *
 * A failing command is a result, never an exception; only a bad setup throws. docs/ARCHITECTURE.md
 * ("The build sandbox") says what the build can and cannot reach, and why.
 */

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
  /** What the build firewall lets through although private or reserved (resolved per build). */
  allowHosts?: readonly AllowEntry[];
  /** The operator's registry, proxies and extra CA certificates, as the build's environment. */
  packages?: PackageSettings;
  /** The Node the build runs with, when not the platform's (`builds/toolchain.ts`). */
  toolchain?: Toolchain;
  timeoutMs?: number;
  /** Between SIGTERM to the build's processes and SIGKILL of everything, at the wall-time limit. */
  killGraceMs?: number;
  /** Processes and threads of the build: pids.max of its cgroup, and RLIMIT_NPROC. */
  maxProcesses?: number;
  /** Memory of the build, its tmpfs mounts included (its cgroup; RLIMIT_AS without one). */
  memoryBytes?: number;
  /** CPU weight against the platform's 100 (cgroup v2's cpu.weight; v1's cpu.shares × 100/1024). */
  cpuWeight?: number;
  /** What the checkout may take on disk (watched: `watch.ts`). */
  diskBytes?: number;
  /** The build is stopped when its disk has less than this free ("the disk is full"). */
  minFreeDiskBytes?: number;
  /** Where the cgroup hierarchies are mounted (tests point it elsewhere). */
  cgroupRoot?: string;
  /** Who hands out build uids; by default this process alone (`uids.ts`). */
  uids?: BuildUidAllocator;
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
  /** The limit (memory, processes, disk) the build ran into; it was stopped for it. */
  limit?: LimitHit | undefined;
}

/** Runs one build command; never throws for a failing command, only for a bad setup. */
export async function runSandboxed(options: SandboxOptions): Promise<SandboxResult> {
  // The CA file and the Node versions are bound read-only where they really are, and named so.
  const caFile = await realFile("SLIPWAY_BUILD_CA_FILE", options.packages?.caFile);
  const toolchainDir = await realFile("the Node version's directory", options.toolchain?.dir);
  const env = buildEnvironment({
    ...options,
    packages: { ...options.packages, caFile },
    toolchain: options.toolchain && { ...options.toolchain, dir: toolchainDir },
  });
  const readOnly = [...(options.extraReadOnlyPaths ?? [])];
  for (const path of [caFile, toolchainDir]) if (path !== undefined) readOnly.push(path);
  options = { ...options, extraReadOnlyPaths: readOnly };
  const workDir = await checkWorkDir(options.workDir);
  if (options.command.includes("\0")) throw new SandboxConfigError("build command contains NUL");
  if (options.unsafeNoSandbox) {
    const confinement = await confine(options, workDir);
    try {
      announce(options, confinement);
      return await execute({
        options,
        command: "/bin/sh",
        args: ["-c", options.command],
        cwd: workDir,
        env: { ...env, HOME: workDir },
        fdData: [],
        buildUid: undefined,
        sandboxed: false,
        prefix: [
          ...confinement.joinPrefix,
          ...(await optionalPrlimit(
            options,
            await processLimit(options, confinement.processMargin),
            confinement.addressSpaceBytes,
          )),
        ],
        confinement,
      });
    } finally {
      await release(confinement);
    }
  }

  const bwrap = await findBwrap(options.bwrapPath);
  const tools = await findTools(["prlimit", "setpriv"]);
  const network = options.network === false ? undefined : await findNetworkTools(options);
  // Names are resolved while the uid, the checkout and the cgroup are prepared (it never throws).
  const allowing = network === undefined ? undefined : resolveAllowHosts(options.allowHosts ?? []);
  const asRoot = process.getuid?.() === 0;
  const uids = options.uids ?? processUidAllocator;
  let buildUid: number | undefined;
  let confinement: Confinement | undefined;
  try {
    if (asRoot) {
      buildUid = await uids.acquire(options.buildUid);
      await assertReachable(workDir, buildUid);
      for (const path of options.extraReadOnlyPaths ?? []) await assertReachable(path, buildUid);
      await chownTree(workDir, buildUid);
    }
    const fdData = await bwrapInputs(options, workDir, env);
    confinement = await confine(options, workDir, buildUid?.toString());
    const allowed = await allowing;
    for (const line of allowed?.notes ?? []) note(options, line);
    announce(options, confinement);
    const prefix = [
      ...confinement.joinPrefix,
      tools.prlimit,
      ...(await limitArguments(
        options,
        await processLimit(options, confinement.processMargin),
        confinement.addressSpaceBytes,
      )),
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
      String(BWRAP_FD.args),
      "--",
    ];
    for (let attempt = 1; ; attempt++) {
      const result = await execute({
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
        allowed,
        confinement,
      });
      if (!failedBeforeCommand(result) || attempt === SETUP_ATTEMPTS || options.signal?.aborted) {
        return result;
      }
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  } finally {
    if (confinement !== undefined) await release(confinement);
    // A release the database cannot take now (a full disk) lets the lease expire instead.
    if (buildUid !== undefined) await uids.release(buildUid).catch(() => undefined);
  }
}

/** The fallback's warning, first in the build's log. */
function announce(options: SandboxOptions, confinement: Confinement): void {
  if (confinement.warning !== undefined) note(options, confinement.warning);
}

function note(options: SandboxOptions, line: string): void {
  try {
    options.onLine?.({ time: Date.now(), stream: "system", line });
  } catch {
    /* a failing log sink must not break the build */
  }
}

/** The build's cgroup goes with the build (its processes are gone by now; any straggler too). */
async function release(confinement: Confinement): Promise<void> {
  const { cgroup } = confinement;
  if (cgroup === undefined) return;
  await cgroup.killAll();
  // One that will not go (a process the kernel is still tearing down) is swept at next start.
  await cgroup.remove().catch(() => undefined);
}

/** How often a sandbox whose namespace set-up failed is started again. */
const SETUP_ATTEMPTS = 3;

/**
 * bwrap's own loopback set-up failed, before the build command ran: seen under load on
 * gVisor-like kernels (`bwrap: loopback: Failed RTM_NEWADDR: No child processes`), and
 * transient, so the sandbox is simply started again.
 */
const failedBeforeCommand = (result: SandboxResult): boolean =>
  result.exitCode === 1 &&
  result.lastLines.length === 1 &&
  /^bwrap: loopback: /.test(result.lastLines[0]!);

async function realFile(name: string, path: string | undefined): Promise<string | undefined> {
  if (path === undefined) return undefined;
  try {
    return await realpath(path);
  } catch {
    throw new SandboxConfigError(`${name}: ${path} does not exist`);
  }
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

/**
 * Kills builds that lost their platform: sandboxes whose bwrap monitor is gone (the platform died
 * while bwrap was setting up, before bwrap tied the sandbox to it), and monitors that were
 * re-parented to pid 1. Only uids of the build pool are looked at, and a build whose monitor
 * still has its parent is left alone, so this is safe while other workers on the machine build.
 * Call at start-up (and from a periodic watchdog); returns how many processes it killed.
 */
export async function sweepOrphanedBuilds(
  range: { first: number; count: number } = BUILD_UID_POOL,
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
    if (isBuildUidInUse(uid)) continue; // one of this process's own builds
    // The monitor is the build's process outside the sandbox's pid namespace.
    const monitors = processes.filter((p) => p.nsDepth === 1);
    const orphaned =
      monitors.length === 0 || monitors.every((m) => m.ppid === 1 && process.pid !== 1);
    if (orphaned) killed += await killAllOfUid(uid, 5000);
  }
  // Then the cgroups of builds that ended with a crash (only empty ones can go).
  await sweepLeftoverCgroups();
  return killed;
}

/** A one-line summary of a failed run for `build.error` (the log has the details). */
export function describeSandboxFailure(result: SandboxResult): string | undefined {
  const tail = result.lastLines.length
    ? `\nLast lines of output:\n${result.lastLines.join("\n")}`
    : "";
  if (result.cancelled) return "The build was cancelled.";
  if (result.limit !== undefined) return `${result.limit.message}.${tail}`;
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
