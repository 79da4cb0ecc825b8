/**
 * Webhook intake (issue 13): signed GitLab push deliveries per second that the platform accepts
 * durably (each is recorded, and its build enqueued, before it is answered), with p50/p99,
 * with duplicates mixed in: redeliveries (same delivery id) and the same commit under a new id.
 * The platform is the real `slipway platform` process on CPU 1, with one build worker held by
 * a `sleep` build, so that the builds it enqueues wait instead of running. The load generator
 * (`lib/webhook-load.ts`, keep-alive, on CPU 0) is also run against a bare node:http server
 * that only reads the body and answers 200: that is the ceiling of the client and the loopback.
 * At the end, the database must hold exactly one build per distinct commit.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { choosePinning, pinned, type Pinning } from "./lib/baselines.ts";
import { startBareServer } from "./lib/bare.ts";
import { Cleanup } from "./lib/cleanup.ts";
import { CpuMeter } from "./lib/cpu.ts";
import { startForgeChild } from "./lib/forge.ts";
import { waitForIdle, WAIT_IDLE_FLAG } from "./lib/idle.ts";
import type { Benchmark, BenchOptions } from "./lib/options.ts";
import { execChecked, findExecutable } from "./lib/proc.ts";
import {
  linkForgeSite,
  platformApi,
  startSlipwayChild,
  type BuildBody,
  type LogLine,
} from "./lib/slipway.ts";
import { formatSummary, renderTable, summarize } from "./lib/stats.ts";
import { DELIVERIES_KEPT_PER_SITE } from "../src/platform/webhooks/deliveries.ts";
import { PRUNE_EVERY } from "../src/platform/webhooks/sqlite-intake.ts";

const TARGET_PER_SECOND = 1_000;
const TARGET_P99_MS = 50;

export const webhookIntake: Benchmark = {
  name: "webhook-intake",
  aliases: ["webhooks"],
  description: "signed GitLab push deliveries/s accepted durably, p50/p99, with duplicates",
  flags: [
    {
      flag: "webhook-deliveries",
      value: "N",
      env: "BENCH_WEBHOOK_DELIVERIES",
      help: "deliveries per round (default 3000)",
    },
    {
      flag: "webhook-concurrency",
      value: "N",
      env: "BENCH_WEBHOOK_CONCURRENCY",
      help: "deliveries in flight (default 16)",
    },
    {
      flag: "webhook-rounds",
      value: "N",
      env: "BENCH_WEBHOOK_ROUNDS",
      help: "rounds per target (default 3)",
    },
    WAIT_IDLE_FLAG,
    {
      flag: "webhook-profile",
      value: "DIR",
      env: "BENCH_WEBHOOK_PROFILE",
      help: "write the platform process's CPU profile (node --cpu-prof) into DIR",
    },
  ],
  run: runWebhookIntake,
};

interface LoadResult {
  sent: number;
  distinctCommits: number;
  distinctDeliveries: number;
  commits: string[];
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
  statuses: Record<string, number>;
  errors: number;
  cpuShare: number;
}

async function runLoad(pin: Pinning, config: Record<string, unknown>): Promise<LoadResult> {
  const { command, args } = pinned(pin.client, process.execPath, [
    "--import",
    "tsx",
    join(import.meta.dirname, "lib", "webhook-load.ts"),
  ]);
  const result = await execChecked(command, args, {
    env: { ...process.env, NODE_ENV: "production", LOAD_CONFIG: JSON.stringify(config) },
    timeoutMs: 300_000,
  });
  return JSON.parse(result.stdout.trim().split("\n").pop() ?? "{}") as LoadResult;
}

/** Waits until the build runs its command (`sleep`): the worker is taken until the end. */
async function waitForSleepingBuild(
  platform: Parameters<typeof platformApi>[0],
  token: string,
  buildId: string,
): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const build = await platformApi<BuildBody>(platform, "GET", `/builds/${buildId}`, token);
    if (build.done) throw new Error(`the holding build ended: ${build.state} ${build.error ?? ""}`);
    const log = await platformApi<LogLine[]>(platform, "GET", `/builds/${buildId}/log`, token);
    if (log.some((line) => line.section === "building")) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error("the holding build did not start its command within 120 s");
}

