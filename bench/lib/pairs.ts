import { withCpuPerRequest, type CpuGroup } from "./cpu.ts";
import { summarize } from "./stats.ts";
import type { WrkResult } from "./wrk.ts";

/**
 * Two servers measured at the same moment: both pinned to the same CPU, each held to the same
 * quota and loaded by its own client for the same seconds. A server's rate drifts up to 2×
 * between runs seconds apart on a shared machine; measured together, whatever slows the machine
 * slows both alike, and repeated pairs of the same two processes mostly agree to a few percent.
 * They share that CPU's caches, though, and processes differ from one launch to the next: on
 * the machine this was written on, launches of the same code read up to 20 points apart
 * (`bench/RESULTS.md`, session 9), hence several launches per server.
 */
export interface PairSide {
  cpu: CpuGroup | undefined;
  /** Loads the server for `seconds` (its own client: a wrk process). */
  load: (seconds: number) => Promise<WrkResult>;
}

export interface PairReading {
  rps: number;
  /** Server CPU µs per request (its cgroup), when measured. */
  cpuUs: number | undefined;
  result: WrkResult;
}

export async function measurePair(
  a: PairSide,
  b: PairSide,
  seconds: number,
): Promise<[PairReading, PairReading]> {
  // A short warm-up of both at once, so both start measured in the same state.
  await Promise.all([a.load(1), b.load(1)]);
  const measured = await Promise.all(
    [a, b].map((side) => withCpuPerRequest(side.cpu, () => side.load(seconds))),
  );
  return measured.map(({ result, cpuUs }) => ({ rps: result.rps, cpuUs, result })) as [
    PairReading,
    PairReading,
  ];
}

export interface PairTarget {
  id: string;
  label: string;
}

export interface PairOptions<T extends PairTarget> {
  /** The target whose ratio is held to a goal, if any. */
  goal?: { id: string; ratio: number };
  duration: number;
  keepAlive: boolean;
  handshakes: boolean;
  /** Round r's process of a target: waits until it is idle, its CPU meter, its load. */
  settle: (target: T, round: number) => Promise<void>;
  cpu: (target: T, round: number) => CpuGroup | undefined;
  load: (target: T, round: number, handshake: boolean, seconds: number) => Promise<WrkResult>;
}

/**
 * Each of `others` measured at the same moment as `base`, both on the servers' CPU
 * (`lib/pairs.ts`): the goal's steadiest reading. Prints each round and, per server and kind,
 * the median of the rate ratios and of the CPU cost ratios.
 */
export async function measurePairs<T extends PairTarget>(
  rounds: number,
  base: T,
  others: readonly T[],
  options: PairOptions<T>,
): Promise<void> {
  console.log(
    `\npaired rounds: each server measured at the same moment as ${base.label}, on the same CPU`,
  );
  const kinds = [
    ...(options.keepAlive ? [{ name: "keep-alive", handshake: false }] : []),
    ...(options.handshakes ? [{ name: "handshakes", handshake: true }] : []),
  ];
  const rates = new Map<string, number[]>();
  const costs = new Map<string, number[]>();
  const push = (map: Map<string, number[]>, key: string, value: number): void => {
    map.set(key, [...(map.get(key) ?? []), value]);
  };
  const side = (t: T, round: number, handshake: boolean): PairSide => ({
    cpu: options.cpu(t, round),
    load: (seconds) => options.load(t, round, handshake, seconds),
  });
  for (let round = 0; round < rounds; round++) {
    for (const other of others) {
      await options.settle(other, round);
      await options.settle(base, round);
      for (const kind of kinds) {
        // Which side's client starts first alternates by round.
        const [a, b] = round % 2 === 0 ? [other, base] : [base, other];
        const [ra, rb] = await measurePair(
          side(a, round, kind.handshake),
          side(b, round, kind.handshake),
          options.duration,
        );
        const [mine, theirs] = a === other ? [ra, rb] : [rb, ra];
        const key = `${other.id} ${kind.name}`;
        push(rates, key, mine.rps / theirs.rps);
        if (mine.cpuUs !== undefined && theirs.cpuUs !== undefined) {
          push(costs, key, theirs.cpuUs / mine.cpuUs);
        }
        const unit = kind.handshake ? "/s" : " req/s";
        console.log(
          `pair ${round + 1} ${kind.name.padEnd(10)} ${other.id} ${Math.round(mine.rps).toLocaleString("en-US")}${unit} (${mine.cpuUs?.toFixed(0)} µs), ${base.id} ${Math.round(theirs.rps).toLocaleString("en-US")}${unit} (${theirs.cpuUs?.toFixed(0)} µs): ${(mine.rps / theirs.rps).toFixed(2)}×`,
        );
      }
    }
  }
  const spread = (values: number[] | undefined): string => {
    const s = values === undefined ? undefined : summarize(values);
    return s === undefined
      ? "n/a"
      : `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)}×)`;
  };
  for (const other of others) {
    const readings = kinds.map((kind) => {
      const key = `${other.id} ${kind.name}`;
      const median = summarize(rates.get(key) ?? [])?.median;
      const verdict =
        other.id !== options.goal?.id || median === undefined
          ? ""
          : median >= options.goal.ratio
            ? " met"
            : " NOT met";
      return `${kind.name} ${spread(rates.get(key))}${verdict}, by CPU per request ${spread(costs.get(key))}`;
    });
    const goal =
      options.goal && other.id === options.goal.id ? `goal ≥ ${options.goal.ratio}× ` : "";
    console.log(`${goal}${other.label} ÷ ${base.label}, measured together: ${readings.join("; ")}`);
  }
}
