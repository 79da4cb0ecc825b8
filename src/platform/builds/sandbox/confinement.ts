import { randomBytes } from "node:crypto";
import {
  cgroupSupport,
  createBuildCgroup,
  type BuildCgroup,
  type CgroupSupport,
} from "./cgroups.ts";
import { SANDBOX_DEFAULTS } from "./limits.ts";
import type { SandboxOptions } from "./run.ts";
import { findExecutable } from "./tools.ts";
import { LimitWatch } from "./watch.ts";

/**
 * What holds a build's memory, processes, CPU and disk: a cgroup of its own that the build's
 * first process joins before it execs anything (so nothing of the build ever runs outside it),
 * or, where no cgroup can be written, RLIMIT_AS — with the reason said once at start and in
 * every build's log. The watch reads what the build ran into.
 */

export interface Confinement {
  cgroup: BuildCgroup | undefined;
  /** argv in front of the command: joins the cgroup, then execs the rest (empty without one). */
  joinPrefix: string[];
  /** RLIMIT_AS for the build when no cgroup caps its memory. */
  addressSpaceBytes: number | undefined;
  /** RLIMIT_NPROC above pids.max, so that the cgroup's limit (which is counted) is hit first. */
  processMargin: number;
  /** Why memory is capped by RLIMIT_AS only (a line for the build log). */
  warning: string | undefined;
  watch: LimitWatch;
}

export type ConfinementOptions = Pick<
  SandboxOptions,
  "memoryBytes" | "maxProcesses" | "cpuWeight" | "diskBytes" | "minFreeDiskBytes" | "cgroupRoot"
>;

/**
 * A constant script — every value is an argument — that moves its own process into each group
 * given (`$1` of them, then their cgroup.procs files), then becomes the rest of its arguments.
 */
const JOIN_SCRIPT =
  'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done; exec "$@"';

export async function confine(
  options: ConfinementOptions,
  workDir: string,
  id: string = randomBytes(6).toString("hex"),
): Promise<Confinement> {
  const limits = {
    memoryBytes: options.memoryBytes ?? SANDBOX_DEFAULTS.memoryBytes,
    maxProcesses: options.maxProcesses ?? SANDBOX_DEFAULTS.maxProcesses,
    cpuWeight: options.cpuWeight ?? SANDBOX_DEFAULTS.cpuWeight,
    diskBytes: options.diskBytes ?? SANDBOX_DEFAULTS.diskBytes,
    minFreeDiskBytes: options.minFreeDiskBytes ?? SANDBOX_DEFAULTS.minFreeDiskBytes,
  };
  const support = await cgroupSupport(options.cgroupRoot);
  let cgroup: BuildCgroup | undefined;
  let joinPrefix: string[] = [];
  if (support.kind !== "none") {
    const sh = await findExecutable("sh", undefined);
    if (sh === null) throw new Error("the build sandbox needs /bin/sh on the host");
    cgroup = await createBuildCgroup(support, id, limits);
    joinPrefix = [sh, "-c", JOIN_SCRIPT, "slipway-join-cgroup"];
    joinPrefix.push(String(cgroup.procsFiles.length), ...cgroup.procsFiles);
  }
  return {
    cgroup,
    joinPrefix,
    addressSpaceBytes: cgroup === undefined ? limits.memoryBytes : undefined,
    processMargin: cgroup?.limitsProcesses ? 32 : 0,
    warning: support.kind === "none" ? fallbackWarning(support.reason) : undefined,
    watch: new LimitWatch({ cgroup, workDir, ...limits }),
  };
}

function fallbackWarning(reason: string): string {
  return (
    `Warning: builds' memory is capped by RLIMIT_AS only (address space, not memory; the ` +
    `sandbox's tmpfs is not counted) and their processes by RLIMIT_NPROC: no cgroup can be ` +
    `written (${reason}).`
  );
}

/** The warning to log at start when builds cannot have cgroups, or undefined when they can. */
export async function buildLimitsWarning(root?: string): Promise<string | undefined> {
  const support: CgroupSupport = await cgroupSupport(root);
  return support.kind === "none" ? fallbackWarning(support.reason) : undefined;
}
