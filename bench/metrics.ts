/**
 * What the metrics cost the edge: the same edge (`bench/lib/metrics-edge-server.ts`) with the
 * platform's metrics on and off, both running at once in their own processes pinned to CPU 1,
 * `wrk -t1 -c50` on CPU 0 against each in turn (order rotated every round), medians of req/s on
 * a 1 KiB and a 50 KiB file, and the ratio of each back-to-back pair. The goal (issue 16): on ≥
 * 0.97× off. The cost of recording one request is also timed in-process. The "on" server's own
 * `/metrics` is read at the end to check that every request was counted.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { choosePinning, pinned, SkipError } from "./lib/baselines.ts";
import { Cleanup } from "./lib/cleanup.ts";
import type { Benchmark, BenchOptions } from "./lib/options.ts";
import { Daemon, findExecutable, freePort, waitForPort } from "./lib/proc.ts";
import { formatRatio, formatSummary, renderTable, summarize } from "./lib/stats.ts";
import { runWrk } from "./lib/wrk.ts";
import { PlatformMetrics } from "../src/platform/metrics/metrics.ts";

const TARGET_RATIO = 0.97;
const FILES = [
  { path: "/", label: "1 KiB html" },
  { path: "/app.js", label: "50 KiB js" },
] as const;

export const metricsBench: Benchmark = {
  name: "metrics",
  aliases: ["edge-metrics"],
  description: "edge req/s with Prometheus metrics on vs off, same run (wrk)",
  flags: [
    {
      flag: "metrics-rounds",
      value: "N",
      env: "BENCH_METRICS_ROUNDS",
      help: "rounds of wrk per server and file (default 8)",
    },
    {
      flag: "duration",
      value: "SECONDS",
      env: "BENCH_METRICS_DURATION",
      help: "wrk -d per run (default 3)",
    },
    { flag: "no-pin", env: "BENCH_NO_PIN=1", help: "do not pin servers and wrk to CPUs" },
  ],
  run: runMetricsBench,
};

async function runMetricsBench(options: BenchOptions): Promise<void> {
  if (!findExecutable("wrk"))
    throw new SkipError("metrics skipped: wrk not found (apt-get install wrk)");
  const rounds = options.int("metrics-rounds", "BENCH_METRICS_ROUNDS", 8);
  const seconds = options.int("duration", "BENCH_METRICS_DURATION", 3);
  const pin = choosePinning({ disabled: options.has("no-pin", "BENCH_NO_PIN"), client: "wrk" });
  const cleanup = new Cleanup();
  const dir = await mkdtemp(join(tmpdir(), "slipway-bench-metrics-"));
  cleanup.defer("remove the scratch directory", () => rm(dir, { recursive: true, force: true }));
  try {
    const servers: Record<"off" | "on", number> = { off: 0, on: 0 };
    for (const mode of ["off", "on"] as const) {
      const port = await freePort();
      const { command, args } = pinned(pin.server, process.execPath, [
        "--import",
        "tsx",
        join(import.meta.dirname, "lib", "metrics-edge-server.ts"),
      ]);
      const daemon = Daemon.start(
        `edge, metrics ${mode}`,
        join(dir, `${mode}.log`),
        command,
        args,
        {
          env: {
            PATH: process.env.PATH,
            NODE_ENV: "production",
            EDGE_ROOT: join(dir, mode),
            EDGE_PORT: String(port),
            EDGE_METRICS: mode,
          },
        },
      );
      cleanup.defer(`stop the edge (metrics ${mode})`, () => daemon.stop());
      await waitForPort(port, { timeoutMs: 30_000, daemon, what: `the edge (metrics ${mode})` });
      servers[mode] = port;
    }
    console.log(`metrics: ${pin.note}; ${rounds} rounds × ${seconds} s per server and file`);

    const samples = new Map<string, number[]>();
    // Each round's on/off pair ran back to back, so their ratio is less exposed to the
    // machine's load drifting between rounds than the ratio of the two medians.
    const pairRatios = new Map<string, number[]>();
    let requestsOn = 0;
    const headers = ["Host: bench.localhost", "Accept-Encoding: gzip, br"];
    for (const file of FILES) {
      for (const mode of ["off", "on"] as const) {
        // Warm-up: fills the hot cache and lets V8 optimise before anything is measured.
        await runWrk(pin, {
          url: `http://127.0.0.1:${servers[mode]}${file.path}`,
          seconds: 1,
          headers,
        });
      }
    }
    const measuredFrom = await counted(servers.on);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const);
      for (const file of FILES) {
        const pair: Partial<Record<"off" | "on", number>> = {};
        for (const mode of order) {
          const result = await runWrk(pin, {
            url: `http://127.0.0.1:${servers[mode]}${file.path}`,
            seconds,
            headers,
          });
          if (result.socketErrors > 0)
            throw new Error(`${mode}: ${result.socketErrors} socket errors`);
          const key = `${file.label}|${mode}`;
          samples.set(key, [...(samples.get(key) ?? []), result.rps]);
          if (mode === "on") requestsOn += result.requests;
          pair[mode] = result.rps;
        }
        pairRatios.set(file.label, [
          ...(pairRatios.get(file.label) ?? []),
          (pair.on ?? 0) / (pair.off ?? 1),
        ]);
      }
    }
    const countedOn = (await counted(servers.on)) - measuredFrom;

    const rows = FILES.map((file) => {
      const off = summarize(samples.get(`${file.label}|off`) ?? []);
      const on = summarize(samples.get(`${file.label}|on`) ?? []);
      const paired = summarize(pairRatios.get(file.label) ?? []);
      const r = paired?.median;
      return [
        file.label,
        formatSummary(off),
        formatSummary(on),
        formatRatio(on, off),
        paired === undefined
          ? "n/a"
          : `${paired.median.toFixed(2)}× (${paired.min.toFixed(2)}–${paired.max.toFixed(2)})`,
        r === undefined ? "n/a" : r >= TARGET_RATIO ? "ok" : `below ${TARGET_RATIO}×`,
      ];
    });
    console.log(
      renderTable(
        [
          "file",
          "req/s metrics off",
          "req/s metrics on",
          "medians on/off",
          "paired on/off",
          "goal ≥ 0.97×",
        ],
        rows,
      ),
    );
    const perRequestNs = measureRecordingCost();
    const offRps = summarize(samples.get(`${FILES[0].label}|off`) ?? [])?.median ?? 0;
    console.log(
      `recording one request (counter + histogram) costs ${perRequestNs.toFixed(0)} ns in-process, ` +
        `${((perRequestNs * offRps) / 1e7).toFixed(2)}% of a request at ${offRps.toFixed(0)} req/s`,
    );
    // wrk's total includes requests still in flight when it stops, so allow a connection's worth.
    console.log(
      `the "on" edge counted ${countedOn} requests; wrk reported ${requestsOn} (measured runs)`,
    );
  } finally {
    await cleanup.run();
  }
}

/** Nanoseconds per `edgeServed` call (what the edge adds to each request), best of 5. */
function measureRecordingCost(): number {
  const metrics = new PlatformMetrics();
  const calls = 1_000_000;
  let best = Infinity;
  for (let run = 0; run < 5; run++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) metrics.edgeServed(i % 50 === 0 ? 404 : 200, performance.now());
    best = Math.min(best, Number(process.hrtime.bigint() - started) / calls);
  }
  return best;
}

/** `slipway_edge_requests_total` summed over its classes, from the "on" server. */
async function counted(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("slipway_edge_requests_total{")) total += Number(line.split(" ").pop());
  }
  return total;
}
