import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cgroup2Mount, descendants, removeGroup } from "./cpu.ts";

/**
 * A CPU quota for a server (CFS bandwidth control: at most `share` of one CPU), so that the
 * server, not the load generator, is what saturates. A TLS handshake costs the client about
 * what it costs the server: a server on a whole CPU against `wrk` on the other measures wrk.
 * With the server held to half a CPU, requests/s is the server's capacity at that share and
 * compares servers fairly. cgroup v2's `cpu.max` where its cpu controller is enabled, else
 * cgroup v1's cpu controller.
 */
export class CpuQuota {
  private readonly dirs: string[] = [];

  private constructor(
    private readonly dir: string,
    private readonly v2: boolean,
  ) {}

  /** A parent group for the quotas, or the reason there is none. */
  static create(name: string): CpuQuota | string {
    if (process.getuid?.() !== 0) return "needs root to create cgroups";
    const mounts = readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" "));
    const v2 = cgroup2Mount();
    const v1 = mounts.find(
      ([, , type, opts]) => type === "cgroup" && (opts ?? "").split(",").includes("cpu"),
    )?.[1];
    try {
      if (v2 !== undefined && controllers(v2).includes("cpu")) {
        const dir = join(v2, name);
        appendFileSync(join(v2, "cgroup.subtree_control"), "+cpu");
        mkdirSync(dir);
        appendFileSync(join(dir, "cgroup.subtree_control"), "+cpu");
        return new CpuQuota(dir, true);
      }
      if (v1 !== undefined) {
        const dir = join(v1, name);
        mkdirSync(dir);
        return new CpuQuota(dir, false);
      }
    } catch (error) {
      return `cannot create a CPU quota group: ${(error as Error).message}`;
    }
    return "no cgroup with the cpu controller is mounted";
  }

  /** Holds `pids` (and the threads and children they start later) to `share` of one CPU. */
  limit(name: string, share: number, pids: readonly number[]): void {
    const dir = join(this.dir, name);
    mkdirSync(dir);
    this.dirs.push(dir);
    // A short period keeps the throttling fine-grained (no 100 ms stalls).
    const period = 10_000;
    const quota = Math.max(1_000, Math.round(share * period));
    if (this.v2) writeFileSync(join(dir, "cpu.max"), `${quota} ${period}`);
    else {
      writeFileSync(join(dir, "cpu.cfs_period_us"), String(period));
      writeFileSync(join(dir, "cpu.cfs_quota_us"), String(quota));
    }
    for (const pid of descendants(pids)) appendFileSync(join(dir, "cgroup.procs"), `${pid}\n`);
  }

  /** Removes the groups; processes still in them go back to the root. */
  async remove(): Promise<void> {
    const root = join(this.dir, "..");
    for (const dir of [...this.dirs, this.dir]) await removeGroup(dir, root);
  }
}

function controllers(mount: string): string[] {
  try {
    return readFileSync(join(mount, "cgroup.controllers"), "utf8").trim().split(/\s+/);
  } catch {
    return [];
  }
}
