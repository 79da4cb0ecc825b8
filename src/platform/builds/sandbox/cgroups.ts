import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rmdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * Each build in a control group of its own, so the kernel caps its memory (the sandbox's tmpfs
 * pages are charged to it: they belong to the process that wrote them), its processes and its
 * share of the CPU. cgroup v2 when the unified hierarchy offers the memory and pids controllers,
 * else cgroup v1's memory, pids and cpu hierarchies where they can be written; otherwise none,
 * and the sandbox falls back to RLIMIT_AS (`limits.ts`), saying why.
 *
 * Build groups live in `<this process's cgroup>/slipway-builds/build-<uid>`: the platform's own
 * limits still hold over them, and a crash's leftovers are found there at the next start.
 */

export const CGROUP_ROOT = "/sys/fs/cgroup";
const PARENT = "slipway-builds";
const BUILD_PREFIX = "build-";

export type CgroupSupport =
  | { kind: "v2"; parent: string; cpu: boolean }
  | { kind: "v1"; parents: { memory: string; pids?: string; cpu?: string } }
  | { kind: "none"; reason: string };

export interface CgroupLimits {
  memoryBytes: number;
  maxProcesses: number;
  /** cgroup v2's scale: 1 to 10,000, 100 being an equal share. */
  cpuWeight: number;
}

/** What the build ran into so far, as the kernel counted it. */
export interface CgroupEvents {
  /** The kernel's OOM killer killed a process of the build (its memory limit was reached). */
  outOfMemory: boolean;
  /** A fork or clone failed at pids.max. */
  processLimit: boolean;
}

export interface BuildCgroup {
  readonly kind: "v1" | "v2";
  /** Whether pids.max applies (else only RLIMIT_NPROC does). */
  readonly limitsProcesses: boolean;
  /** The `cgroup.procs` files the build's first process writes its own pid to, before exec. */
  readonly procsFiles: readonly string[];
  events(): Promise<CgroupEvents>;
  /** SIGKILL to every process in the group (cgroup.kill on v2). */
  killAll(): Promise<void>;
  /**
   * Resolves once the group holds no process (true), or after `timeoutMs` (false): one small
   * file read per look, where a look for the build uid's processes reads all of /proc.
   */
  waitEmpty(timeoutMs: number): Promise<boolean>;
  /** Removes the group once its processes are gone (call after killAll). */
  remove(): Promise<void>;
}

const supportByRoot = new Map<string, Promise<CgroupSupport>>();

/** What this process can use under `root` (looked up once per root). */
export function cgroupSupport(root: string = CGROUP_ROOT): Promise<CgroupSupport> {
  let found = supportByRoot.get(root);
  if (!found) {
    found = detect(root);
    supportByRoot.set(root, found);
  }
  return found;
}

/** Lines of /proc/self/cgroup: hierarchy id, controllers, path. */
async function ownCgroups(): Promise<{ controllers: string[]; path: string }[]> {
  const text = await readFile("/proc/self/cgroup", "utf8").catch(() => "");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [, controllers = "", ...path] = line.split(":");
      return { controllers: controllers.split(",").filter(Boolean), path: path.join(":") };
    });
}

async function detect(root: string): Promise<CgroupSupport> {
  const own = await ownCgroups();
  const v2 = await detectV2(root, own.find((c) => c.controllers.length === 0)?.path);
  if (typeof v2 !== "string") return v2;
  const v1 = await detectV1(root, own);
  if (typeof v1 !== "string") return v1;
  return { kind: "none", reason: `${v2}; ${v1}` };
}

/** The v2 parent, or why not. */
async function detectV2(
  root: string,
  ownPath: string | undefined,
): Promise<CgroupSupport | string> {
  const mount = existsSync(join(root, "cgroup.controllers")) ? root : join(root, "unified");
  if (ownPath === undefined || !existsSync(join(mount, "cgroup.controllers"))) {
    return `no cgroup v2 hierarchy at ${mount}`;
  }
  const base = join(mount, ownPath);
  const available = (await readFile(join(base, "cgroup.controllers"), "utf8").catch(() => ""))
    .trim()
    .split(/\s+/);
  if (!available.includes("memory") || !available.includes("pids")) {
    return `cgroup v2 (${base}) offers no memory and pids controllers`;
  }
  const cpu = available.includes("cpu");
  const wanted = `+memory +pids${cpu ? " +cpu" : ""}`;
  try {
    await enableForChildren(base, wanted);
    const parent = join(base, PARENT);
    await mkdir(parent, { recursive: true });
    await writeFile(join(parent, "cgroup.subtree_control"), wanted);
    return { kind: "v2", parent, cpu };
  } catch (error) {
    return `cgroup v2 (${base}) cannot be written: ${errorText(error)}`;
  }
}

