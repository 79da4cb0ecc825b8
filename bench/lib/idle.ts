import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * The machine is shared: other engineers' tests compete for the 2 CPUs. `--wait-idle SECONDS`
 * makes a benchmark wait for a quiet moment before each round.
 */

export const WAIT_IDLE_FLAG = {
  flag: "wait-idle",
  value: "SECONDS",
  env: "BENCH_WAIT_IDLE",
  help: "before each round, wait up to SECONDS for other CPU load to stop",
} as const;

/** Before a round: waits (at most `maxSeconds`) until other work leaves the CPUs nearly idle. */
export async function waitForIdle(maxSeconds: number): Promise<void> {
  if (maxSeconds <= 0) return;
  const deadline = Date.now() + maxSeconds * 1000;
  let waited = false;
  for (;;) {
    const busy = parseFloat(await backgroundBusy(1_000));
    if (!(busy > 10)) break;
    if (Date.now() > deadline) {
      console.log(`  CPUs still ${busy}% busy with other work after ${maxSeconds} s; going on`);
      return;
    }
    if (!waited) console.log(`  waiting for other work to finish (CPUs ${busy}% busy)…`);
    waited = true;
  }
}

/** How busy the CPUs are over `ms` (percent of all CPUs), while this benchmark is idle. */
export async function backgroundBusy(ms = 2_000): Promise<string> {
  try {
    const a = await cpuTimes();
    await sleep(ms);
    const b = await cpuTimes();
    const all = (t: CpuTimes[]): CpuTimes =>
      t.reduce((s, c) => ({ busy: s.busy + c.busy, total: s.total + c.total }), {
        busy: 0,
        total: 0,
      });
    return `${(busyShare(all(a), all(b)) * 100).toFixed(0)}%`;
  } catch {
    return "n/a";
  }
}

export interface CpuTimes {
  busy: number;
  total: number;
}

/** Busy and total jiffies of each CPU (`/proc/stat`'s cpuN lines), by CPU number. */
export async function cpuTimes(): Promise<CpuTimes[]> {
  const out: CpuTimes[] = [];
  for (const line of (await readFile("/proc/stat", "utf8")).split("\n")) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = (m[2] ?? "").trim().split(/\s+/).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    out[Number(m[1])] = { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
  }
  return out;
}

/** The share (0–1) of the time between two samples that a CPU was busy. */
export function busyShare(before: CpuTimes | undefined, after: CpuTimes | undefined): number {
  if (!before || !after || after.total <= before.total) return 0;
  return (after.busy - before.busy) / (after.total - before.total);
}
