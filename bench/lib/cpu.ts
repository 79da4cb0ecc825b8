import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * CPU time used by a server, measured with a cgroup v2 group per server (`cpu.stat`'s
 * usage_usec). Every process in the group counts, also short-lived children nobody waits for
 * (fcgiwrap ignores SIGCHLD, so its CGI children never show in any parent's rusage). Unlike
 * wall-clock time, it hardly changes when other work competes for the CPUs.
 */
export class CpuMeter {
  private readonly groups: CpuGroup[] = [];

  private constructor(readonly dir: string) {}

  /** A meter under the cgroup v2 hierarchy, or the reason there is none. */
  static create(name: string): CpuMeter | string {
    const mount = cgroup2Mount();
    if (mount === undefined) return "no cgroup v2 hierarchy mounted";
    if (process.getuid?.() !== 0) return "needs root to create cgroups";
    const dir = join(mount, name);
    try {
      mkdirSync(dir);
    } catch (error) {
      return `cannot create ${dir}: ${(error as Error).message}`;
    }
    return new CpuMeter(dir);
  }

  group(name: string): CpuGroup {
    const dir = join(this.dir, name);
    mkdirSync(dir);
    const group = new CpuGroup(dir);
    this.groups.push(group);
    return group;
  }

  /** Removes the groups (after their servers stopped); stray processes go back to the root. */
  async remove(): Promise<void> {
    const root = join(this.dir, "..");
    for (const group of [...this.groups]) await group.remove(root);
    await removeDir(this.dir);
  }
}

export class CpuGroup {
  constructor(readonly dir: string) {}

  /** Moves these processes and all their descendants into the group. */
  adopt(pids: readonly number[]): void {
    for (const pid of descendants(pids)) {
      try {
        appendFileSync(join(this.dir, "cgroup.procs"), `${pid}\n`);
      } catch {
        // exited meanwhile
      }
    }
  }

  /** CPU ms (user + system) used by everything that ever ran in the group. */
  usageMs(): number {
    const stat = readFileSync(join(this.dir, "cpu.stat"), "utf8");
    return Number(/^usage_usec (\d+)/m.exec(stat)?.[1] ?? 0) / 1000;
  }

  processCount(): number {
    return readFileSync(join(this.dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).length;
  }

  /** Waits (at most `timeoutMs`) until the processes serving a request have exited. */
  async settle(idleCount: number, timeoutMs = 1_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.processCount() > idleCount && Date.now() < deadline) await sleep(5);
  }

  async remove(root: string): Promise<void> {
    await removeGroup(this.dir, root);
  }
}

/** Removes the cgroup at `dir` (v1 or v2), its processes moved back to `root` first. */
export async function removeGroup(dir: string, root: string): Promise<void> {
  try {
    for (const pid of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n")) {
      if (pid !== "") appendFileSync(join(root, "cgroup.procs"), `${pid}\n`);
    }
  } catch {
    // already gone
  }
  await removeDir(dir);
}

async function removeDir(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || attempt >= 40) throw error;
      await sleep(50);
    }
  }
}

export function cgroup2Mount(): string | undefined {
  try {
    for (const line of readFileSync("/proc/mounts", "utf8").split("\n")) {
      const [, mountPoint, type] = line.split(" ");
      if (type === "cgroup2" && mountPoint !== undefined) return mountPoint;
    }
  } catch {
    // not Linux
  }
  return undefined;
}

/** `roots` and every process below them, from /proc's parent links. */
export function descendants(roots: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue;
    }
    // The command name is in parentheses and may contain spaces; fields follow the last ")".
    const ppid = Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1]);
    const list = children.get(ppid);
    if (list) list.push(Number(name));
    else children.set(ppid, [Number(name)]);
  }
  const out: number[] = [];
  const queue = [...roots];
  while (queue.length > 0) {
    const pid = queue.pop();
    if (pid === undefined) break;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Runs `measure` and reads the server CPU µs each of its requests took (undefined: no meter). */
export async function withCpuPerRequest<R extends { requests: number }>(
  cpu: CpuGroup | undefined,
  measure: () => Promise<R>,
): Promise<{ result: R; cpuUs: number | undefined }> {
  const before = cpu?.usageMs();
  const result = await measure();
  const after = cpu?.usageMs();
  const cpuUs =
    before !== undefined && after !== undefined && result.requests > 0
      ? ((after - before) * 1000) / result.requests
      : undefined;
  return { result, cpuUs };
}
