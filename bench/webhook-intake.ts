/**
 * Webhook intake (issue 13): signed GitLab push deliveries per second that the platform accepts
 * durably (each is recorded, and its build enqueued, before it is answered), with p50/p99,
 * with duplicates mixed in: redeliveries (same delivery id) and the same commit under a new id.
 * The platform is the real `slipway platform` process on CPU 1, with one build worker held by
 * a `sleep` build, so that the builds it enqueues wait instead of running. The load generator
 * (`lib/webhook-load.ts`, keep-alive, on CPU 0) is also run against a bare node:http server
 * that only reads the body and answers 200: that is the ceiling of the client and the loopback.
 * At the end, the database must hold exactly one build per distinct commit. The same load runs
 * against a second platform process on PostgreSQL (a throwaway cluster whose server processes
 * are counted in that platform's CPU), alternating with the SQLite one (issue 14).
 */
import Database from "better-sqlite3";
import { mkdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { choosePinning, pinned, type Pinning } from "./lib/baselines.ts";
import { startBareServer } from "./lib/bare.ts";
import { Cleanup } from "./lib/cleanup.ts";
import { CpuMeter, type CpuGroup } from "./lib/cpu.ts";
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
import { formatRatio, formatSummary, renderTable, summarize } from "./lib/stats.ts";
import pg from "pg";
import { DELIVERIES_KEPT_PER_SITE } from "../src/platform/webhooks/deliveries.ts";
import { startTestPostgres } from "../test/helpers/postgres.ts";
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
    {
      flag: "webhook-databases",
      value: "LIST",
      env: "BENCH_WEBHOOK_DATABASES",
      help: "the platforms to load, comma-separated: sqlite, postgres (default both)",
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
  const databases = (["sqlite", "postgres"] as const).filter((database) =>
    options
      .string("webhook-databases", "BENCH_WEBHOOK_DATABASES", "sqlite,postgres")
      .split(",")
      .map((name) => name.trim())
      .includes(database),
  );
  if (databases.length === 0)
    throw new Error("--webhook-databases names neither sqlite nor postgres");
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
    const meter = CpuMeter.create(`slipway-bench-webhooks-${process.pid}`);
    if (typeof meter === "string") console.log(`server CPU not measured: ${meter}`);
    else cleanup.defer("remove the CPU cgroups", () => meter.remove());
    const group = (id: string, pids: (number | undefined)[]): CpuGroup | undefined => {
      if (typeof meter === "string") return undefined;
      const created = meter.group(id);
      created.adopt(pids.filter((pid): pid is number => pid !== undefined));
      return created;
    };
    let postgresUrl = "";
    if (databases.includes("postgres")) {
      const cluster = await startTestPostgres();
      cleanup.defer("stop Postgres", () => cluster.stop());
      // Postgres's server processes: the postmaster forks a backend per connection, each in
      // the postmaster's cgroup, so adopting it counts the database's CPU to its platform.
      postgresUrl = await cluster.createDatabase();
    }
    const platforms: IntakePlatform[] = [];
    for (const database of databases) {
      const cpu = group(
        database === "sqlite" ? "platform" : "platform-pg",
        database === "postgres" ? [await postmasterPid(postgresUrl)] : [],
      );
      platforms.push(
        await startIntakePlatform({
          database,
          root: join(root, database === "sqlite" ? "platform" : "platform-pg"),
          postgresUrl,
          forge,
          pin,
          cleanup,
          cpu,
          profileDir,
        }),
      );
    }
    console.log(
      `platforms: \`slipway platform\` (NODE_ENV=production, log level info) on ${databases.map((d) => (d === "sqlite" ? "SQLite" : "PostgreSQL")).join(" and on ")}, each with a site linked to a forge project; 1 build worker each, held by a \`sleep 3600\` build of the branch head`,
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
    const targets: { id: string; url: string; secret: string; cpu: CpuGroup | undefined }[] = [
      ...platforms.map((p) => ({ id: p.id, url: p.webhookUrl, secret: p.secret, cpu: p.cpu })),
      {
        id: "bare",
        url: `http://127.0.0.1:${bare.port}/webhooks`,
        secret: "x",
        cpu: group("bare", [bare.pid]),
      },
    ];
    const results = new Map<string, (LoadResult & { cpuUs: number | undefined })[]>();
    for (let round = 0; round < rounds; round++) {
      await waitForIdle(waitIdle);
      for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
        const before = target.cpu?.usageMs();
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
        const after = target.cpu?.usageMs();
        const cpuUs =
          before !== undefined && after !== undefined
            ? ((after - before) * 1000) / result.sent
            : undefined;
        const platform = platforms.find((p) => p.id === target.id);
        if (platform) {
          for (const commit of result.commits) platform.sentCommits.add(commit);
          platform.sent += result.sent;
        }
        const list = results.get(target.id) ?? [];
        list.push({ ...result, cpuUs });
        results.set(target.id, list);
        console.log(
          `round ${round + 1} ${target.id.padEnd(11)} ${Math.round(result.perSecond).toLocaleString("en-US")}/s, p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, max ${result.max.toFixed(0)} ms; answers ${JSON.stringify(result.statuses)}, ${result.errors} errors; ${result.distinctCommits} commits / ${result.distinctDeliveries} delivery ids / ${result.sent} sent; load generator CPU ${Math.round(result.cpuShare * 100)}%${cpuUs === undefined ? "" : `, server CPU ${Math.round(cpuUs)} µs/delivery`}`,
        );
      }
    }

    const verdicts: string[] = [];
    for (const platform of platforms)
      verdicts.push(`${platform.id}: ${await verifyBuilds(platform)}`);

    const rowsOut: string[][] = [];
    for (const target of targets) {
      const list = results.get(target.id) ?? [];
      const rate = summarize(list.map((r) => r.perSecond));
      const p50 = summarize(list.map((r) => r.p50));
      const p99 = summarize(list.map((r) => r.p99));
      const cpu = summarize(list.flatMap((r) => (r.cpuUs === undefined ? [] : [r.cpuUs])));
      const client = summarize(list.map((r) => r.cpuShare * 100));
      rowsOut.push([
        target.id === "bare"
          ? "bare node:http (reads, answers 200)"
          : target.id === "platform"
            ? "slipway platform, SQLite"
            : "slipway platform, PostgreSQL (+ its server's CPU)",
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
    const rateOf = (id: string) => summarize((results.get(id) ?? []).map((r) => r.perSecond));
    const p99Of = (id: string) => summarize((results.get(id) ?? []).map((r) => r.p99));
    const rate = rateOf("platform")?.median ?? 0;
    const p99 = p99Of("platform")?.median ?? Infinity;
    console.log(
      `\ntarget: ≥ ${TARGET_PER_SECOND}/s with p99 < ${TARGET_P99_MS} ms (SQLite) — ${Math.round(rate)}/s, p99 ${p99.toFixed(1)} ms: ${rate >= TARGET_PER_SECOND && p99 < TARGET_P99_MS ? "PASS" : "FAIL"}`,
    );
    if (platforms.length === 2)
      console.log(
        `PostgreSQL ÷ SQLite: deliveries/s ${formatRatio(rateOf("platform-pg"), rateOf("platform"))}, p99 ${formatRatio(p99Of("platform-pg"), p99Of("platform"))}`,
      );
    for (const verdict of verdicts) console.log(verdict);
  } finally {
    await cleanup.run();
  }
}

interface IntakePlatform {
  id: "platform" | "platform-pg";
  database: "sqlite" | "postgres";
  dataDir: string;
  postgresUrl: string;
  siteId: string;
  /** The linking build and the holding build: not the deliveries'. */
  ownBuilds: [string, string];
  webhookUrl: string;
  secret: string;
  cpu: CpuGroup | undefined;
  sentCommits: Set<string>;
  sent: number;
}

/** A platform process on one database, its site linked and its one build worker held. */
async function startIntakePlatform(options: {
  database: "sqlite" | "postgres";
  root: string;
  postgresUrl: string;
  forge: Awaited<ReturnType<typeof startForgeChild>>;
  pin: Pinning;
  cleanup: Cleanup;
  cpu: CpuGroup | undefined;
  profileDir: string;
}): Promise<IntakePlatform> {
  const { forge, database } = options;
  const platform = await startSlipwayChild({
    command: "platform",
    dir: options.root,
    pin: options.pin.server,
    cleanup: options.cleanup,
    logLevel: "info",
    env: {
      SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS: `127.0.0.1:${forge.sshPort},127.0.0.1:${forge.httpPort}`,
      SLIPWAY_BUILD_WORKERS: "1",
      ...(database === "postgres" ? { SLIPWAY_DATABASE_URL: options.postgresUrl } : {}),
    },
    nodeArgs:
      options.profileDir === ""
        ? []
        : ["--cpu-prof", `--cpu-prof-dir=${join(options.profileDir, database)}`],
  });
  if (platform.daemon.pid !== undefined) options.cpu?.adopt([platform.daemon.pid]);
  const site = await linkForgeSite({
    platform,
    forge,
    dir: join(options.root, "work"),
    siteName: `hooks-${database}`,
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
  return {
    id: database === "sqlite" ? "platform" : "platform-pg",
    database,
    dataDir: join(options.root, "data", "platform"),
    postgresUrl: options.postgresUrl,
    siteId: site.siteId,
    ownBuilds: [site.firstBuild.id, holder.id],
    webhookUrl: linked.git_webhook.url,
    secret: linked.git_webhook.secret,
    cpu: options.cpu,
    sentCommits: new Set(),
    sent: 0,
  };
}

/** The postmaster of the cluster behind `url`: the parent of a backend. */
async function postmasterPid(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>("select pg_backend_pid() as pid");
    const stat = readFileSync(`/proc/${rows[0]!.pid}/stat`, "utf8");
    // Fields after the command's closing parenthesis: state, ppid, …
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } finally {
    await client.end();
  }
}

/**
 * One live build per distinct commit (plus the linking and holding builds): a repeated commit
 * coalesces with its queued build. A commit whose build a newer push superseded (it never
 * started) is built again when it is delivered again: that is by design (service.ts).
 */
async function verifyBuilds(platform: IntakePlatform): Promise<string> {
  const buildsSql = `select coalesce(b.sha, d.commit_ref) as commit_id,
      sum(case when b.state in ('enqueued', 'building', 'done') then 1 else 0 end) as live,
      count(*) as n
    from builds b left join deploys d on d.id = b.deploy_id
    where b.site_id = $1 and b.id not in ($2, $3) group by commit_id`;
  const deliveriesSql = "select count(*) as n from webhook_deliveries where site_id = $1";
  const params = [platform.siteId, ...platform.ownBuilds];
  type Row = { commit_id: string | null; live: number | string; n: number | string };
  let rows: Row[];
  let recorded: number;
  if (platform.database === "sqlite") {
    const db = new Database(join(platform.dataDir, "platform.sqlite3"), { readonly: true });
    try {
      rows = db.prepare(buildsSql.replace(/\$\d/g, "?")).all(...params) as Row[];
      recorded = (db.prepare(deliveriesSql.replace("$1", "?")).get(platform.siteId) as Row)
        .n as number;
    } finally {
      db.close();
    }
  } else {
    const client = new pg.Client({ connectionString: platform.postgresUrl });
    await client.connect();
    try {
      rows = (await client.query<Row>(buildsSql, params)).rows;
      recorded = Number((await client.query<Row>(deliveriesSql, [platform.siteId])).rows[0]!.n);
    } finally {
      await client.end();
    }
  }
  const built = new Set(rows.map((r) => r.commit_id));
  const twiceLive = rows.filter((r) => Number(r.live) > 1).length;
  const rebuilt = rows.filter((r) => Number(r.n) > 1).length;
  const missing = [...platform.sentCommits].filter((c) => !built.has(c)).length;
  const extra = rows.filter(
    (r) => r.commit_id === null || !platform.sentCommits.has(r.commit_id),
  ).length;
  const total = rows.reduce((n, r) => n + Number(r.n), 0);
  // The site keeps its newest deliveries only: every answered one up to that many (pruned
  // every PRUNE_EVERY deliveries on SQLite, so up to PRUNE_EVERY - 1 more meanwhile).
  const kept = Math.min(platform.sent, DELIVERIES_KEPT_PER_SITE);
  const keptAtMost = platform.sent <= DELIVERIES_KEPT_PER_SITE ? kept : kept + PRUNE_EVERY - 1;
  return (
    `builds: ${total} for ${platform.sentCommits.size} distinct commits: ${twiceLive} commits with two live builds, ` +
    `${missing} commits never built, ${extra} builds of other commits; ${rebuilt} commits built again after ` +
    `a newer push had superseded their queued build (by design); deliveries recorded: ${recorded} ` +
    `(the newest ${kept}${keptAtMost > kept ? `–${keptAtMost}` : ""} of ${platform.sent} answered are kept) → ` +
    (twiceLive === 0 && missing === 0 && extra === 0 && recorded >= kept && recorded <= keptAtMost
      ? "PASS"
      : "FAIL")
  );
}
