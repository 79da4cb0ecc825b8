/**
 * Direct deploys of a 2,000-file site (deterministic: text pages log-uniform 170 B–64 KiB plus
 * 1% binary assets of 1–3 MiB, about 10 KiB per file on average, the shape of the redeploy
 * benchmark) to the platform running as a child process (`node bin/slipway.js platform`):
 *
 * - `slipway deploy --prod` as shipped (`bin/slipway.js`, which runs the bundle `npm run build`
 *   makes; the benchmark builds it first) and the real `netlify deploy --no-build --prod`
 *   (netlify-cli from node_modules, with NETLIFY_API_URL, a temp HOME and telemetry disabled),
 *   each a first run (a fresh account, so every file is uploaded) and a second, unchanged run
 *   (nothing uploaded); the unchanged `slipway deploy` both with its hash cache (as shipped) and
 *   with `--no-cache` (every file read and hashed);
 * - baselines in the same rounds: hashing alone, as a process, twice — `sha1sum` over the files
 *   (C: the floor of any tool) and a plain Node script that walks and hashes them (the floor of
 *   any Node client: readFileSync + createHash, perf-anchors §3) — plus `node -e 0`, the CLI's
 *   start-up (`slipway deploy --help`, bundled and from the sources through tsx), and the
 *   platform's share (the one create-with-files call, in this process, files already hashed).
 *
 * The order rotates every round; medians and ratios come from the same run. The target (issue 4):
 * an unchanged redeploy within 2× the time of hashing the files alone.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { cpus, release, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SlipwayApi } from "../src/cli/deploy/client.ts";
import { hashFiles } from "../src/cli/deploy/hash.ts";
import { walkSite } from "../src/cli/deploy/walk.ts";
import { SETTLE_MS } from "../src/cli/deploy/hash-cache.ts";
import { currentBundle } from "../bin/cli-bundle.js";
import { choosePinning, pinned, type Pinning } from "./lib/baselines.ts";
import { Cleanup } from "./lib/cleanup.ts";
import { PROJECT_ROOT } from "./lib/forge.ts";
import type { Benchmark, BenchOptions } from "./lib/options.ts";
import { Prng } from "./lib/prng.ts";
import { childEnv, exec, execChecked, findExecutable, type ExecResult } from "./lib/proc.ts";
import { platformApi, startSlipwayChild, type SlipwayChild } from "./lib/slipway.ts";
import {
  formatBytes,
  formatRatio,
  formatSummary,
  ratio,
  renderTable,
  summarize,
  type Summary,
} from "./lib/stats.ts";

const TARGET_RATIO = 2;
const MIB = 1024 * 1024;

export const deployBench: Benchmark = {
  name: "deploy",
  aliases: ["cli-deploy", "netlify-deploy"],
  description:
    "slipway deploy and netlify deploy of a 2,000-file site, first and unchanged runs, against hashing alone (--quick: 300 files, 3 rounds)",
  flags: [
    {
      flag: "deploy-files",
      value: "N",
      env: "BENCH_DEPLOY_FILES",
      help: "files in the deployed site (default 2000; 300 with --quick)",
    },
    {
      flag: "deploy-rounds",
      value: "N",
      env: "BENCH_DEPLOY_ROUNDS",
      help: "rounds (default 5; 3 with --quick)",
    },
  ],
  run: runDeployBench,
};

const SLIPWAY_BIN = join(PROJECT_ROOT, "bin", "slipway.js");
const NETLIFY_BIN = join(PROJECT_ROOT, "node_modules", ".bin", "netlify");

type Measure =
  | "sha1sum"
  | "nodeHash"
  | "nodeStartup"
  | "startup"
  | "sourceStartup"
  | "protocol"
  | "slipwayFirst"
  | "slipwayUnchanged"
  | "slipwayNoCache"
  | "netlifyFirst"
  | "netlifyUnchanged";

interface Bench {
  root: string;
  siteDir: string;
  files: string[];
  uniqueContents: number;
  platform: SlipwayChild;
  pin: Pinning;
  netlifyHome: string;
  /** The hash cache of `slipway deploy` (SLIPWAY_CACHE_DIR), kept out of the user's home. */
  cacheDir: string;
  /** Plain-JavaScript hashing script (the Node baseline) and the from-sources entry. */
  nodeHashScript: string;
  sourceEntry: string;
  /** Counts runs, to alternate the order of paired measures. */
  turn: number;
  /** The first slipway site, redeployed by the `protocol` measure. */
  protocolSite?: { id: string; token: string; digests: Record<string, string> };
  samples: Record<Measure, number[]>;
  tenants: number;
}

