/**
 * Edge throughput against nginx (perf-anchors §1) and a bare `node:http` server answering the
 * same bytes from memory (the runtime's ceiling): a 1 KiB and a 50 KiB file, `wrk -t1 -c50`
 * with keep-alive pinned to CPU 0, each server pinned to CPU 1, several rounds with the order
 * rotated every round, medians. Throughput runs without `--latency` (recording every latency
 * costs wrk enough to make it the bottleneck); latency percentiles come from a separate run.
 * The edge is the real platform process (`node bin/slipway.js platform`, NODE_ENV=production,
 * no NODE_EXTRA_CA_CERTS) serving a site that was linked to a forge project and built by the
 * platform (forge: a separate `slipway forge` child, idle while measuring). nginx (one worker,
 * the anchors' config) serves the same bytes from a directory.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { choosePinning, pinned, type Pinning } from "./lib/baselines.ts";
import { Cleanup } from "./lib/cleanup.ts";
import { CpuMeter, type CpuGroup } from "./lib/cpu.ts";
import { startForgeChild } from "./lib/forge.ts";
import type { Benchmark, BenchOptions } from "./lib/options.ts";
import { Prng } from "./lib/prng.ts";
import { Daemon, exec, findExecutable, freePort, waitForPort } from "./lib/proc.ts";
import { linkForgeSite, startSlipwayChild } from "./lib/slipway.ts";
import { formatRatio, formatSummary, ratio, renderTable, summarize } from "./lib/stats.ts";
import { startBareServer } from "./lib/bare.ts";
import { waitForIdle, WAIT_IDLE_FLAG } from "./lib/idle.ts";
import { pinnedCpu, runWrk } from "./lib/wrk.ts";

const TARGET_RATIO = 0.8;
const TARGET_BARE_RATIO = 0.9;

export const edge: Benchmark = {
  name: "edge",
  aliases: ["edge-throughput"],
  description: "edge req/s on 1 KiB and 50 KiB files against nginx and bare node:http (wrk)",
  flags: [
    {
      flag: "edge-rounds",
      value: "N",
      env: "BENCH_EDGE_ROUNDS",
      help: "rounds of wrk per server and file (default 3)",
    },
    {
      flag: "duration",
      value: "SECONDS",
      env: "BENCH_EDGE_DURATION",
      help: "wrk -d per run (default 10)",
    },
    {
      flag: "warmup",
      value: "SECONDS",
      env: "BENCH_EDGE_WARMUP",
      help: "unmeasured wrk run before each measured one (default 2)",
    },
    {
      flag: "latency-duration",
      value: "SECONDS",
      env: "BENCH_EDGE_LATENCY_DURATION",
      help: "wrk --latency run (apart from the throughput run) per server and file (default 5)",
    },
    WAIT_IDLE_FLAG,
    {
      flag: "edge-profile",
      value: "DIR",
      env: "BENCH_EDGE_PROFILE",
      help: "write the platform process's CPU profile (node --cpu-prof) into DIR",
    },
  ],
  run: runEdge,
};

const FILES = [
  { path: "/index.html", label: "1 KiB html", size: 1024 },
  { path: "/app.js", label: "50 KiB js", size: 51_200 },
] as const;

interface Server {
  id: "nginx" | "bare" | "edge";
  label: string;
  port: number;
  host: string;
  samples: Map<string, number[]>;
  p50: Map<string, number[]>;
  p99: Map<string, number[]>;
  /** How busy wrk's CPU was during the throughput runs (0–1). */
  clientBusy: Map<string, number[]>;
  /** Server CPU µs per request (cgroup accounting; robust to other load on the machine). */
  cpuUs: Map<string, number[]>;
  cpu: CpuGroup | undefined;
}

