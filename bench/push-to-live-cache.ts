/**
 * Push-to-live with the build cache: `slipway start`, the offline npm fixture
 * (test/fixtures/sites/npm-offline: a lockfile, a dependency tarball, a postinstall and
 * `npm run build`) linked with the forge's webhook. Rounds alternate:
 *
 * - cold: a push that changes the lockfile, so the platform installs (`npm ci`, from the
 *   restored package store, as on Netlify after a dependency change);
 * - cached: a push that changes only content, so node_modules is restored and the install
 *   skipped;
 *
 * and, as the baseline in the same rounds, the same commit by hand outside the sandbox: a fresh
 * `git clone`, `npm ci`, `npm run build`. Goal (issue 15): cached push→live ≤ 1.2 × the bare
 * `npm run build` + 0.5 s of platform overhead, and cached ≥ 3× faster than cold.
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
  ],
  run: runCacheBench,
};

/** The fixture's files, as the bench's working copy takes them. */
async function fixtureFiles(): Promise<Map<string, Buffer>> {
  const files = await fixtureSiteFiles("npm-offline");
  return new Map(Object.entries(files).map(([path, bytes]) => [path, Buffer.from(bytes)]));
}

interface Sample {
  liveMs: number;
  installMs: number;
  cmdMs: number;
  restoreLine: string;
  /** First cache line → the install or the command starts (plan, key, restores). */
  restoreMs: number;
  /** The command ended → the deploying section starts (saving the cache). */
  saveMs: number;
}

async function runCacheBench(options: BenchOptions): Promise<void> {
  const rounds = options.int("rounds", "BENCH_ROUNDS", 3);
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
    });
    if (!slipway.forge) throw new Error("slipway start gave no forge");
    const files = await fixtureFiles();
    const site = await linkForgeSite({
      platform: slipway,
      forge: slipway.forge,
      dir: join(root, "work"),
      siteName: "cachebench",
      files,
      cmd: "npm run build",
      publishDir: "dist",
      webhook: true,
    });
    const bare = join(root, "baseline.git");
    await execChecked("git", ["init", "-q", "--bare", "--initial-branch=main", bare]);
    await site.repo.pushTo(bare);

    const cold: Sample[] = [];
    const cached: Sample[] = [];
    const baseline: { cloneMs: number; ciMs: number; buildMs: number }[] = [];
    for (let round = 0; round < 2 * rounds + 1; round++) {
      const kind = round === 0 ? "warm-up" : round % 2 === 1 ? "cold" : "cached";
      const marker = `round-${round}-${Date.now()}`;
      const changes = new Map<string, string>([["content.txt", `<p>${marker}</p>\n`]]);
      if (kind !== "cached") {
        const version = `1.0.${round + 1}`;
        for (const name of ["package.json", "package-lock.json"]) {
          changes.set(name, withVersion(files.get(name)!.toString("utf8"), version));
        }
      }
      await site.repo.commit(changes, `bench ${kind} ${round}`);
      const sha = (await site.repo.git(["rev-parse", "HEAD"])).trim();
      await site.repo.push();
      const pushed = performance.now();
      await waitServed(slipway, site.host, marker, agent);
      const liveMs = performance.now() - pushed;
      const build = await findBuild(slipway, site.tenantToken, site.siteId, sha);
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
      if (kind === "cold") cold.push(sample);
      if (kind === "cached") cached.push(sample);
      if (kind !== "warm-up") baseline.push({ cloneMs: cloned.ms, ciMs: ci.ms, buildMs: built.ms });
      await sleep(200);
    }

    const col = <T>(list: T[], pick: (s: T) => number) => summarize(list.map(pick));
    console.log(`\nms, median (min–max), ${rounds} rounds each:\n`);
    console.log(
      renderTable(
        ["measure", "ms"],
        [
          ["cold (lockfile changed): push → live", formatSummary(col(cold, (s) => s.liveMs))],
          ["  install in the sandbox (log)", formatSummary(col(cold, (s) => s.installMs))],
          ["cached: push → live", formatSummary(col(cached, (s) => s.liveMs))],
          ["  cache restore (log)", formatSummary(col(cached, (s) => s.restoreMs))],
          ["  build command in the sandbox (log)", formatSummary(col(cached, (s) => s.cmdMs))],
          ["  cache save (log)", formatSummary(col(cached, (s) => s.saveMs))],
          ["by hand: git clone", formatSummary(col(baseline, (b) => b.cloneMs))],
          ["by hand: npm ci", formatSummary(col(baseline, (b) => b.ciMs))],
          [
            "by hand: npm run build (the bare build)",
            formatSummary(col(baseline, (b) => b.buildMs)),
          ],
        ],
      ),
    );
    const coldMs = col(cold, (s) => s.liveMs)?.median;
    const cachedMs = col(cached, (s) => s.liveMs)?.median;
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
  return text.replace(/("name": "npm-offline-fixture",\n\s*"version": )"[^"]*"/g, `$1"${version}"`);
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
    restoreMs: t(/^\$ npm run build|^Installing dependencies: /) - t(/^Build cache: /),
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
    const body = await get(platform.port, host, agent);
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