async function runDeployBench(options: BenchOptions): Promise<void> {
  const quick = options.has("quick", "BENCH_QUICK");
  const fileCount = options.int("deploy-files", "BENCH_DEPLOY_FILES", quick ? 300 : 2000);
  const rounds = options.int("deploy-rounds", "BENCH_DEPLOY_ROUNDS", quick ? 3 : 5);
  const keep = options.has("keep", "BENCH_KEEP");
  if (!findExecutable("sha1sum")) {
    console.log("deploy skipped: sha1sum not found (apt-get install coreutils)");
    return;
  }
  const pin = choosePinning({
    disabled: options.has("no-pin", "BENCH_NO_PIN"),
    client: "the deploy clients and sha1sum",
  });
  const cleanup = new Cleanup();
  try {
    const root = await mkdtemp(join(tmpdir(), "slipway-bench-deploy-"));
    cleanup.defer(`remove ${root}`, async () => {
      if (keep) {
        console.log(`\nkept ${root} (--keep)`);
        return;
      }
      await rm(root, { recursive: true, force: true, maxRetries: 3 });
    });
    const cpu = cpus();
    console.log(
      `machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? "?"}, Linux ${release()}, Node ${process.version}`,
    );
    console.log(`pinning: ${pin.note}; the in-process measures run unpinned in this process`);
    const siteDir = join(root, "site");
    const generated = generateSite(siteDir, fileCount);
    await execChecked("sync", []);
    const walked = walkSite(siteDir);
    const digests = await hashFiles(walked);
    const uniqueContents = new Set(digests).size;
    console.log(
      `site: ${walked.length} files (${uniqueContents} distinct contents), ${formatBytes(generated.bytes)}, ` +
        `text pages 170 B–64 KiB log-uniform + ${generated.assets} assets of 1–3 MiB, page cache warm`,
    );

    const platform = await startSlipwayChild({
      command: "platform",
      dir: join(root, "platform"),
      pin: pin.server,
      cleanup,
      logLevel: "warn",
    });
    console.log(`platform: child process \`node bin/slipway.js platform\` at ${platform.url}`);
    const netlifyHome = join(root, "netlify-home");
    mkdirSync(netlifyHome);
    const netlifyVersion = await execChecked(NETLIFY_BIN, ["--version"], {
      env: netlifyEnv(netlifyHome, {}),
      cwd: root,
    });
    await execChecked(NETLIFY_BIN, ["--telemetry-disable"], {
      env: netlifyEnv(netlifyHome, {}),
      cwd: root,
    });
    console.log(
      `netlify-cli: ${netlifyVersion.stdout.trim()} (telemetry disabled, HOME=${netlifyHome})`,
    );

    const bundle = await buildShippedBundle();
    console.log(`slipway deploy: bin/slipway.js running ${bundle} (built by npm run build now)`);
    const bench: Bench = {
      root,
      siteDir,
      files: walked.map((f) => f.absolute),
      uniqueContents,
      platform,
      pin,
      netlifyHome,
      cacheDir: join(root, "slipway-cache"),
      ...writeHelperScripts(root),
      samples: {
        sha1sum: [],
        nodeHash: [],
        nodeStartup: [],
        startup: [],
        sourceStartup: [],
        protocol: [],
        slipwayFirst: [],
        slipwayUnchanged: [],
        slipwayNoCache: [],
        netlifyFirst: [],
        netlifyUnchanged: [],
      },
      tenants: 0,
      turn: 0,
    };
    // The hash cache remembers only files unchanged for a few seconds before they were hashed.
    await sleep(Math.max(0, generated.writtenAt + SETTLE_MS + 500 - Date.now()));
    const busyBefore = await backgroundBusy();
    const tasks: { name: string; run: () => Promise<string> }[] = [
      { name: "sha1sum", run: () => measureSha1sum(bench) },
      { name: "node hash", run: () => measureNodeHash(bench) },
      { name: "CLI start-up", run: () => measureStartup(bench) },
      { name: "slipway deploy", run: () => measureSlipway(bench) },
      { name: "netlify deploy", run: () => measureNetlify(bench) },
      { name: "protocol alone", run: () => measureProtocol(bench) },
    ];
    console.log(`\n${rounds} rounds, order rotated every round:`);
    for (let r = 0; r < rounds; r++) {
      const order = tasks.map((_, i) => tasks[(i + r) % tasks.length]!);
      const parts: string[] = [];
      for (const task of order) parts.push(`${task.name} ${await task.run()}`);
      console.log(`  round ${r + 1}: ${parts.join("; ")}`);
    }
    const busyAfter = await backgroundBusy();
    report(bench, rounds);
    console.log(
      `\nother CPU load (2 s samples, our servers idle): ${busyBefore} before the rounds, ${busyAfter} after`,
    );
  } finally {
    await cleanup.run();
  }
}