async function runEdge(options: BenchOptions): Promise<void> {
  const rounds = options.int("edge-rounds", "BENCH_EDGE_ROUNDS", 3);
  const duration = options.int("duration", "BENCH_EDGE_DURATION", 10);
  const warmup = options.int("warmup", "BENCH_EDGE_WARMUP", 2);
  const latencyDuration = options.int("latency-duration", "BENCH_EDGE_LATENCY_DURATION", 5);
  const waitIdle = options.has("wait-idle", "BENCH_WAIT_IDLE")
    ? options.int("wait-idle", "BENCH_WAIT_IDLE", 120)
    : 0;
  const keep = options.has("keep", "BENCH_KEEP");
  const profileDir = options.string("edge-profile", "BENCH_EDGE_PROFILE", "");
  for (const [tool, pkg] of [
    ["wrk", "wrk"],
    ["nginx", "nginx-light"],
    ["git", "git"],
    ["bwrap", "bubblewrap"],
  ] as const) {
    if (!findExecutable(tool)) {
      console.log(`edge skipped: ${tool} not found (apt-get install ${pkg})`);
      return;
    }
  }
  const pin = choosePinning({ client: "wrk" });
  const cleanup = new Cleanup();
  const root = await mkdtemp(join(tmpdir(), "slipway-bench-edge-"));
  cleanup.defer(`remove ${root}`, async () => {
    if (keep) console.log(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  });
  try {
    console.log(`pinning: ${pin.note}`);
    console.log(
      `edge: \`node bin/slipway.js platform\` (NODE_ENV=production, no NODE_EXTRA_CA_CERTS), site linked to a forge project and built by the platform (deploy key, POST /sites, sandboxed build); forge: \`slipway forge\` child, idle during the runs`,
    );
    console.log(
      `load: wrk -t1 -c50 -d${duration}s (keep-alive) for req/s, then wrk -t1 -c50 -d${latencyDuration}s --latency for percentiles; ${warmup}s warm-up before each, ${rounds} rounds, order rotated per round\n`,
    );

    // The files, the same bytes for both servers.
    const prng = new Prng(0xed9e);
    const src = new Map<string, Buffer>();
    src.set("src/index.html", prng.text(1024));
    src.set("src/app.js", prng.text(51_200));

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
      },
      nodeArgs: profileDir === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`],
    });
    const site = await linkForgeSite({
      platform,
      forge,
      dir: join(root, "work"),
      siteName: "edgebench",
      files: src,
      cmd: "cp -r src dist",
      publishDir: "dist",
      webhook: false,
    });
    console.log(`site ${site.siteName} built and published (build ${site.firstBuild.id})`);

    // nginx's worker runs as nobody: its copy of the files must be world-readable.
    chmodSync(root, 0o755);
    const nginxRoot = join(root, "nginx-site");
    mkdirSync(nginxRoot, { mode: 0o755 });
    for (const [path, data] of src)
      writeFileSync(join(nginxRoot, basename(path)), data, { mode: 0o644 });
    const nginxServer = await startNginx(join(root, "nginx"), nginxRoot, pin, cleanup);
    const nginxPort = nginxServer.port;

    const bare = await startBareServer({
      logFile: join(root, "bare.log"),
      root: nginxRoot,
      pin: pin.server,
      cleanup,
    });

    const servers: Server[] = [
      newServer("nginx", "nginx 1 worker", nginxPort, "site.local"),
      newServer("bare", "bare node:http (memory)", bare.port, "site.local"),
      newServer("edge", "slipway edge (platform process)", platform.port, site.host),
    ];
    // Server CPU per request from a cgroup per server (as the git benchmark measures it).
    const meter = CpuMeter.create(`slipway-bench-edge-${process.pid}`);
    if (typeof meter === "string") console.log(`server CPU not measured: ${meter}`);
    else {
      cleanup.defer("remove the CPU cgroups", () => meter.remove());
      const pids = { nginx: nginxServer.pid, bare: bare.pid, edge: platform.daemon.pid };
      for (const s of servers) {
        const pid = pids[s.id];
        if (pid === undefined) continue;
        s.cpu = meter.group(s.id);
        s.cpu.adopt([pid]);
      }
    }
    // Both must answer 200 with the same bytes.
    for (const s of servers) {
      for (const f of FILES) {
        const body = await get(s.port, s.host, f.path);
        const expected = readFileSync(join(nginxRoot, f.path));
        if (body.status !== 200 || !body.data.equals(expected)) {
          throw new Error(`${s.label} ${f.path}: status ${body.status}, ${body.data.length} bytes`);
        }
      }
    }

    const clientCpu = pinnedCpu(pin.client);
    for (let round = 0; round < rounds; round++) {
      await waitForIdle(waitIdle);
      const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
      for (const f of FILES) {
        for (const s of order) {
          const url = `http://127.0.0.1:${s.port}${f.path}`;
          const headers = [`Host: ${s.host}`];
          await runWrk(pin, { url, headers, seconds: warmup });
          const cpuBefore = s.cpu?.usageMs();
          const result = await runWrk(pin, { url, headers, seconds: duration });
          const cpuUs =
            s.cpu && cpuBefore !== undefined && result.requests > 0
              ? ((s.cpu.usageMs() - cpuBefore) * 1000) / result.requests
              : undefined;
          const latency = await runWrk(pin, {
            url,
            headers,
            seconds: latencyDuration,
            latency: true,
          });
          const busy = clientCpu === undefined ? undefined : result.cpuBusy[clientCpu];
          if (cpuUs !== undefined) s.cpuUs.get(f.path)?.push(cpuUs);
          if (busy !== undefined) s.clientBusy.get(f.path)?.push(busy);
          s.samples.get(f.path)?.push(result.rps);
          if (latency.p50Ms !== undefined) s.p50.get(f.path)?.push(latency.p50Ms);
          if (latency.p99Ms !== undefined) s.p99.get(f.path)?.push(latency.p99Ms);
          console.log(
            `round ${round + 1} ${f.label.padEnd(11)} ${s.id.padEnd(5)} ${Math.round(result.rps).toLocaleString("en-US").padStart(7)} req/s${cpuUs === undefined ? "" : `  server CPU ${cpuUs.toFixed(1)} µs/req`}${busy === undefined ? "" : `  wrk's CPU ${Math.round(busy * 100)}% busy`}  | --latency run ${Math.round(latency.rps).toLocaleString("en-US")} req/s, p50 ${latency.p50Ms?.toFixed(2)} ms, p99 ${latency.p99Ms?.toFixed(2)} ms`,
          );
          await sleep(200);
        }
      }
    }

    console.log(`\nreq/s (runs without --latency), median (min–max) of ${rounds}:\n`);
    const med = (s: Server, m: "samples" | "p50" | "p99" | "cpuUs" | "clientBusy", f: string) =>
      summarize(s[m].get(f) ?? []);
    const [nginx, bareServer, edgeServer] = servers as [Server, Server, Server];
    const rows: string[][] = [];
    const verdicts: string[] = [];
    for (const f of FILES) {
      const n = med(nginx, "samples", f.path);
      const b = med(bareServer, "samples", f.path);
      const e = med(edgeServer, "samples", f.path);
      rows.push([
        f.label,
        formatSummary(n),
        formatSummary(b),
        formatSummary(e),
        formatRatio(e, n),
        formatRatio(e, b),
      ]);
      const rn = ratio(e, n);
      const rb = ratio(e, b);
      verdicts.push(
        `target: edge ≥ ${TARGET_BARE_RATIO}× bare node:http on ${f.label} — ${rb === undefined ? "n/a" : `${rb.toFixed(2)}×`}: ${rb !== undefined && rb >= TARGET_BARE_RATIO ? "PASS" : "FAIL"}`,
        `target: edge ≥ ${TARGET_RATIO}× nginx on ${f.label} — ${rn === undefined ? "n/a" : `${rn.toFixed(2)}×`}: ${rn !== undefined && rn >= TARGET_RATIO ? "PASS" : "FAIL"}`,
      );
    }
    console.log(
      renderTable(
        ["file", "nginx req/s", "bare node req/s", "edge req/s", "edge ÷ nginx", "edge ÷ bare"],
        rows,
      ),
    );
    console.log(
      `\nper server, medians: server CPU µs per request (its cgroup), wrk's CPU busy during the throughput run, latency from the --latency runs\n`,
    );
    const detail: string[][] = [];
    for (const f of FILES) {
      for (const s of servers) {
        const cpu = med(s, "cpuUs", f.path);
        const busy = med(s, "clientBusy", f.path);
        const p50 = med(s, "p50", f.path);
        const p99 = med(s, "p99", f.path);
        detail.push([
          `${f.label} ${s.id}`,
          cpu ? cpu.median.toFixed(1) : "n/a",
          busy ? `${Math.round(busy.median * 100)}%` : "n/a",
          p50 ? p50.median.toFixed(2) : "n/a",
          p99 ? p99.median.toFixed(2) : "n/a",
        ]);
      }
    }
    console.log(
      renderTable(["file / server", "CPU µs/req", "wrk CPU busy", "p50 ms", "p99 ms"], detail),
    );
    console.log("");
    for (const v of verdicts) console.log(v);
    console.log(
      "(when wrk's CPU is ~100% busy, a server's req/s is the load generator's limit, not its own: compare CPU µs/req then)",
    );
  } finally {
    await cleanup.run();
  }
}

