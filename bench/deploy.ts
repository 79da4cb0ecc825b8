/**
 * Direct deploys of a 2,000-file site (deterministic: text pages log-uniform 170 B–64 KiB plus
 * 1% binary assets of 1–3 MiB, about 10 KiB per file on average, the shape of the redeploy
 * benchmark) to the platform running as a child process (`node bin/slipway.js platform`):
 *
 * - `slipway deploy --prod` and the real `netlify deploy --no-build --prod` (netlify-cli from
 *   node_modules, with NETLIFY_API_URL, a temp HOME and telemetry disabled), each a first run
 *   (a fresh account, so every file is uploaded) and a second, unchanged run (nothing uploaded);
 * - baselines in the same rounds: `sha1sum` over the files (hashing alone, as a process), the
 *   CLI's own walk + hash in this process, the CLI's start-up (`slipway deploy --help`), and the
 *   protocol alone in this process (site, create, digest, wait for ready; files already hashed),
 *   and the CLI bundled by esbuild into one plain-JavaScript file (a what-if: start-up without tsx).
 *
 * The order rotates every round; medians and ratios come from the same run. The target (issue 4):
 * an unchanged redeploy within 2× the time of hashing the files alone.
 */
import { writeFileSync, mkdirSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { cpus, release, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SlipwayApi } from "../src/cli/deploy/client.ts";
import { hashFiles } from "../src/cli/deploy/hash.ts";
import { walkSite } from "../src/cli/deploy/walk.ts";
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
  | "inProcessHash"
  | "nodeStartup"
  | "startup"
  | "bundleStartup"
  | "protocol"
  | "slipwayFirst"
  | "slipwayUnchanged"
  | "bundleUnchanged"
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
  /** The deploy command bundled by esbuild into one plain-JavaScript file (no tsx), if built. */
  bundle?: string;
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

    const bench: Bench = {
      root,
      siteDir,
      files: walked.map((f) => f.absolute),
      uniqueContents,
      platform,
      pin,
      netlifyHome,
      samples: {
        sha1sum: [],
        inProcessHash: [],
        nodeStartup: [],
        startup: [],
        bundleStartup: [],
        protocol: [],
        slipwayFirst: [],
        slipwayUnchanged: [],
        bundleUnchanged: [],
        netlifyFirst: [],
        netlifyUnchanged: [],
      },
      tenants: 0,
      turn: 0,
    };
    const bundle = await buildBundle(root);
    if (bundle.path !== undefined) bench.bundle = bundle.path;
    console.log(bundle.note);
    const busyBefore = await backgroundBusy();
    const tasks: { name: string; run: () => Promise<string> }[] = [
      { name: "sha1sum", run: () => measureSha1sum(bench) },
      { name: "in-process hash", run: () => measureInProcessHash(bench) },
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

async function measureInProcessHash(bench: Bench): Promise<string> {
  const started = performance.now();
  const files = walkSite(bench.siteDir);
  await hashFiles(files);
  const ms = performance.now() - started;
  bench.samples.inProcessHash.push(ms);
  return `${Math.round(ms)} ms`;
}

/**
 * What start-up would cost without tsx: `slipway deploy` bundled by esbuild (a dependency of
 * tsx) into one JavaScript file that plain `node` runs. Not how Slipway ships today.
 */
async function buildBundle(root: string): Promise<{ path?: string; note: string }> {
  const esbuild = join(PROJECT_ROOT, "node_modules", ".bin", "esbuild");
  if (!findExecutable(esbuild)) return { note: "bundled CLI: skipped (no esbuild)" };
  const entry = join(root, "deploy-entry.ts");
  const out = join(root, "deploy-bundle.mjs");
  writeFileSync(
    entry,
    `import { runDeploy } from ${JSON.stringify(join(PROJECT_ROOT, "src/cli/deploy/command.ts"))};\n` +
      "process.exitCode = await runDeploy(process.argv.slice(2));\n",
  );
  await execChecked(esbuild, [
    entry,
    "--bundle",
    "--platform=node",
    "--format=esm",
    "--target=node20",
    "--log-level=warning",
    `--outfile=${out}`,
  ]);
  return {
    path: out,
    note: "bundled CLI: src/cli/deploy bundled by esbuild into one .mjs run by plain node (a what-if: no tsx at start-up)",
  };
}

async function measureStartup(bench: Bench): Promise<string> {
  const runs: [Measure, string[]][] = [
    ["nodeStartup", ["-e", "0"]],
    ["startup", [SLIPWAY_BIN, "deploy", "--help"]],
  ];
  if (bench.bundle !== undefined) runs.push(["bundleStartup", [bench.bundle, "--help"]]);
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
  const env = childEnv({ SLIPWAY_API_URL: bench.platform.url, SLIPWAY_AUTH_TOKEN: site.token });
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
  // The unchanged redeploy, through bin/slipway.js (tsx) and bundled, in alternating order.
  const variants: [Measure, string[]][] = [["slipwayUnchanged", args]];
  if (bench.bundle !== undefined)
    variants.push(["bundleUnchanged", [bench.bundle, ...args.slice(2)]]);
  if (bench.turn % 2 === 1) variants.reverse();
  const unchanged: string[] = [];
  for (const [measure, argv] of variants) {
    const run = await timed(bench.pin, process.execPath, argv, { env });
    const result = JSON.parse(run.stdout) as CliResult;
    if (result.uploaded !== 0 || result.files !== bench.files.length) {
      throw new Error(`slipway deploy, unchanged run: ${run.stdout}`);
    }
    bench.samples[measure].push(run.ms);
    unchanged.push(`${measure === "bundleUnchanged" ? "bundled " : ""}${Math.round(run.ms)} ms`);
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

/** Create, digest, wait for ready, with the files already hashed: the server's share. */
async function measureProtocol(bench: Bench): Promise<string> {
  const site = bench.protocolSite;
  if (!site) return "(after the first slipway deploy)";
  // A new client (new connection), and the CLI's requests: site, create, digest, ready.
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
    [`sha1sum over the ${files} files (a process)`, "sha1sum"],
    ["walk + hash in this process (the CLI's code)", "inProcessHash"],
    ["node -e 0 (process start-up floor)", "nodeStartup"],
    ["CLI start-up: slipway deploy --help (bin/slipway.js, tsx)", "startup"],
    ["CLI start-up, bundled: deploy-bundle.mjs --help", "bundleStartup"],
    ["protocol alone in this process: site + create + digest + ready", "protocol"],
    ["slipway deploy --prod, first run (uploads all)", "slipwayFirst"],
    ["slipway deploy --prod, unchanged (uploads none)", "slipwayUnchanged"],
    ["  the same, bundled (no tsx)", "bundleUnchanged"],
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
  const inProcess = s("inProcessHash");
  const minus = (a: Summary | undefined, b: Summary | undefined): Summary | undefined =>
    a && b ? { ...a, median: a.median - b.median } : undefined;
  const unchanged = s("slipwayUnchanged");
  const bundled = s("bundleUnchanged");
  const withoutStartup = minus(unchanged, s("startup"));
  console.log("\nratios of the medians above (same run)\n");
  console.log(
    renderTable(
      ["ratio", "×"],
      [
        ["slipway unchanged ÷ sha1sum", formatRatio(unchanged, sha1sum)],
        ["slipway unchanged ÷ in-process hash", formatRatio(unchanged, inProcess)],
        ["bundled unchanged ÷ sha1sum", formatRatio(bundled, sha1sum)],
        ["(slipway unchanged − its start-up) ÷ sha1sum", formatRatio(withoutStartup, sha1sum)],
        ["slipway first ÷ netlify first", formatRatio(s("slipwayFirst"), s("netlifyFirst"))],
        ["slipway unchanged ÷ netlify unchanged", formatRatio(unchanged, s("netlifyUnchanged"))],
      ],
    ),
  );
  for (const [label, total, startup] of [
    ["slipway deploy (tsx)", unchanged, s("startup")],
    ["bundled", bundled, s("bundleStartup")],
  ] as const) {
    if (!total || !startup) continue;
    const parts = [
      ["start-up", startup.median],
      ["walk + hash", inProcess?.median ?? 0],
      ["protocol (site + create + digest + ready)", s("protocol")?.median ?? 0],
    ] as const;
    const rest = total.median - parts.reduce((sum, [, ms]) => sum + ms, 0);
    console.log(
      `\nwhere an unchanged ${label} deploy's ${Math.round(total.median)} ms go (medians of separate measures): ` +
        parts.map(([what, ms]) => `${what} ${Math.round(ms)}`).join(", ") +
        `, the rest ${Math.round(rest)} (reading the output, process exit)`,
    );
  }
  const verdict = (what: string, x: Summary | undefined): string => {
    const r = ratio(x, sha1sum);
    return r === undefined
      ? `${what} n/a`
      : `${what} ${r.toFixed(2)}× → ${r <= TARGET_RATIO ? "PASS" : "FAIL"}`;
  };
  console.log(
    `\ntarget: unchanged redeploy ≤ ${TARGET_RATIO}× hashing alone (sha1sum): ` +
      [
        verdict("slipway deploy as shipped (tsx)", unchanged),
        verdict("bundled", bundled),
        verdict("without the tsx start-up", withoutStartup),
      ].join("; "),
  );
}

/**
 * The site: text pages (html, css, js) with sizes log-uniform from 170 B to 64 KiB and 1% binary
 * assets of 1–3 MiB, scaled to an average of 10.1 KiB per file, in 40 directories; all content
 * from a seeded PRNG, so every run deploys the same bytes.
 */
function generateSite(dir: string, count: number): { bytes: number; assets: number } {
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
  return { bytes, assets };
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