/**
 * Children get controllers only from a parent without processes of its own (v2's rule; the root
 * is exempt). When this process sits in `base` itself, it moves to a leaf beside the builds.
 */
async function enableForChildren(base: string, wanted: string): Promise<void> {
  try {
    await writeFile(join(base, "cgroup.subtree_control"), wanted);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EBUSY") throw error;
    const leaf = join(base, "slipway-platform");
    await mkdir(leaf, { recursive: true });
    await writeFile(join(leaf, "cgroup.procs"), String(process.pid));
    await writeFile(join(base, "cgroup.subtree_control"), wanted);
  }
}

/** The v1 parents (memory required; pids and cpu where writable), or why not. */
async function detectV1(
  root: string,
  own: { controllers: string[]; path: string }[],
): Promise<CgroupSupport | string> {
  const parentOf = async (controller: string, file: string): Promise<string> => {
    const path = own.find((c) => c.controllers.includes(controller))?.path;
    if (path === undefined) throw new Error(`this process is in no cgroup v1 ${controller} group`);
    const parent = join(root, controller, path, PARENT);
    await mkdir(parent, { recursive: true });
    if (!existsSync(join(parent, file))) throw new Error(`${parent} has no ${file}`);
    return parent;
  };
  let memory: string;
  try {
    memory = await parentOf("memory", "memory.limit_in_bytes");
  } catch (error) {
    return `cgroup v1's memory controller cannot be written (${errorText(error)})`;
  }
  const parents: { memory: string; pids?: string; cpu?: string } = { memory };
  const pids = await parentOf("pids", "pids.max").catch(() => undefined);
  if (pids !== undefined) parents.pids = pids;
  const cpu = await parentOf("cpu", "cpu.shares").catch(() => undefined);
  if (cpu !== undefined) parents.cpu = cpu;
  return { kind: "v1", parents };
}

function errorText(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code !== undefined && e.path !== undefined
    ? `${e.code} on ${e.path}`
    : e instanceof Error
      ? e.message
      : String(error);
}

/** A group named `build-<id>` with the limits set, ready for the build's first process. */
export async function createBuildCgroup(
  support: Exclude<CgroupSupport, { kind: "none" }>,
  id: string,
  limits: CgroupLimits,
): Promise<BuildCgroup> {
  const name = BUILD_PREFIX + id;
  if (support.kind === "v2") {
    const dir = await freshGroup(support.parent, name);
    const group = v2Group(dir);
    try {
      await writeFile(join(dir, "memory.max"), String(limits.memoryBytes));
      if (existsSync(join(dir, "memory.swap.max")))
        await writeFile(join(dir, "memory.swap.max"), "0");
      // One OOM kill takes the whole build down, not only its largest process.
      await writeFile(join(dir, "memory.oom.group"), "1");
      await writeFile(join(dir, "pids.max"), String(limits.maxProcesses));
      if (support.cpu) await writeFile(join(dir, "cpu.weight"), String(limits.cpuWeight));
    } catch (error) {
      await group.remove();
      throw error;
    }
    return group;
  }
  const dirs: { memory: string; pids?: string; cpu?: string } = {
    memory: await freshGroup(support.parents.memory, name),
  };
  const group = v1Group(dirs);
  try {
    if (support.parents.pids !== undefined)
      dirs.pids = await freshGroup(support.parents.pids, name);
    if (support.parents.cpu !== undefined) dirs.cpu = await freshGroup(support.parents.cpu, name);
    await writeFile(join(dirs.memory, "memory.limit_in_bytes"), String(limits.memoryBytes));
    // With swap, memory+swap gets the same cap: swapping out does not raise the limit.
    const memsw = join(dirs.memory, "memory.memsw.limit_in_bytes");
    if (existsSync(memsw)) await writeFile(memsw, String(limits.memoryBytes));
    if (dirs.pids !== undefined) {
      await writeFile(join(dirs.pids, "pids.max"), String(limits.maxProcesses));
    }
    if (dirs.cpu !== undefined) {
      const shares = Math.max(2, Math.round((limits.cpuWeight * 1024) / 100));
      await writeFile(join(dirs.cpu, "cpu.shares"), String(shares));
    }
  } catch (error) {
    await group.remove();
    throw error;
  }
  return group;
}

/** A new group; an empty leftover of the same name (a crash) is replaced. */
async function freshGroup(parent: string, name: string): Promise<string> {
  const dir = join(parent, name);
  if (existsSync(dir)) await rmdir(dir); // EBUSY when a live build holds it: an error, rightly
  await mkdir(dir);
  return dir;
}

