/**
 * `npm run bench [-- NAME… FLAGS]`: runs every benchmark, or the ones named.
 *
 *   npm run bench                      all benchmarks
 *   npm run bench -- git               git transfer only
 *   npm run bench -- git --quick       a small repository and 3 rounds
 *   npm run bench -- deploy --quick    slipway deploy / netlify deploy, 300 files, 3 rounds
 *   npm run bench -- dashboard         the dashboard in Chromium: JS size, sites page, live log
 *   npm run bench -- --help            the list and the flags
 */
import { dashboardBench } from "./dashboard.ts";
import { apiDeployBench } from "./api-deploy.ts";
import { deployBench } from "./deploy.ts";
import { edge } from "./edge.ts";
import { edgeS3 } from "./edge-s3.ts";
import { gitTransfer } from "./git-transfer.ts";
import { https } from "./https.ts";
import { metricsBench } from "./metrics.ts";
import { pushToLive } from "./push-to-live.ts";
import { pushToLiveCache } from "./push-to-live-cache.ts";
import { queueBench } from "./queue.ts";
import { redeploy } from "./redeploy.ts";
import { webhookIntake } from "./webhook-intake.ts";
import { sqliteSync } from "./sqlite-sync.ts";
import { installSignalCleanup } from "./lib/cleanup.ts";
import { BenchOptions, type BenchFlag, type Benchmark } from "./lib/options.ts";

const BENCHMARKS: readonly Benchmark[] = [
  gitTransfer,
  edge,
  edgeS3,
  https,
  metricsBench,
  pushToLive,
  pushToLiveCache,
  redeploy,
  webhookIntake,
  queueBench,
  deployBench,
  apiDeployBench,
  dashboardBench,
  sqliteSync,
];

const COMMON_FLAGS: readonly BenchFlag[] = [
  { flag: "help", help: "show this help" },
  { flag: "keep", env: "BENCH_KEEP=1", help: "keep temp dirs (for debugging); servers still stop" },
];

function usage(): string {
  const lines = ["Usage: npm run bench [-- NAME… FLAGS]", "", "Benchmarks:"];
  for (const b of BENCHMARKS) {
    lines.push(`  ${[b.name, ...b.aliases].join(", ").padEnd(20)} ${b.description}`);
  }
  lines.push("", "Flags:");
  for (const f of [...COMMON_FLAGS, ...BENCHMARKS.flatMap((b) => b.flags)]) {
    const env = f.env === undefined ? "" : ` (env ${f.env})`;
    const name = f.value === undefined ? f.flag : `${f.flag} ${f.value}`;
    lines.push(`  --${name.padEnd(24)} ${f.help}${env}`);
  }
  return lines.join("\n");
}

async function main(argv: readonly string[]): Promise<number> {
  const allFlags = [...COMMON_FLAGS, ...BENCHMARKS.flatMap((b) => b.flags)];
  const options = new BenchOptions(
    argv,
    new Set(allFlags.filter((f) => f.value !== undefined).map((f) => f.flag)),
  );
  if (options.has("help")) {
    console.log(usage());
    return 0;
  }
  const known = allFlags.map((f) => f.flag);
  const unknown = options.unknown(known);
  if (unknown.length > 0) {
    console.error(`bench: unknown flag(s) ${unknown.map((f) => `--${f}`).join(", ")}\n`);
    console.error(usage());
    return 2;
  }
  const selected: Benchmark[] = [];
  for (const name of options.names) {
    const found = BENCHMARKS.find((b) => b.name === name || b.aliases.includes(name));
    if (!found) {
      console.error(`bench: no benchmark named "${name}"\n`);
      console.error(usage());
      return 2;
    }
    if (!selected.includes(found)) selected.push(found);
  }
  if (selected.length === 0) selected.push(...BENCHMARKS);

  installSignalCleanup();
  let failed = 0;
  for (const benchmark of selected) {
    console.log(`\n=== ${benchmark.name}: ${benchmark.description} ===\n`);
    try {
      await benchmark.run(options);
    } catch (error) {
      failed++;
      console.error(`\nbench ${benchmark.name} failed: ${(error as Error).stack ?? String(error)}`);
    }
  }
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
