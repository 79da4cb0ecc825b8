/**
 * Push-to-live with the build cache: `slipway start`, a fixture site linked with the forge
 * (`--site npm-offline`: a lockfile whose dependency is a tarball in the repository, a
 * postinstall and `npm run build`, no network; `--site vite-react`: Vite + React installed from
 * the npm registry, let through the build firewall with SLIPWAY_BUILD_ALLOW_HOSTS). Each round
 * commits a content change, pushes, starts the build through the API and waits until the edge
 * serves the new page; rounds cycle through:
 *
 * - cold: `clear_cache: true`, so nothing is restored and `npm ci` starts from an empty store;
 * - lockfile: the lockfile changed, so `npm ci` runs from the restored package store;
 * - cached: only content changed, so node_modules is restored and the install skipped;
 *
 * and, as the baseline in the same rounds, the same commit by hand outside the sandbox: a fresh
 * `git clone`, `npm ci` (the host's warm npm cache) and `npm run build`. Goal (issue 15): cached
 * push→live ≤ 1.2 × the bare `npm run build` + 0.5 s, and cached ≥ 3× faster than cold.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fixtureSiteFiles } from "../test/helpers/e2e.ts";
import { Cleanup } from "./lib/cleanup.ts";
import type { Benchmark, BenchOptions } from "./lib/options.ts";
import { execChecked, findExecutable } from "./lib/proc.ts";
import {
  linkForgeSite,
  platformApi,
  startSlipwayChild,
  type BuildBody,
  type LogLine,
  type SlipwayChild,
} from "./lib/slipway.ts";
import { formatSummary, renderTable, summarize } from "./lib/stats.ts";

export const pushToLiveCache: Benchmark = {
  name: "push-to-live-cache",
  aliases: ["cache"],
  description: "push → live for an npm site: cold install vs restored cache vs a bare build",
  flags: [
    { flag: "rounds", value: "N", env: "BENCH_ROUNDS", help: "cold + cached rounds (default 3)" },
    {
      flag: "site",
      value: "NAME",
      env: "BENCH_SITE",
      help: "npm-offline (default) or vite-react (installs from the npm registry)",
    },
  ],
  run: runCacheBench,
};

/** The fixture's files, as the bench's working copy takes them. */
async function fixtureFiles(name: string): Promise<Map<string, Buffer>> {
  const files = await fixtureSiteFiles(name);
  return new Map(Object.entries(files).map(([path, bytes]) => [path, Buffer.from(bytes)]));
}

interface Sample {
  liveMs: number;
  installMs: number;
  cmdMs: number;
  restoreLine: string;
  /** The restores' own times, from their log lines. */
  restoreMs: number;
  /** The command ended → the deploying section starts (saving the cache). */
  saveMs: number;
}

