import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { execChecked } from "./proc.ts";

/**
 * Write-back draining for disk benchmarks: the dirty pages of one measured step are written out
 * whenever the kernel likes, possibly inside the next step's timed window. `drainWriteback()`
 * before each timed step, outside its window, makes each step pay for its own writes only.
 */

/** Dirty + Writeback from /proc/meminfo, in bytes (the page cache not yet on disk). */
export function unwrittenBytes(): number {
  const text = readFileSync("/proc/meminfo", "utf8");
  let kib = 0;
  for (const line of text.split("\n")) {
    const match = /^(Dirty|Writeback):\s+(\d+) kB/.exec(line);
    if (match) kib += Number(match[2]);
  }
  return kib * 1024;
}

export interface Drained {
  /** What was still unwritten when it stopped waiting. */
  leftBytes: number;
  ms: number;
}

/**
 * `sync`, then waits until Dirty + Writeback is under `belowBytes` (other processes on the
 * machine keep writing, so never quite zero) for two polls in a row, at most `timeoutMs`.
 */
export async function drainWriteback(
  options: { belowBytes?: number; timeoutMs?: number } = {},
): Promise<Drained> {
  const { belowBytes = 4 * 1024 * 1024, timeoutMs = 15_000 } = options;
  const started = performance.now();
  let calm = 0;
  let left = 0;
  for (;;) {
    if (calm === 0) await execChecked("sync", []);
    left = unwrittenBytes();
    calm = left < belowBytes ? calm + 1 : 0;
    if (calm >= 2 || performance.now() - started > timeoutMs) break;
    await sleep(50);
  }
  return { leftBytes: left, ms: performance.now() - started };
}
