import { readdir, readFile } from "node:fs/promises";
import { processesOfUid } from "../../../lib/process.ts";
import { SandboxConfigError } from "./errors.ts";
import type { SandboxOptions } from "./run.ts";
import { findTools } from "./tools.ts";

/**
 * What a build may use. Process, file-size and open-file limits are set with prlimit before the
 * sandbox starts, so they hold for everything the command starts; a limit is only ever lowered
 * (raising one needs CAP_SYS_RESOURCE, which containers often lack).
 */

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
  memoryBytes: 2 * 1024 ** 3,
  cpuWeight: 100,
  diskBytes: 10 * 1024 ** 3,
  minFreeDiskBytes: 1024 ** 3,
} as const;

type LimitOptions = Pick<SandboxOptions, "maxProcesses" | "maxFileSizeBytes" | "maxOpenFiles">;

/**
 * prlimit's options: --nproc, --fsize, --nofile (capped at this process's hard limits), no core,
 * and --as (the address space) when no cgroup caps the build's memory.
 */
export async function limitArguments(
  options: LimitOptions,
  nproc: number,
  addressSpaceBytes?: number,
): Promise<string[]> {
  const hard = await hardLimits();
  const wanted: Record<string, number> = {
    nproc,
    fsize: options.maxFileSizeBytes ?? SANDBOX_DEFAULTS.maxFileSizeBytes,
    nofile: options.maxOpenFiles ?? SANDBOX_DEFAULTS.maxOpenFiles,
  };
  if (addressSpaceBytes !== undefined) wanted.as = addressSpaceBytes;
  const args: string[] = [];
  for (const [name, value] of Object.entries(wanted)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new SandboxConfigError(`limit ${name} must be a positive integer`);
    }
    args.push(`--${name}=${Math.min(value, hard[name] ?? Infinity)}`);
  }
  args.push("--core=0");
  return args;
}

const LIMIT_NAMES: Record<string, string> = {
  "Max processes": "nproc",
  "Max file size": "fsize",
  "Max open files": "nofile",
  "Max address space": "as",
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

/** The prlimit wrapper for the unsafe mode: limits when prlimit is there, none otherwise. */
export async function optionalPrlimit(
  options: LimitOptions,
  nproc: number,
  addressSpaceBytes?: number,
): Promise<string[]> {
  try {
    const { prlimit } = await findTools(["prlimit"]);
    return [prlimit, ...(await limitArguments(options, nproc, addressSpaceBytes)), "--"];
  } catch {
    return [];
  }
}

/**
 * RLIMIT_NPROC counts every task of the real uid. As root the build gets a uid of its own, so the
 * limit is the build's alone; otherwise it shares the platform's uid, and the limit is set above
 * what that uid already runs (the kernel ignores it for root in the unsafe mode).
 */
export async function processLimit(options: LimitOptions, margin = 0): Promise<number> {
  const wanted = (options.maxProcesses ?? SANDBOX_DEFAULTS.maxProcesses) + margin;
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return wanted;
  return (await countTasksOfUid(uid)) + wanted;
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