function v2Group(dir: string): BuildCgroup {
  return {
    kind: "v2",
    limitsProcesses: true,
    procsFiles: [join(dir, "cgroup.procs")],
    async events() {
      const memory = await readCounters(join(dir, "memory.events"));
      const pids = await readCounters(join(dir, "pids.events"));
      return {
        outOfMemory: (memory.oom_kill ?? 0) > 0 || (memory.oom_group_kill ?? 0) > 0,
        processLimit: (pids.max ?? 0) > 0,
      };
    },
    async killAll() {
      if (existsSync(join(dir, "cgroup.kill"))) {
        await writeFile(join(dir, "cgroup.kill"), "1").catch(() => undefined);
      } else {
        await killProcsOf([dir]);
      }
    },
    waitEmpty: (timeoutMs) => waitEmpty([dir], timeoutMs),
    remove: () => removeGroups([dir]),
  };
}

function v1Group(dirs: { memory: string; pids?: string; cpu?: string }): BuildCgroup {
  const all = (): string[] =>
    [dirs.memory, dirs.pids, dirs.cpu].filter((d): d is string => d !== undefined);
  return {
    kind: "v1",
    get limitsProcesses() {
      return dirs.pids !== undefined;
    },
    get procsFiles() {
      return all().map((d) => join(d, "cgroup.procs"));
    },
    async events() {
      const memory = await readCounters(join(dirs.memory, "memory.oom_control"));
      const pids =
        dirs.pids !== undefined ? await readCounters(join(dirs.pids, "pids.events")) : {};
      return { outOfMemory: (memory.oom_kill ?? 0) > 0, processLimit: (pids.max ?? 0) > 0 };
    },
    killAll: () => killProcsOf(all()),
    // Every process of the build is in the memory group (its first process joined it).
    waitEmpty: (timeoutMs) => waitEmpty([dirs.memory], timeoutMs),
    remove: () => removeGroups(all()),
  };
}

/** `name value` lines (memory.events, pids.events, memory.oom_control). */
async function readCounters(file: string): Promise<Record<string, number>> {
  const counters: Record<string, number> = {};
  const text = await readFile(file, "utf8").catch(() => "");
  for (const line of text.split("\n")) {
    const [name, value] = line.trim().split(/\s+/);
    if (name && value !== undefined && /^\d+$/.test(value)) counters[name] = Number(value);
  }
  return counters;
}

async function pidsIn(dir: string): Promise<number[]> {
  const text = await readFile(join(dir, "cgroup.procs"), "utf8").catch(() => "");
  return text.split("\n").filter(Boolean).map(Number);
}

async function killProcsOf(dirs: readonly string[]): Promise<void> {
  for (const dir of dirs) {
    for (const pid of await pidsIn(dir)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  }
}

async function waitEmpty(dirs: readonly string[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let empty = true;
    for (const dir of dirs) if ((await pidsIn(dir)).length > 0) empty = false;
    if (empty) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** rmdir each group, waiting (up to 2 s) for the kernel to let its last processes go. */
async function removeGroups(dirs: readonly string[]): Promise<void> {
  const deadline = Date.now() + 2000;
  for (const dir of dirs) {
    for (;;) {
      try {
        await rmdir(dir);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ENOENT") break;
        if (code !== "EBUSY" || Date.now() > deadline) throw error;
        await killProcsOf([dir]);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}

/**
 * At start: removes build groups a crash left behind. Only empty groups can be removed (the
 * kernel refuses the others), and only those older than `minAgeMs`: another process's build
 * joins its new group within milliseconds, and must not find it gone. Orphaned processes are
 * killed by the uid sweep first (`sweepOrphanedBuilds`).
 */
export async function sweepLeftoverCgroups(
  root: string = CGROUP_ROOT,
  minAgeMs = 60_000,
): Promise<number> {
  const support = await cgroupSupport(root);
  const parents =
    support.kind === "v2"
      ? [support.parent]
      : support.kind === "v1"
        ? Object.values(support.parents)
        : [];
  let removed = 0;
  for (const parent of parents) {
    for (const entry of await readdir(parent, { withFileTypes: true }).catch(() => [])) {
      if (!entry.isDirectory() || !entry.name.startsWith(BUILD_PREFIX)) continue;
      const dir = join(parent, entry.name);
      const created = await stat(dir).then(
        (s) => s.mtimeMs,
        () => Date.now(),
      );
      if (created > Date.now() - minAgeMs || (await pidsIn(dir)).length > 0) continue;
      await rmdir(dir).then(
        () => removed++,
        () => undefined,
      );
    }
  }
  return removed;
}