async function runWebhookIntake(options: BenchOptions): Promise<void> {
  const deliveries = options.int("webhook-deliveries", "BENCH_WEBHOOK_DELIVERIES", 3_000);
  const concurrency = options.int("webhook-concurrency", "BENCH_WEBHOOK_CONCURRENCY", 16);
  const rounds = options.int("webhook-rounds", "BENCH_WEBHOOK_ROUNDS", 3);
  const waitIdle = options.has("wait-idle", "BENCH_WAIT_IDLE")
    ? options.int("wait-idle", "BENCH_WAIT_IDLE", 120)
    : 0;
  const keep = options.has("keep", "BENCH_KEEP");
  const profileDir = options.string("webhook-profile", "BENCH_WEBHOOK_PROFILE", "");
  for (const [tool, pkg] of [
    ["git", "git"],
    ["bwrap", "bubblewrap"],
  ] as const) {
    if (!findExecutable(tool)) {
      console.log(`webhook-intake skipped: ${tool} not found (apt-get install ${pkg})`);
      return;
    }
  }
  const pin = choosePinning({ client: "the load generator" });
  const cleanup = new Cleanup();
  const root = await mkdtemp(join(tmpdir(), "slipway-bench-webhooks-"));
  cleanup.defer(`remove ${root}`, async () => {
    if (keep) console.log(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  });
  try {
    console.log(`pinning: ${pin.note}`);
    const forge = await startForgeChild({
      dir: join(root, "forge"),
      pin: { server: [], client: [] },
      cleanup,
      logLevel: "warn",
    });
    const platform = await startSlipwayChild({
      command: "platform",
      dir: join(root, "platform"),
      pin: pin.server,
      cleanup,
      logLevel: "info",
      env: {
        SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS: `127.0.0.1:${forge.sshPort},127.0.0.1:${forge.httpPort}`,
        SLIPWAY_BUILD_WORKERS: "1",
      },
      nodeArgs: profileDir === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`],
    });
    const site = await linkForgeSite({
      platform,
      forge,
      dir: join(root, "work"),
      siteName: "hooks",
      files: new Map([["src/index.html", "<h1>hooks</h1>\n"]]),
      cmd: "cp -r src dist",
      publishDir: "dist",
      webhook: false,
      firstBuildMayFail: true,
    });
    const linked = await platformApi<{ git_webhook: { url: string; secret: string } | null }>(
      platform,
      "GET",
      `/sites/${site.siteId}`,
      site.tenantToken,
    );
    if (!linked.git_webhook) throw new Error("the linked site has no git webhook");
    // A build of the branch's real head sleeps and holds the only worker (the site's builds run
    // one at a time anyway): every build the deliveries enqueue waits, none runs. (Their random
    // commits cannot be fetched: run, each would fail at its fetch, and the platform's CPU
    // would count a git process per build.)
    await platformApi(platform, "PATCH", `/sites/${site.siteId}`, site.tenantToken, {
      repo: { cmd: "sleep 3600" },
    });
    const holder = await platformApi<BuildBody>(
      platform,
      "POST",
      `/sites/${site.siteId}/builds`,
      site.tenantToken,
    );
    await waitForSleepingBuild(platform, site.tenantToken, holder.id);
    console.log(
      `platform: \`slipway platform\` (NODE_ENV=production, log level info, SQLite), site linked to a forge project; 1 build worker, held by a \`sleep 3600\` build of the branch head`,
    );
    console.log(
      `load: ${deliveries} deliveries per round, ${concurrency} in flight over keep-alive, ~10% redeliveries (same id), ~10% repeated commits (new id), ${rounds} rounds per target, alternating\n`,
    );

    mkdirSync(join(root, "bare-root"));
    const bare = await startBareServer({
      logFile: join(root, "bare.log"),
      root: join(root, "bare-root"),
      pin: pin.server,
      cleanup,
    });
    const meter = CpuMeter.create(`slipway-bench-webhooks-${process.pid}`);
    const groups = new Map<string, ReturnType<CpuMeter["group"]>>();
    if (typeof meter === "string") console.log(`server CPU not measured: ${meter}`);
    else {
      cleanup.defer("remove the CPU cgroups", () => meter.remove());
      for (const [id, pid] of [
        ["platform", platform.daemon.pid],
        ["bare", bare.pid],
      ] as const) {
        if (pid === undefined) continue;
        const group = meter.group(id);
        group.adopt([pid]);
        groups.set(id, group);
      }
    }

    const targets = [
      { id: "platform", url: linked.git_webhook.url, secret: linked.git_webhook.secret },
      { id: "bare", url: `http://127.0.0.1:${bare.port}/webhooks`, secret: "x" },
    ];
    const results = new Map<string, (LoadResult & { cpuUs: number | undefined })[]>();
    const sentCommits = new Set<string>();
    let sentToPlatform = 0;
    for (let round = 0; round < rounds; round++) {
      await waitForIdle(waitIdle);
      for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
        const group = groups.get(target.id);
        const before = group?.usageMs();
        const result = await runLoad(pin, {
          url: target.url,
          secret: target.secret,
          branch: "main",
          deliveries,
          concurrency,
          sameDelivery: 0.1,
          sameCommit: 0.1,
          seed: 0x5eed + round,
        });
        const after = group?.usageMs();
        const cpuUs =
          before !== undefined && after !== undefined
            ? ((after - before) * 1000) / result.sent
            : undefined;
        if (target.id === "platform") {
          for (const commit of result.commits) sentCommits.add(commit);
          sentToPlatform += result.sent;
        }
        const list = results.get(target.id) ?? [];
        list.push({ ...result, cpuUs });
        results.set(target.id, list);
        console.log(
          `round ${round + 1} ${target.id.padEnd(8)} ${Math.round(result.perSecond).toLocaleString("en-US")}/s, p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, max ${result.max.toFixed(0)} ms; answers ${JSON.stringify(result.statuses)}, ${result.errors} errors; ${result.distinctCommits} commits / ${result.distinctDeliveries} delivery ids / ${result.sent} sent; load generator CPU ${Math.round(result.cpuShare * 100)}%${cpuUs === undefined ? "" : `, server CPU ${Math.round(cpuUs)} µs/delivery`}`,
        );
      }
    }

    // One live build per distinct commit (plus the first build from linking): a repeated commit
    // coalesces with its queued build. A commit whose build a newer push superseded (it never
    // started) is built again when it is delivered again: that is by design (service.ts).
    const db = new Database(join(root, "platform", "data", "platform", "platform.sqlite3"), {
      readonly: true,
    });
    let verdictBuilds: string;
    try {
      const rows = db
        .prepare(
          `select coalesce(b.sha, d.commit_ref) as commit_id,
                  sum(b.state in ('enqueued', 'building', 'done')) as live, count(*) as n
             from builds b left join deploys d on d.id = b.deploy_id
            where b.site_id = ? and b.id not in (?, ?) group by commit_id`,
        )
        .all(site.siteId, site.firstBuild.id, holder.id) as {
        commit_id: string | null;
        live: number;
        n: number;
      }[];
      const built = new Set(rows.map((r) => r.commit_id));
      const twiceLive = rows.filter((r) => r.live > 1).length;
      const rebuilt = rows.filter((r) => r.n > 1).length;
      const missing = [...sentCommits].filter((c) => !built.has(c)).length;
      const extra = rows.filter(
        (r) => r.commit_id === null || !sentCommits.has(r.commit_id),
      ).length;
      const total = rows.reduce((n, r) => n + r.n, 0);
      const recorded = (
        db
          .prepare("select count(*) as n from webhook_deliveries where site_id = ?")
          .get(site.siteId) as { n: number }
      ).n;
      // The site keeps its newest deliveries only: every answered one up to that many (pruned
      // every PRUNE_EVERY deliveries, so up to PRUNE_EVERY - 1 more meanwhile).
      const kept = Math.min(sentToPlatform, DELIVERIES_KEPT_PER_SITE);
      const keptAtMost = sentToPlatform <= DELIVERIES_KEPT_PER_SITE ? kept : kept + PRUNE_EVERY - 1;
      verdictBuilds =
        `builds: ${total} for ${sentCommits.size} distinct commits: ${twiceLive} commits with two live builds, ` +
        `${missing} commits never built, ${extra} builds of other commits; ${rebuilt} commits built again after ` +
        `a newer push had superseded their queued build (by design); deliveries recorded: ${recorded} ` +
        `(the newest ${kept}${keptAtMost > kept ? `–${keptAtMost}` : ""} of ${sentToPlatform} answered are kept) → ` +
        (twiceLive === 0 &&
        missing === 0 &&
        extra === 0 &&
        recorded >= kept &&
        recorded <= keptAtMost
          ? "PASS"
          : "FAIL");
    } finally {
      db.close();
    }

    const rowsOut: string[][] = [];
    for (const target of targets) {
      const list = results.get(target.id) ?? [];
      const rate = summarize(list.map((r) => r.perSecond));
      const p50 = summarize(list.map((r) => r.p50));
      const p99 = summarize(list.map((r) => r.p99));
      const cpu = summarize(list.flatMap((r) => (r.cpuUs === undefined ? [] : [r.cpuUs])));
      const client = summarize(list.map((r) => r.cpuShare * 100));
      rowsOut.push([
        target.id === "platform" ? "slipway platform" : "bare node:http (reads, answers 200)",
        formatSummary(rate),
        p50 ? p50.median.toFixed(1) : "n/a",
        p99 ? p99.median.toFixed(1) : "n/a",
        cpu ? formatSummary(cpu) : "n/a",
        client ? `${Math.round(client.median)}%` : "n/a",
      ]);
    }
    console.log(`\ndeliveries/s, median (min–max) of ${rounds}; latency medians:\n`);
    console.log(
      renderTable(
        ["target", "deliveries/s", "p50 ms", "p99 ms", "server CPU µs/delivery", "client CPU"],
        rowsOut,
      ),
    );
    const platformList = results.get("platform") ?? [];
    const rate = summarize(platformList.map((r) => r.perSecond))?.median ?? 0;
    const p99 = summarize(platformList.map((r) => r.p99))?.median ?? Infinity;
    console.log(
      `\ntarget: ≥ ${TARGET_PER_SECOND}/s with p99 < ${TARGET_P99_MS} ms — ${Math.round(rate)}/s, p99 ${p99.toFixed(1)} ms: ${rate >= TARGET_PER_SECOND && p99 < TARGET_P99_MS ? "PASS" : "FAIL"}`,
    );
    console.log(verdictBuilds);
  } finally {
    await cleanup.run();
  }
}