function clientCommand(pin: Pinning, command: string, args: readonly string[]) {
  return pinned(pin.client, command, args);
}

async function timed(
  pin: Pinning,
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<ExecResult> {
  const { command: head, args: rest } = clientCommand(pin, command, args);
  const result = await exec(head, rest, { ...options, timeoutMs: 600_000 });
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.slice(0, 4).join(" ")}… failed (${result.code}):\n${result.stderr.trim().slice(-2000)}\n${result.stdout.trim().slice(-2000)}`,
    );
  }
  return result;
}

async function measureSha1sum(bench: Bench): Promise<string> {
  const result = await timed(bench.pin, "sha1sum", ["--", ...bench.files]);
  const lines = result.stdout.trim().split("\n").length;
  if (lines !== bench.files.length) throw new Error(`sha1sum printed ${lines} lines`);
  bench.samples.sha1sum.push(result.ms);
  return `${Math.round(result.ms)} ms`;
}

/** Hashing alone in Node, as a process: walk, readFileSync, SHA-1; no protocol, no cache. */
async function measureNodeHash(bench: Bench): Promise<string> {
  const result = await timed(bench.pin, process.execPath, [bench.nodeHashScript, bench.siteDir], {
    env: childEnv(),
  });
  if (Number(result.stdout.trim()) !== bench.files.length) {
    throw new Error(`the Node hashing script hashed ${result.stdout.trim()} files`);
  }
  bench.samples.nodeHash.push(result.ms);
  return `${Math.round(result.ms)} ms`;
}

function writeHelperScripts(root: string): { nodeHashScript: string; sourceEntry: string } {
  const nodeHashScript = join(root, "node-hash.mjs");
  writeFileSync(
    nodeHashScript,
    `import { readdirSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
let n = 0;
const visit = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) visit(path);
    else if (createHash("sha1").update(readFileSync(path)).digest("hex")) n++;
  }
};
visit(process.argv[2]);
console.log(n);
`,
  );
  const sourceEntry = join(root, "from-sources.mts");
  writeFileSync(
    sourceEntry,
    `import { runDeploy } from ${JSON.stringify(join(PROJECT_ROOT, "src/cli/deploy/command.ts"))};\n` +
      "process.exitCode = await runDeploy(process.argv.slice(2));\n",
  );
  return { nodeHashScript, sourceEntry };
}

/** `npm run build`, so that bin/slipway.js runs a bundle of the sources being measured. */
async function buildShippedBundle(): Promise<string> {
  await execChecked(process.execPath, [
    "--import",
    "tsx",
    join(PROJECT_ROOT, "scripts", "build-cli.ts"),
  ]);
  const bundle = currentBundle();
  if (bundle === undefined) throw new Error("npm run build left no usable bundle in dist/cli");
  return bundle.slice(bundle.indexOf("/dist/") + 1);
}

async function measureStartup(bench: Bench): Promise<string> {
  const runs: [Measure, string[]][] = [
    ["nodeStartup", ["-e", "0"]],
    ["startup", [SLIPWAY_BIN, "deploy", "--help"]],
    ["sourceStartup", ["--import", "tsx", bench.sourceEntry, "--help"]],
  ];
  const shown: string[] = [];
  for (let i = 0; i < runs.length; i++) {
    const [measure, args] = runs[(i + bench.turn) % runs.length]!;
    const result = await timed(bench.pin, process.execPath, args, { env: childEnv() });
    bench.samples[measure].push(result.ms);
    shown.push(`${measure} ${Math.round(result.ms)}`);
  }
  bench.turn++;
  return shown.join(", ");
}

/** A fresh account (so nothing of the site is on the platform yet) with one empty site. */
async function freshSite(
  bench: Bench,
  label: string,
): Promise<{ id: string; name: string; token: string }> {
  const n = ++bench.tenants;
  const tenant = await platformApi<{ token: string }>(
    bench.platform,
    "POST",
    "/admin/users",
    bench.platform.adminToken,
    { email: `bench-${label}-${n}@slipway.invalid`, full_name: `bench ${label} ${n}` },
  );
  const site = await platformApi<{ id: string; name: string }>(
    bench.platform,
    "POST",
    "/sites",
    tenant.token,
    { name: `bench-${label}-${n}` },
  );
  return { id: site.id, name: site.name, token: tenant.token };
}

interface CliResult {
  uploaded: number;
  files: number;
  state: string;
}

async function measureSlipway(bench: Bench): Promise<string> {
  const site = await freshSite(bench, "slipway");
  const env = childEnv({
    SLIPWAY_API_URL: bench.platform.url,
    SLIPWAY_AUTH_TOKEN: site.token,
    SLIPWAY_CACHE_DIR: bench.cacheDir,
  });
  const args = [
    SLIPWAY_BIN,
    "deploy",
    "--dir",
    bench.siteDir,
    "--site",
    site.id,
    "--prod",
    "--json",
  ];
  const first = await timed(bench.pin, process.execPath, args, { env });
  const firstResult = JSON.parse(first.stdout) as CliResult;
  if (firstResult.uploaded !== bench.uniqueContents || firstResult.state !== "ready") {
    throw new Error(`slipway deploy, first run: ${first.stdout}`);
  }
  // The unchanged redeploy with the hash cache (as shipped) and without, in alternating order.
  const variants: [Measure, string[]][] = [
    ["slipwayUnchanged", args],
    ["slipwayNoCache", [...args, "--no-cache"]],
  ];
  if (bench.turn % 2 === 1) variants.reverse();
  const unchanged: string[] = [];
  for (const [measure, argv] of variants) {
    const run = await timed(bench.pin, process.execPath, argv, { env });
    const result = JSON.parse(run.stdout) as CliResult;
    if (result.uploaded !== 0 || result.files !== bench.files.length) {
      throw new Error(`slipway deploy, unchanged run: ${run.stdout}`);
    }
    const reused = Number(/; (\d+) unchanged since/.exec(run.stderr)?.[1] ?? 0);
    const expected = measure === "slipwayUnchanged" ? bench.files.length : 0;
    if (reused !== expected) {
      throw new Error(`slipway deploy reused ${reused} cached digests, expected ${expected}`);
    }
    bench.samples[measure].push(run.ms);
    unchanged.push(`${measure === "slipwayNoCache" ? "--no-cache " : ""}${Math.round(run.ms)} ms`);
  }
  bench.samples.slipwayFirst.push(first.ms);
  if (!bench.protocolSite) {
    const files = walkSite(bench.siteDir);
    const digests = await hashFiles(files);
    const map: Record<string, string> = {};
    files.forEach((f, i) => (map[f.path] = digests[i]!));
    bench.protocolSite = { ...site, digests: map };
  }
  return `first ${Math.round(first.ms)} ms (${firstResult.uploaded} uploaded), unchanged ${unchanged.join(" / ")} (0 uploaded)`;
}

function netlifyEnv(home: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  return childEnv({
    HOME: home,
    XDG_CONFIG_HOME: undefined,
    XDG_DATA_HOME: undefined,
    XDG_CACHE_HOME: undefined,
    NETLIFY_SITE_ID: undefined,
    NETLIFY_AUTH_TOKEN: undefined,
    NETLIFY_API_URL: undefined,
    CI: "1",
    NETLIFY_TELEMETRY_DISABLED: "1",
    ...extra,
  });
}

async function measureNetlify(bench: Bench): Promise<string> {
  const site = await freshSite(bench, "netlify");
  const env = netlifyEnv(bench.netlifyHome, {
    NETLIFY_API_URL: bench.platform.url,
    NETLIFY_AUTH_TOKEN: site.token,
    // The name, not the id: without api.netlifysdk.com (unreachable here) the CLI resolves its
    // config offline, and then finds a site given in NETLIFY_SITE_ID only by listing names.
    NETLIFY_SITE_ID: site.name,
  });
  const args = ["deploy", "--no-build", "--prod", "--dir", bench.siteDir, "--json"];
  // The project directory is the temp root: no netlify.toml or .netlify state of ours.
  const first = await timed(bench.pin, NETLIFY_BIN, args, { env, cwd: bench.root });
  await checkPublished(bench, site, first.stdout, "first");
  const second = await timed(bench.pin, NETLIFY_BIN, args, { env, cwd: bench.root });
  await checkPublished(bench, site, second.stdout, "unchanged");
  bench.samples.netlifyFirst.push(first.ms);
  bench.samples.netlifyUnchanged.push(second.ms);
  return `first ${Math.round(first.ms)} ms, unchanged ${Math.round(second.ms)} ms`;
}

/** The deploy netlify printed is the site's published one, and it is ready. */
async function checkPublished(
  bench: Bench,
  site: { id: string; token: string },
  stdout: string,
  run: string,
): Promise<void> {
  const start = stdout.indexOf("{");
  const printed = JSON.parse(stdout.slice(start)) as { deploy_id?: string };
  const current = await platformApi<{ published_deploy: { id: string; state: string } | null }>(
    bench.platform,
    "GET",
    `/sites/${site.id}`,
    site.token,
  );
  if (
    printed.deploy_id === undefined ||
    current.published_deploy?.id !== printed.deploy_id ||
    current.published_deploy.state !== "ready"
  ) {
    throw new Error(`netlify deploy, ${run} run: not published (${stdout.slice(0, 500)})`);
  }
}

/** The create-with-files call of an unchanged deploy, files already hashed: the server's share. */
async function measureProtocol(bench: Bench): Promise<string> {
  const site = bench.protocolSite;
  if (!site) return "(after the first slipway deploy)";
  // A new client (new connection), and the CLI's request: create with the files; ready at once.
  const api = new SlipwayApi(bench.platform.url, site.token);
  try {
    const started = performance.now();
    const created = await api.createDeploy(site.id, { draft: false, files: site.digests });
    let deploy = created;
    if ((deploy.required ?? []).length !== 0) throw new Error("protocol: files were required");
    while (deploy.state !== "ready") {
      if (deploy.state === "error") throw new Error(`protocol: ${deploy.error_message}`);
      await sleep(5);
      deploy = await api.getDeploy(site.id, created.id);
    }
    const ms = performance.now() - started;
    bench.samples.protocol.push(ms);
    return `${Math.round(ms)} ms`;
  } finally {
    api.close();
  }
}

function report(bench: Bench, rounds: number): void {
  const s = (m: Measure): Summary | undefined => summarize(bench.samples[m]);
  const files = bench.files.length;
  const rows: [string, Measure][] = [
    [`hashing alone: sha1sum over the ${files} files (C)`, "sha1sum"],
    ["hashing alone: a Node script (walk, readFileSync, SHA-1)", "nodeHash"],
    ["node -e 0 (Node's start-up)", "nodeStartup"],
    ["CLI start-up: slipway deploy --help (bin/slipway.js, bundle)", "startup"],
    ["CLI start-up from the sources (tsx), for comparison", "sourceStartup"],
    ["platform's share: the create-with-files call, in this process", "protocol"],
    ["slipway deploy --prod, first run (uploads all)", "slipwayFirst"],
    ["slipway deploy --prod, unchanged (uploads none)", "slipwayUnchanged"],
    ["  the same with --no-cache (hashes every file)", "slipwayNoCache"],
    ["netlify deploy --no-build --prod, first run", "netlifyFirst"],
    ["netlify deploy --no-build --prod, unchanged", "netlifyUnchanged"],
  ];
  console.log(`\nms, median (min–max) of ${rounds} rounds; lower is better\n`);
  console.log(
    renderTable(
      ["measure", "ms"],
      rows
        .filter(([, m]) => bench.samples[m].length > 0)
        .map(([label, m]) => [label, formatSummary(s(m))]),
    ),
  );
  const sha1sum = s("sha1sum");
  const nodeHash = s("nodeHash");
  const unchanged = s("slipwayUnchanged");
  const noCache = s("slipwayNoCache");
  const node = s("nodeStartup");
  // The work beyond the runtime's own start-up, which no Node client can avoid.
  const beyondNode =
    unchanged && node ? { ...unchanged, median: unchanged.median - node.median } : undefined;
  console.log("\nratios of the medians above (same run)\n");
  console.log(
    renderTable(
      ["ratio", "×"],
      [
        ["slipway unchanged ÷ Node hashing alone", formatRatio(unchanged, nodeHash)],
        ["slipway unchanged ÷ sha1sum", formatRatio(unchanged, sha1sum)],
        ["slipway unchanged --no-cache ÷ Node hashing alone", formatRatio(noCache, nodeHash)],
        ["slipway unchanged --no-cache ÷ sha1sum", formatRatio(noCache, sha1sum)],
        ["node -e 0 ÷ sha1sum (Node's start-up alone)", formatRatio(node, sha1sum)],
        ["(slipway unchanged − node -e 0) ÷ sha1sum", formatRatio(beyondNode, sha1sum)],
        ["slipway first ÷ netlify first", formatRatio(s("slipwayFirst"), s("netlifyFirst"))],
        ["slipway unchanged ÷ netlify unchanged", formatRatio(unchanged, s("netlifyUnchanged"))],
      ],
    ),
  );
  const startup = s("startup");
  const protocol = s("protocol");
  if (unchanged && startup && protocol) {
    const rest = unchanged.median - startup.median - protocol.median;
    console.log(
      `\nwhere an unchanged deploy's ${Math.round(unchanged.median)} ms go (medians of separate measures): ` +
        `start-up ${Math.round(startup.median)}, the platform's share ${Math.round(protocol.median)}, ` +
        `the rest ${Math.round(rest)} (walking the directory, the hash cache, the first connection, exit)`,
    );
  }
  const verdict = (what: string, x: Summary | undefined, base: Summary | undefined): string => {
    const r = ratio(x, base);
    return r === undefined
      ? `${what} n/a`
      : `${what} ${r.toFixed(2)}× → ${r <= TARGET_RATIO ? "PASS" : "FAIL"}`;
  };
  console.log(
    `\ntarget: unchanged redeploy ≤ ${TARGET_RATIO}× hashing alone: ` +
      [
        verdict("against Node hashing the files", unchanged, nodeHash),
        verdict("against sha1sum", unchanged, sha1sum),
        verdict("beyond Node's start-up, against sha1sum", beyondNode, sha1sum),
        verdict("without the cache, against Node hashing", noCache, nodeHash),
        verdict("without the cache, against sha1sum", noCache, sha1sum),
      ].join("; "),
  );
}

