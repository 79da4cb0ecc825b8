/**
 * Push-to-live overhead: `slipway start` (forge + platform in one child process, as deployed),
 * a 200-file site linked with a platform deploy key installed at the forge and the site's git
 * webhook as a forge project hook (the story of test/e2e/webhook-push.test.ts). Each round
 * commits one changed page, times `git push` over HTTP, then polls the edge (Host header, every
 * few ms) until the new page is served. Overhead = (push returned → served) − the build
 * command's own time (from the build log's `$ cmd` and `(build.command completed …)` lines).
 * Baseline in the same rounds: the same commit pushed to a plain bare repository, then
 * `git clone` of it and `cp -r src dist` (what the platform does at minimum after a push).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Cleanup } from "./lib/cleanup.ts";
import type { Benchmark, BenchOptions } from "./lib/options.ts";
import { Prng } from "./lib/prng.ts";
import { execChecked, findExecutable } from "./lib/proc.ts";
import {
  platformApi,
  startSlipwayChild,
  linkForgeSite,
  type BuildBody,
  type LogLine,
  type SlipwayChild,
} from "./lib/slipway.ts";
import { formatSummary, renderTable, summarize, type Summary } from "./lib/stats.ts";

const TARGET_MS = 1_000;

export const pushToLive: Benchmark = {
  name: "push-to-live",
  aliases: ["push", "ptl"],
  description: "git push → new content served (slipway start, forge webhook), minus build time",
  flags: [
    { flag: "pushes", value: "N", env: "BENCH_PUSHES", help: "measured pushes (default 7)" },
    {
      flag: "site-files",
      value: "N",
      env: "BENCH_SITE_FILES",
      help: "files in the pushed site (default 200)",
    },
  ],
  run: runPushToLive,
};

interface Round {
  pushMs: number;
  totalMs: number;
  cmdMs: number;
  overheadMs: number;
  stages: Record<StageId, number>;
  baseline: { pushMs: number; cloneMs: number; cpMs: number };
}

const STAGES = [
  { id: "webhook", label: "push returned → webhook received" },
  { id: "queue", label: "received → build started (queue)" },
  { id: "init", label: "initializing" },
  { id: "fetch", label: "preparing repo (ssh fetch + checkout)" },
  { id: "sandbox", label: "building, besides the command (sandbox)" },
  { id: "cmd", label: "build command (cp -r src dist, from log)" },
  { id: "publish", label: "deploying (hash + store + switch)" },
  { id: "visible", label: "published → served by the edge" },
] as const;
type StageId = (typeof STAGES)[number]["id"];

async function runPushToLive(options: BenchOptions): Promise<void> {
  const pushes = options.int("pushes", "BENCH_PUSHES", 7);
  const siteFiles = options.int("site-files", "BENCH_SITE_FILES", 200);
  const keep = options.has("keep", "BENCH_KEEP");
  for (const [tool, pkg] of [
    ["git", "git"],
    ["bwrap", "bubblewrap"],
    ["cp", "coreutils"],
  ] as const) {
    if (!findExecutable(tool)) {
      console.log(`push-to-live skipped: ${tool} not found (apt-get install ${pkg})`);
      return;
    }
  }
  const cleanup = new Cleanup();
  const root = await mkdtemp(join(tmpdir(), "slipway-bench-ptl-"));
  cleanup.defer(`remove ${root}`, async () => {
    if (keep) console.log(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  cleanup.defer("close the HTTP agent", () => agent.destroy());
  try {
    console.log(
      `setup: slipway start (forge + platform, NODE_ENV=production, no NODE_EXTRA_CA_CERTS, not pinned); ${siteFiles}-file site, build command "cp -r src dist", forge webhook`,
    );
    const slipway = await startSlipwayChild({
      command: "start",
      dir: join(root, "slipway"),
      pin: [],
      cleanup,
      logLevel: "info",
    });
    const forge = slipway.forge;
    if (!forge) throw new Error("slipway start gave no forge");

    const prng = new Prng(0x9e3779b9);
    const files = new Map<string, Buffer | string>();
    files.set("src/index.html", "<h1>initial</h1>\n");
    for (let i = 1; i < siteFiles; i++) {
      files.set(`src/d${i % 10}/page-${i}.html`, prng.text(prng.int(1024, 18 * 1024)));
    }
    const linkStarted = performance.now();
    const site = await linkForgeSite({
      platform: slipway,
      forge,
      dir: join(root, "work"),
      siteName: "pushbench",
      files,
      cmd: "cp -r src dist",
      publishDir: "dist",
      webhook: true,
    });
    console.log(
      `linked and first build live in ${Math.round(performance.now() - linkStarted)} ms (build ${site.firstBuild.id})`,
    );

    const bare = join(root, "baseline.git");
    await execChecked("git", ["init", "-q", "--bare", "--initial-branch=main", bare]);
    await site.repo.pushTo(bare); // warm: the baseline's rounds push one commit each, as the forge's

    const rounds: Round[] = [];
    for (let round = 0; round <= pushes; round++) {
      const warmup = round === 0;
      const marker = `push-${round}-${Date.now()}`;
      await site.repo.commit(
        new Map([["src/index.html", `<h1>${marker}</h1>\n`]]),
        `Bench push ${round}`,
      );
      const sha = (await site.repo.git(["rev-parse", "HEAD"])).trim();
      const pushMs = await site.repo.push();
      const pushedAt = Date.now();
      const pushedPerf = performance.now();
      await waitServed(slipway, site.host, marker, agent, 60_000);
      const totalMs = performance.now() - pushedPerf;
      const liveAt = Date.now();

      const build = await findBuild(slipway, site.tenantToken, site.siteId, sha);
      const log = await platformApi<LogLine[]>(
        slipway,
        "GET",
        `/builds/${build.id}/log`,
        site.tenantToken,
      );
      const deliveries = await platformApi<{ sha: string | null; received_at: string }[]>(
        slipway,
        "GET",
        `/sites/${site.siteId}/webhook_deliveries`,
        site.tenantToken,
      );
      const receivedAt = deliveries.find((d) => d.sha === sha)?.received_at;
      const stages = breakdown(build, log, pushedAt, receivedAt, liveAt);

      // Baseline: the same commit to a plain bare repository, a fresh clone, the copy.
      const basePush = await site.repo.pushTo(bare);
      const cloneDir = join(root, `clone-${round}`);
      const clone = await execChecked("git", ["clone", "-q", "--end-of-options", bare, cloneDir], {
        env: site.repo.gitEnv(),
      });
      const cp = await execChecked("cp", ["-r", "src", "dist"], { cwd: cloneDir });
      if (!warmup) {
        rounds.push({
          pushMs,
          totalMs,
          cmdMs: stages.cmd,
          overheadMs: totalMs - stages.cmd,
          stages,
          baseline: { pushMs: basePush, cloneMs: clone.ms, cpMs: cp.ms },
        });
      }
      console.log(
        `${warmup ? "warm-up" : `push ${round}`}: push ${ms(pushMs)}, push returned → served ${ms(totalMs)}, build command ${ms(stages.cmd)}, overhead ${ms(totalMs - stages.cmd)} | baseline push ${ms(basePush)}, clone ${ms(clone.ms)}, cp -r ${ms(cp.ms)}`,
      );
      await sleep(200);
    }

    const col = (pick: (r: Round) => number): Summary | undefined => summarize(rounds.map(pick));
    console.log(`\nms, median (min–max) of ${rounds.length} pushes:\n`);
    console.log(
      renderTable(
        ["measure", "ms"],
        [
          ["slipway: git push (to the forge, HTTP)", formatSummary(col((r) => r.pushMs))],
          ["slipway: push returned → new content served", formatSummary(col((r) => r.totalMs))],
          ["  build command's own time (build log)", formatSummary(col((r) => r.cmdMs))],
          ["  overhead (served − build command)", formatSummary(col((r) => r.overheadMs))],
          [
            "  (push started → served − build command)",
            formatSummary(col((r) => r.pushMs + r.overheadMs)),
          ],
          ...STAGES.map((s) => [`    ${s.label}`, formatSummary(col((r) => r.stages[s.id]))]),
          [
            "baseline: git push (plain bare repo, file path)",
            formatSummary(col((r) => r.baseline.pushMs)),
          ],
          ["baseline: git clone (fresh dir)", formatSummary(col((r) => r.baseline.cloneMs))],
          ["baseline: cp -r src dist", formatSummary(col((r) => r.baseline.cpMs))],
          [
            "baseline: clone + cp (push returned → output ready)",
            formatSummary(col((r) => r.baseline.cloneMs + r.baseline.cpMs)),
          ],
        ],
      ),
    );
    console.log(
      "\nnote: the forge delivers the webhook while `git push` is still running (negative first stage), so part of the work overlaps the push; the build command's logged time includes starting the sandbox.",
    );
    const overhead = col((r) => r.overheadMs);
    const baseline = col((r) => r.baseline.cloneMs);
    if (overhead && baseline) {
      console.log(
        `\noverhead ${ms(overhead.median)} vs baseline clone ${ms(baseline.median)} (the baseline's overhead beyond its cp): ${(overhead.median / baseline.median).toFixed(1)}×`,
      );
      const pass = overhead.median < TARGET_MS;
      console.log(
        `target: push-to-live overhead < ${TARGET_MS} ms for a ${siteFiles}-file site — median ${ms(overhead.median)}: ${pass ? "PASS" : "FAIL"}`,
      );
    }
  } finally {
    await cleanup.run();
  }
}

function ms(value: number): string {
  return `${Math.round(value)} ms`;
}

/** Polls `GET /index.html` at the site's host until the body has `marker`. */
async function waitServed(
  platform: SlipwayChild,
  host: string,
  marker: string,
  agent: Agent,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const body = await get(platform.port, host, "/index.html", agent);
    if (body.includes(marker)) return;
    if (!platform.daemon.running) throw new Error(platform.daemon.describeExit());
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for "${marker}" at ${host}`);
    }
    await sleep(2);
  }
}

function get(port: number, host: string, path: string, agent: Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, agent, headers: { host: `${host}:${port}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        res.on("error", reject);
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error(`GET ${host}${path} timed out`)));
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
  for (let attempt = 0; attempt < 100; attempt++) {
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

/** Stage durations from the build row, its log's timestamps and the delivery's arrival. */
function breakdown(
  build: BuildBody,
  log: readonly LogLine[],
  pushedAt: number,
  receivedAt: string | undefined,
  liveAt: number,
): Record<StageId, number> {
  const t = (iso: string | null | undefined): number => (iso ? Date.parse(iso) : Number.NaN);
  const first = (section: string): number => t(log.find((l) => l.section === section)?.time);
  const line = (re: RegExp): number => t(log.find((l) => re.test(l.message))?.time);
  const created = t(build.created_at);
  const received = receivedAt === undefined ? created : t(receivedAt);
  const started = t(build.started_at);
  const preparing = first("preparing_repo");
  const building = first("building");
  const deploying = first("deploying");
  const cmdStart = line(/^\$ /);
  const cmdEnd = line(/^\(build\.command completed/);
  const published = line(/^Published deploy/);
  const cmd = cmdEnd - cmdStart;
  return {
    webhook: received - pushedAt,
    queue: started - received,
    init: preparing - started,
    fetch: building - preparing,
    sandbox: deploying - building - cmd,
    cmd,
    publish: published - deploying,
    visible: liveAt - published,
  };
}
