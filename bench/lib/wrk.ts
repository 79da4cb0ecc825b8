import type { Pinning } from "./baselines.ts";
import { busyShare, cpuTimes } from "./idle.ts";
import { exec } from "./proc.ts";

/**
 * One run of `wrk` (pinned like the clients of the other benchmarks) and what it printed, plus
 * how busy each CPU was meanwhile: with the load generator pinned to CPU 0, "CPU 0 busy ~100%"
 * means the numbers are the generator's limit, not the server's.
 */
export interface WrkRun {
  url: string;
  seconds: number;
  connections?: number;
  /** Extra request headers, e.g. `Host: x` or `Connection: close`. */
  headers?: readonly string[];
  /** `--latency`: percentiles, at a cost of wrk's own throughput (measure them apart). */
  latency?: boolean;
  /** A prefix that runs wrk in another environment (e.g. bwrap with its own /etc/hosts). */
  wrapper?: readonly string[];
}

export interface WrkResult {
  rps: number;
  requests: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  /** connect + read + write + timeout errors. */
  socketErrors: number;
  /** Busy share (0–1) of each CPU during the run, by CPU number. */
  cpuBusy: number[];
}

export async function runWrk(pin: Pinning, run: WrkRun): Promise<WrkResult> {
  const args = [
    ...(run.wrapper ?? []),
    ...pin.client,
    "wrk",
    "-t1",
    `-c${run.connections ?? 50}`,
    `-d${run.seconds}s`,
    ...(run.latency === true ? ["--latency"] : []),
    ...(run.headers ?? []).flatMap((header) => ["-H", header]),
    run.url,
  ];
  const before = await cpuTimes();
  const result = await exec(args[0]!, args.slice(1), { timeoutMs: (run.seconds + 30) * 1000 });
  const after = await cpuTimes();
  if (result.code !== 0) throw new Error(`wrk failed (${result.code}): ${result.stderr}`);
  const out = result.stdout;
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  if (non2xx) throw new Error(`${run.url}: ${non2xx[1]} non-2xx responses`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  if (!Number.isFinite(rps)) throw new Error(`cannot parse wrk output:\n${out}`);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps,
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0),
    p50Ms: percentile(out, "50%"),
    p99Ms: percentile(out, "99%"),
    socketErrors: errors ? errors.slice(1).reduce((n, e) => n + Number(e), 0) : 0,
    cpuBusy: after.map((cpu, i) => busyShare(before[i], cpu)),
  };
}

function percentile(out: string, label: string): number | undefined {
  const m = new RegExp(`\\s${label}\\s+([\\d.]+)(us|ms|s)\\b`).exec(out);
  if (!m) return undefined;
  const unit = m[2] === "us" ? 0.001 : m[2] === "s" ? 1000 : 1;
  return Number(m[1]) * unit;
}

/** The CPU a `taskset -c N` prefix pins to, if any. */
export function pinnedCpu(prefix: readonly string[]): number | undefined {
  const i = prefix.indexOf("-c");
  const cpu = i === -1 ? undefined : Number(prefix[i + 1]);
  return cpu !== undefined && Number.isInteger(cpu) ? cpu : undefined;
}