function newServer(id: Server["id"], label: string, port: number, host: string): Server {
  return {
    id,
    label,
    port,
    host,
    samples: new Map(FILES.map((f) => [f.path, []])),
    p50: new Map(FILES.map((f) => [f.path, []])),
    p99: new Map(FILES.map((f) => [f.path, []])),
    clientBusy: new Map(FILES.map((f) => [f.path, []])),
    cpuUs: new Map(FILES.map((f) => [f.path, []])),
    cpu: undefined,
  };
}

/** nginx with the anchors' config: 1 worker, sendfile, no access log, try_files. */
async function startNginx(
  dir: string,
  siteRoot: string,
  pin: Pinning,
  cleanup: Cleanup,
): Promise<{ port: number; pid: number | undefined }> {
  const nginx = findExecutable("nginx");
  if (!nginx) throw new Error("nginx not found (apt-get install nginx-light)");
  for (const sub of ["logs", "temp"]) mkdirSync(join(dir, sub), { recursive: true });
  const port = await freePort();
  const config = join(dir, "nginx.conf");
  const temp = (name: string): string => `    ${name}_temp_path ${join(dir, "temp", name)};`;
  writeFileSync(
    config,
    [
      "daemon off; master_process on; worker_processes 1;",
      `pid ${join(dir, "nginx.pid")}; error_log ${join(dir, "logs", "error.log")} warn;`,
      "events { worker_connections 768; }",
      "http {",
      "    sendfile on; tcp_nopush on; types_hash_max_size 2048;",
      "    include /etc/nginx/mime.types; default_type application/octet-stream;",
      "    access_log off; log_not_found off; gzip off;",
      temp("client_body"),
      temp("proxy"),
      temp("fastcgi"),
      temp("uwsgi"),
      temp("scgi"),
      "    server {",
      `        listen 127.0.0.1:${port}; server_name site.local;`,
      `        root ${siteRoot}; index index.html;`,
      "        location / { try_files $uri $uri/ =404; }",
      "    }",
      "}",
      "",
    ].join("\n"),
  );
  const errorLog = join(dir, "logs", "startup.log");
  const check = await exec(nginx, ["-t", "-q", "-p", dir, "-e", errorLog, "-c", config]);
  if (check.code !== 0) throw new Error(`nginx -t rejected the config: ${check.stderr.trim()}`);
  const ng = pinned(pin.server, nginx, ["-p", dir, "-e", errorLog, "-c", config]);
  const daemon = Daemon.start("nginx", join(dir, "nginx.out"), ng.command, ng.args);
  cleanup.defer("stop nginx", () => daemon.stop());
  await waitForPort(port, { timeoutMs: 10_000, daemon, what: "nginx to listen" });
  return { port, pid: daemon.pid };
}

function get(port: number, host: string, path: string): Promise<{ status: number; data: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, data: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.setTimeout(5_000, () => req.destroy(new Error(`GET ${host}${path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}