async function runCacheBench(options: BenchOptions): Promise<void> {
  const rounds = options.int("rounds", "BENCH_ROUNDS", 3);
  const siteName = options.string("site", "BENCH_SITE", "npm-offline");
  if (siteName !== "npm-offline" && siteName !== "vite-react") {
    throw new Error(`--site ${siteName}: npm-offline or vite-react`);
  }
  // The Vite site installs from the registry, let through the build firewall as an operator would.
  const registry = process.env.npm_config_registry ?? "https://registry.npmjs.org/";
  const env =
    siteName === "vite-react" ? { SLIPWAY_BUILD_ALLOW_HOSTS: new URL(registry).hostname } : {};
  for (const tool of ["git", "bwrap", "npm"]) {
    if (!findExecutable(tool)) {
      console.log(`push-to-live-cache skipped: ${tool} not found`);
      return;
    }
  }
  const cleanup = new Cleanup();
  const root = await mkdtemp(join(tmpdir(), "slipway-bench-cache-"));
  cleanup.defer(`remove ${root}`, () => rm(root, { recursive: true, force: true }));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  cleanup.defer("close the HTTP agent", () => agent.destroy());
  try {
    const slipway = await startSlipwayChild({
      command: "start",
      dir: join(root, "slipway"),
      pin: [],
      cleanup,
      logLevel: "info",
      env,
    });
    if (!slipway.forge) throw new Error("slipway start gave no forge");
    const files = await fixtureFiles(siteName);
    const site = await linkForgeSite({
      platform: slipway,
      forge: slipway.forge,
      dir: join(root, "work"),
      siteName: "cachebench",
      files,
      cmd: "npm run build",
      publishDir: "dist",
      // Builds are started through the API, so that a cold round can ask for clear_cache.
      webhook: false,
    });
    const bare = join(root, "baseline.git");
    await execChecked("git", ["init", "-q", "--bare", "--initial-branch=main", bare]);
    await site.repo.pushTo(bare);

    const samples = { cold: [] as Sample[], lockfile: [] as Sample[], cached: [] as Sample[] };
    const baseline: { cloneMs: number; ciMs: number; buildMs: number }[] = [];
    const kinds = ["cold", "lockfile", "cached"] as const;
    for (let round = 0; round < 3 * rounds + 1; round++) {
      const kind = round === 0 ? "warm-up" : kinds[(round - 1) % 3]!;
      const marker = `round-${round}-${Date.now()}`;
      // What changes the served page without touching dependencies.
      const changes = new Map<string, string>(
        siteName === "vite-react"
          ? [
              [
                "index.html",
                files.get("index.html")!.toString("utf8").replace("</title>", ` ${marker}</title>`),
              ],
            ]
          : [["content.txt", `<p>${marker}</p>\n`]],
      );
      if (kind === "lockfile" || kind === "warm-up") {
        const version = `1.0.${round + 1}`;
        for (const name of ["package.json", "package-lock.json"]) {
          changes.set(name, withVersion(files.get(name)!.toString("utf8"), version));
        }
      }
      await site.repo.commit(changes, `bench ${kind} ${round}`);
      const sha = (await site.repo.git(["rev-parse", "HEAD"])).trim();
      await site.repo.push();
      const pushed = performance.now();
      const started = await platformApi<BuildBody>(
        slipway,
        "POST",
        `/sites/${site.siteId}/builds`,
        site.tenantToken,
        kind === "cold" ? { clear_cache: true } : undefined,
      );
      await waitServed(slipway, site.host, marker, agent);
      const liveMs = performance.now() - pushed;
      const build = await findBuild(slipway, site.tenantToken, site.siteId, sha);
      if (build.id !== started.id) throw new Error(`build ${build.id} is not ${started.id}`);
      const log = await platformApi<LogLine[]>(
        slipway,
        "GET",
        `/builds/${build.id}/log`,
        site.tenantToken,
      );
      const sample = { liveMs, ...fromLog(log) };

      // The same commit by hand, outside the sandbox.
      await site.repo.pushTo(bare);
      const clone = join(root, `clone-${round}`);
      const cloned = await execChecked("git", ["clone", "-q", "--end-of-options", bare, clone], {
        env: site.repo.gitEnv(),
      });
      const ci = await execChecked("npm", ["ci", "--no-audit", "--no-fund"], { cwd: clone });
      const built = await execChecked("npm", ["run", "build"], { cwd: clone });
      await rm(clone, { recursive: true, force: true });
      console.log(
        `${kind}: push→live ${ms(liveMs)} (restore ${ms(sample.restoreMs)}, install ${ms(sample.installMs)}, command ${ms(sample.cmdMs)}, save ${ms(sample.saveMs)}; ${sample.restoreLine}) | by hand: clone ${ms(cloned.ms)}, npm ci ${ms(ci.ms)}, npm run build ${ms(built.ms)}`,
      );
      if (kind !== "warm-up") samples[kind].push(sample);
      if (kind !== "warm-up") baseline.push({ cloneMs: cloned.ms, ciMs: ci.ms, buildMs: built.ms });
      await sleep(200);
    }

    const col = <T>(list: T[], pick: (s: T) => number) => summarize(list.map(pick));
    console.log(`\nms, median (min–max), ${rounds} rounds each:\n`);
    console.log(
      renderTable(
        ["measure", "ms"],
        [
          ["cold (clear_cache): push → live", formatSummary(col(samples.cold, (s) => s.liveMs))],
          ["  install (log)", formatSummary(col(samples.cold, (s) => s.installMs))],
          ["  cache save (log)", formatSummary(col(samples.cold, (s) => s.saveMs))],
          [
            "lockfile changed (store restored): push → live",
            formatSummary(col(samples.lockfile, (s) => s.liveMs)),
          ],
          ["  install (log)", formatSummary(col(samples.lockfile, (s) => s.installMs))],
          ["cached: push → live", formatSummary(col(samples.cached, (s) => s.liveMs))],
          ["  cache restore (log)", formatSummary(col(samples.cached, (s) => s.restoreMs))],
          [
            "  build command in the sandbox (log)",
            formatSummary(col(samples.cached, (s) => s.cmdMs)),
          ],
          ["  cache save (log)", formatSummary(col(samples.cached, (s) => s.saveMs))],
          ["by hand: git clone", formatSummary(col(baseline, (b) => b.cloneMs))],
          ["by hand: npm ci", formatSummary(col(baseline, (b) => b.ciMs))],
          [
            "by hand: npm run build (the bare build)",
            formatSummary(col(baseline, (b) => b.buildMs)),
          ],
        ],
      ),
    );
    const coldMs = col(samples.cold, (s) => s.liveMs)?.median;
    const cachedMs = col(samples.cached, (s) => s.liveMs)?.median;
    const bareMs = col(baseline, (b) => b.buildMs)?.median;
    if (coldMs !== undefined && cachedMs !== undefined && bareMs !== undefined) {
      const budget = 1.2 * bareMs + 500;
      console.log(
        `\ncached push→live ${ms(cachedMs)} vs 1.2 × bare build + 0.5 s = ${ms(budget)}: ${(cachedMs / budget).toFixed(2)}× the budget (${cachedMs <= budget ? "PASS" : "FAIL"})`,
      );
      console.log(
        `cold ${ms(coldMs)} / cached ${ms(cachedMs)} = ${(coldMs / cachedMs).toFixed(2)}× (goal ≥ 3×: ${coldMs / cachedMs >= 3 ? "PASS" : "FAIL"})`,
      );
    }
  } finally {
    await cleanup.run();
  }
}

