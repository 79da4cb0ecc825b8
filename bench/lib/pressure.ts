import { readFileSync } from "node:fs";

/**
 * Linux pressure stall information (/proc/pressure): the share of a measured step's wall time in
 * which some task on the machine waited for a CPU or for I/O. A single-threaded step (`cp -r`)
 * that shows CPU stalls was competing with other work; a multi-threaded one also counts its own
 * threads waiting for each other on a small machine. Printed beside each sample, so a reader
 * can tell the disturbed samples from the clean ones.
 */

interface Totals {
  cpu: number;
  io: number;
  at: number;
}

/** Stall totals now (µs), or undefined where the kernel has no PSI. */
export function stallTotals(): Totals | undefined {
  try {
    return { cpu: someTotal("cpu"), io: someTotal("io"), at: performance.now() };
  } catch {
    return undefined;
  }
}

function someTotal(resource: "cpu" | "io"): number {
  const text = readFileSync(`/proc/pressure/${resource}`, "utf8");
  const match = /^some .*total=(\d+)/m.exec(text);
  if (!match) throw new Error(`no "some" line in /proc/pressure/${resource}`);
  return Number(match[1]);
}

/** The share of the time since `before` that some task stalled on CPU and on I/O, 0–1. */
export function stallsSince(before: Totals | undefined): { cpu: number; io: number } | undefined {
  const now = stallTotals();
  if (!before || !now) return undefined;
  const us = (now.at - before.at) * 1000;
  if (us <= 0) return undefined;
  return { cpu: (now.cpu - before.cpu) / us, io: (now.io - before.io) / us };
}

/** "cpu 40%, io 5%" for a round's line; "" without PSI. */
export function formatStalls(stalls: { cpu: number; io: number } | undefined): string {
  if (!stalls) return "";
  const pct = (share: number): string => `${Math.round(Math.min(1, share) * 100)}%`;
  return `stalls: cpu ${pct(stalls.cpu)}, io ${pct(stalls.io)}`;
}
