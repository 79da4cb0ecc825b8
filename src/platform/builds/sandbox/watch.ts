import { statfs } from "node:fs/promises";
import { formatSize } from "../../../lib/sizes.ts";
import { run } from "../../../lib/run.ts";
import type { BuildCgroup } from "./cgroups.ts";

/**
 * The limits a running build is watched against, each with the message the build fails with:
 * memory and processes as the kernel counted them in the build's cgroup, the bytes its checkout
 * takes on disk, and the free space left on that disk.
 *
 * The disk budget is watched rather than enforced by a quota'd filesystem: a loop-mounted image
 * per build needs loop devices and mounts that outlive a crash (and the checkout is made before
 * the build starts), and project quotas need a filesystem mounted for them. `du` walks the
 * checkout at most every `max(1 s, 10 × its last duration)`, so it costs a build at most a
 * tenth of one core, and once more when the build ends, so a build that stays over the budget
 * always fails. Between two walks a build can overshoot by what it writes in that time; the
 * free-space floor, read each tick (one statfs), keeps the disk itself from filling.
 */

export type LimitKind = "memory" | "processes" | "disk" | "disk-full";

export interface LimitHit {
  kind: LimitKind;
  /** The line the build log gets and the build's error starts with. */
  message: string;
}

export interface WatchSettings {
  cgroup: BuildCgroup | undefined;
  workDir: string;
  memoryBytes: number;
  maxProcesses: number;
  diskBytes: number;
  minFreeDiskBytes: number;
}

const MIN_WALK_INTERVAL_MS = 1000;

export class LimitWatch {
  private nextWalkAt = 0;

  constructor(private readonly settings: WatchSettings) {}

  /** The first limit the build ran into, if any; `final` also walks the checkout now. */
  async check(final = false): Promise<LimitHit | undefined> {
    const { cgroup, workDir } = this.settings;
    if (cgroup !== undefined) {
      const events = await cgroup.events();
      if (events.outOfMemory) return this.hit("memory");
      if (events.processLimit) return this.hit("processes");
    }
    if (isDiskFull(await freeBytes(workDir), this.settings.minFreeDiskBytes)) {
      return this.hit("disk-full");
    }
    if (final || Date.now() >= this.nextWalkAt) {
      const started = Date.now();
      const used = await diskUsage(workDir);
      this.nextWalkAt = Date.now() + Math.max(MIN_WALK_INTERVAL_MS, 10 * (Date.now() - started));
      if (used !== undefined && used > this.settings.diskBytes) return this.hit("disk");
    }
    return undefined;
  }

  private hit(kind: LimitKind): LimitHit {
    return { kind, message: limitMessage(kind, this.settings) };
  }
}

export function limitMessage(
  kind: LimitKind,
  limits: Pick<WatchSettings, "memoryBytes" | "maxProcesses" | "diskBytes" | "minFreeDiskBytes">,
): string {
  switch (kind) {
    case "memory":
      return `the build used more than ${formatSize(limits.memoryBytes)} of memory (SLIPWAY_BUILD_MEMORY)`;
    case "processes":
      return `the build started more than ${limits.maxProcesses} processes and threads at once (SLIPWAY_BUILD_PIDS)`;
    case "disk":
      return `the build wrote more than ${formatSize(limits.diskBytes)} (SLIPWAY_BUILD_DISK)`;
    case "disk-full":
      return diskFullMessage(limits.minFreeDiskBytes);
  }
}

/** "the disk is full", with the floor when one is set. */
export function diskFullMessage(minFreeDiskBytes: number): string {
  return minFreeDiskBytes > 0
    ? `the disk is full: less than ${formatSize(minFreeDiskBytes)} is free for builds (SLIPWAY_MIN_FREE_DISK)`
    : "the disk is full";
}

/** Under the floor, or nothing left at all when there is no floor. */
export const isDiskFull = (free: number, minFree: number): boolean =>
  minFree > 0 ? free < minFree : free === 0;

/** Bytes an unprivileged process may still write on the filesystem holding `path`. */
export async function freeBytes(path: string): Promise<number> {
  const stats = await statfs(path);
  return stats.bavail * stats.bsize;
}

/** Bytes `dir` takes on its filesystem (blocks, not lengths: sparse files cost what they use). */
async function diskUsage(dir: string): Promise<number | undefined> {
  const result = await run(
    "du",
    ["--summarize", "--block-size=1", "--one-file-system", "--", dir],
    {
      stdio: ["ignore", "pipe", "ignore"],
      env: { PATH: "/usr/bin:/bin" },
    },
  );
  // Files the build removes during the walk make du complain; its total still stands.
  const bytes = Number(/^(\d+)/.exec(result.stdout)?.[1]);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
