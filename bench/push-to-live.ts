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
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Cleanup } from "./lib/cleanup.ts";
import { startLinkedSite } from "./lib/linked-site.ts";
import type { Benchmark, BenchOptions } from "./lib/options.ts";
import { Prng } from "./lib/prng.ts";
import { execChecked, findExecutable } from "./lib/proc.ts";
import { platformApi, type BuildBody, type LogLine } from "./lib/slipway.ts";
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
  try {
    console.log(
      `setup: slipway start (forge + platform, NODE_ENV=production, no NODE_EXTRA_CA_CERTS, not pinned); ${siteFiles}-file site, build command "cp -r src dist", forge webhook`,
    );
    const prng = new Prng(0x9e3779b9);
    const files = new Map<string, Buffer | string>();
    files.set("src/index.html", "<h1>initial</h1>\n");
    for (let i = 1; i < siteFiles; i++) {
      files.set(`src/d${i % 10}/page-${i}.html`, prng.text(prng.int(1024, 18 * 1024)));
    }
    const linkStarted = performance.now();
    // The baseline's repository holds the first commit too: its rounds push one commit each.
    const bench = await startLinkedSite({
      cleanup,
      prefix: "ptl",
      siteName: "pushbench",
      files,
      cmd: "cp -r src dist",
      publishDir: "dist",
      webhook: true,
      keep,
    });
    const { slipway, site, root, baselineRepo: bare } = bench;
    console.log(
      `linked and first build live in ${Math.round(performance.now() - linkStarted)} ms (build ${site.firstBuild.id})`,
    );

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
      await bench.waitServed(marker, 60_000);
      const totalMs = performance.now() - pushedPerf;
      const liveAt = Date.now();

      const build = await bench.findBuild(sha);
      const log = await bench.buildLog(build.id);
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
