import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * CPU time of process trees, from /proc (Linux). Unlike wall-clock time, it hardly changes when
 * other work competes for the CPUs, so it is the steadier measure on a shared machine.
 * Resolution is one clock tick (10 ms with the usual USER_HZ of 100).
 */

const TICK_MS = 10;

interface ProcStat {
  pid: number;
  ppid: number;
  /** Own user+system time plus that of reaped children, in ticks. */
  ticks: number;
}

function readStat(pid: number | "self"): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined; // exited meanwhile
  }
  // The command name is in parentheses and may contain spaces; fields follow the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const field = (i: number): number => Number(fields[i] ?? 0);
  return {
    pid: Number(text.slice(0, text.indexOf(" "))),
    ppid: field(1),
    ticks: field(11) + field(12) + field(13) + field(14),
  };
}

function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) out.push(stat);
  }
  return out;
}

/** The processes under `roots` (roots included). */
function trees(roots: readonly number[]): ProcStat[] {
  const stats = allStats();
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) {
    const list = children.get(s.ppid);
    if (list) list.push(s);
    else children.set(s.ppid, [s]);
  }
  const byPid = new Map(stats.map((s) => [s.pid, s]));
  const out: ProcStat[] = [];
  const queue = roots.map((pid) => byPid.get(pid)).filter((s) => s !== undefined);
  while (queue.length > 0) {
    const s = queue.pop();
    if (!s) break;
    out.push(s);
    queue.push(...(children.get(s.pid) ?? []));
  }
  return out;
}

/**
 * CPU ms used so far by the server trees under `roots`, counting exited processes once their
 * parent (inside the tree) has reaped them.
 */
export function treeCpuMs(roots: readonly number[]): number {
  return trees(roots).reduce((sum, s) => sum + s.ticks, 0) * TICK_MS;
}

export function treeSize(roots: readonly number[]): number {
  return trees(roots).length;
}

/**
 * After a request: waits (at most `timeoutMs`) until the per-connection processes under
 * `roots` are gone, so that their CPU time has been reaped into the tree's total.
 */
export async function settleTree(
  roots: readonly number[],
  idleSize: number,
  timeoutMs = 1_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (treeSize(roots) > idleSize && Date.now() < deadline) await sleep(5);
}

/** CPU ms of this process's reaped children (the clients it ran and waited for). */
export function childrenCpuMs(): number {
  const self = readFileSync("/proc/self/stat", "utf8");
  const fields = self.slice(self.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[13] ?? 0) + Number(fields[14] ?? 0)) * TICK_MS;
}