/** The fixture's package.json or lockfile with another version of the site itself. */
function withVersion(text: string, version: string): string {
  const json = JSON.parse(text) as {
    version: string;
    packages?: Record<string, { version?: string }>;
  };
  json.version = version;
  if (json.packages?.[""] !== undefined) json.packages[""].version = version;
  return `${JSON.stringify(json, null, 2)}\n`;
}

function fromLog(log: readonly LogLine[]): Omit<Sample, "liveMs"> {
  const t = (re: RegExp): number => Date.parse(log.find((l) => re.test(l.message))?.time ?? "");
  const installStart = t(/^Installing dependencies: /);
  const installEnd = t(/^\(dependencies installed in/);
  return {
    installMs: Number.isNaN(installStart) ? 0 : installEnd - installStart,
    cmdMs: t(/^\(build\.command completed/) - t(/^\$ npm run build/),
    restoreLine: log
      .filter((l) => l.message.startsWith("Build cache:"))
      .map((l) => l.message.slice("Build cache: ".length))
      .join(" / "),
    // Each restore line says how long it took ("… (8.2 MiB in 0.19s).").
    restoreMs: log
      .filter((l) => l.message.startsWith("Build cache: restored"))
      .reduce((sum, l) => sum + 1000 * Number(/ in (\d+\.\d+)s\)/.exec(l.message)?.[1] ?? 0), 0),
    saveMs:
      Date.parse(log.find((l) => l.section === "deploying")?.time ?? "") -
      t(/^\(build\.command completed/),
  };
}

function ms(value: number): string {
  return `${Math.round(value)} ms`;
}

async function waitServed(
  platform: SlipwayChild,
  host: string,
  marker: string,
  agent: Agent,
): Promise<void> {
  const deadline = performance.now() + 120_000;
  for (;;) {
    // A keep-alive socket the server closed while the baseline ran is reset: ask again.
    const body = await get(platform.port, host, agent).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNRESET") return "";
      throw error;
    });
    if (body.includes(marker)) return;
    if (!platform.daemon.running) throw new Error(platform.daemon.describeExit());
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${marker}`);
    await sleep(5);
  }
}

function get(port: number, host: string, agent: Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/index.html", agent, headers: { host: `${host}:${port}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        res.on("error", reject);
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error(`GET ${host} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

async function findBuild(
  platform: SlipwayChild,
  token: string,
  siteId: string,
  sha: string,
): Promise<BuildBody> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const builds = await platformApi<BuildBody[]>(
      platform,
      "GET",
      `/sites/${siteId}/builds`,
      token,
    );
    const build = builds.find((b) => b.sha === sha && b.done);
    if (build) return build;
    await sleep(50);
  }
  throw new Error(`no finished build of ${sha}`);
}