/**
 * The site: text pages (html, css, js) with sizes log-uniform from 170 B to 64 KiB and 1% binary
 * assets of 1–3 MiB, scaled to an average of 10.1 KiB per file, in 40 directories; all content
 * from a seeded PRNG, so every run deploys the same bytes.
 */
function generateSite(
  dir: string,
  count: number,
): { bytes: number; assets: number; writtenAt: number } {
  const prng = new Prng(0xd3b10e);
  const assets = Math.max(1, Math.floor(count / 100));
  const raw: number[] = [];
  for (let i = 0; i < count; i++) {
    if (i < assets) raw.push(prng.int(1 * MIB, 3 * MIB));
    else raw.push(Math.exp(Math.log(170) + (prng.nextU32() / 2 ** 32) * Math.log(65536 / 170)));
  }
  const scale = (count * 10.1 * 1024) / raw.reduce((a, b) => a + b, 0);
  const dirs = Math.min(40, count);
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const size = Math.max(1, Math.round((raw[i] ?? 1) * scale));
    const sub = `section-${String(i % dirs).padStart(2, "0")}`;
    const ext = i < assets ? "png" : ["html", "html", "css", "js"][i % 4];
    const path = i === assets ? "index.html" : `${sub}/page-${String(i).padStart(4, "0")}.${ext}`;
    mkdirSync(join(dir, sub), { recursive: true });
    writeFileSync(join(dir, path), i < assets ? bytesOf(prng, size) : prng.text(size));
    bytes += size;
  }
  return { bytes, assets, writtenAt: Date.now() };
}

function bytesOf(prng: Prng, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4) {
    const word = prng.nextU32();
    for (let k = 0; k < 4 && i + k < size; k++) out[i + k] = (word >>> (8 * k)) & 0xff;
  }
  return out;
}

/** How busy the CPUs are over 2 s (percent of all CPUs), while this benchmark is idle. */
async function backgroundBusy(): Promise<string> {
  const sample = async (): Promise<{ busy: number; total: number }> => {
    const line = (await readFile("/proc/stat", "utf8")).split("\n")[0] ?? "";
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
  };
  try {
    const a = await sample();
    await sleep(2_000);
    const b = await sample();
    return b.total > a.total
      ? `${(((b.busy - a.busy) / (b.total - a.total)) * 100).toFixed(0)}%`
      : "n/a";
  } catch {
    return "n/a";
  }
}
