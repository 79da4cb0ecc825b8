/**
 * Edge throughput against nginx (perf-anchors §1): a 1 KiB and a 50 KiB file, `wrk -t1 -c50`
 * with keep-alive pinned to CPU 0, each server pinned to CPU 1, several rounds with the order
 * rotated every round, medians. The edge is the real platform process (`node bin/slipway.js
 * platform`, NODE_ENV=production, no NODE_EXTRA_CA_CERTS) serving a site that was linked to a
 * forge project and built by the platform (forge: a separate `slipway forge` child, idle while
 * measuring). nginx (one worker, the anchors' config) serves the same bytes from a directory.
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
import { formatSummary, renderTable, summarize } from "./lib/stats.ts";

const TARGET_RATIO = 0.8;

export const edge: Benchmark = {
  name: "edge",
  aliases: ["edge-throughput"],
  description: "edge req/s on 1 KiB and 50 KiB files against nginx (wrk, pinned cores)",
  flags: [
    {
      flag: "edge-rounds",
      value: "N",
      env: "BENCH_EDGE_ROUNDS",
      help: "rounds of wrk per server and file (default 5)",
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
  ],
  run: runEdge,
};

const FILES = [
  { path: "/index.html", label: "1 KiB html", size: 1024 },
  { path: "/app.js", label: "50 KiB js", size: 51_200 },
] as const;

interface Server {
  id: "nginx" | "edge";
  label: string;
  port: number;
  host: string;
  samples: Map<string, number[]>;
  p99: Map<string, number[]>;
  /** Server CPU µs per request (cgroup accounting; robust to other load on the machine). */
  cpuUs: Map<string, number[]>;
  cpu: CpuGroup | undefined;
}

async function runEdge(options: BenchOptions): Promise<void> {
  const rounds = options.int("edge-rounds", "BENCH_EDGE_ROUNDS", 5);
  const duration = options.int("duration", "BENCH_EDGE_DURATION", 10);
  const warmup = options.int("warmup", "BENCH_EDGE_WARMUP", 2);
  const keep = options.has("keep", "BENCH_KEEP");
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
      `load: wrk -t1 -c50 -d${duration}s --latency (keep-alive), ${warmup}s warm-up before each run, ${rounds} rounds, order rotated per round\n`,
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

    const servers: Server[] = [
      newServer("nginx", "nginx 1 worker", nginxPort, "site.local"),
      newServer("edge", "slipway edge (platform process)", platform.port, site.host),
    ];
    // Server CPU per request from a cgroup per server (as the git benchmark measures it).
    const meter = CpuMeter.create(`slipway-bench-edge-${process.pid}`);
    if (typeof meter === "string") console.log(`server CPU not measured: ${meter}`);
    else {
      cleanup.defer("remove the CPU cgroups", () => meter.remove());
      const [ng, ed] = servers;
      if (ng && nginxServer.pid !== undefined) {
        ng.cpu = meter.group("nginx");
        ng.cpu.adopt([nginxServer.pid]);
      }
      if (ed && platform.daemon.pid !== undefined) {
        ed.cpu = meter.group("edge");
        ed.cpu.adopt([platform.daemon.pid]);
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

    for (let round = 0; round < rounds; round++) {
      const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
      for (const f of FILES) {
        for (const s of order) {
          await wrk(pin, s, f.path, warmup);
          const cpuBefore = s.cpu?.usageMs();
          const result = await wrk(pin, s, f.path, duration);
          const cpuUs =
            s.cpu && cpuBefore !== undefined && result.requests > 0
              ? ((s.cpu.usageMs() - cpuBefore) * 1000) / result.requests
              : undefined;
          if (cpuUs !== undefined) s.cpuUs.get(f.path)?.push(cpuUs);
          s.samples.get(f.path)?.push(result.rps);
          s.p99.get(f.path)?.push(result.p99Ms);
          console.log(
            `round ${round + 1} ${f.label.padEnd(11)} ${s.id.padEnd(5)} ${Math.round(result.rps).toLocaleString("en-US").padStart(7)} req/s  p99 ${result.p99Ms.toFixed(2)} ms${cpuUs === undefined ? "" : `  server CPU ${cpuUs.toFixed(1)} µs/req`}`,
          );
          await sleep(200);
        }
      }
    }

    console.log(`\nreq/s, median (min–max) of ${rounds}; p99 latency median:\n`);
    const rows: string[][] = [];
    const verdicts: string[] = [];
    for (const f of FILES) {
      const [nginx, edgeServer] = servers;
      const n = summarize(nginx?.samples.get(f.path) ?? []);
      const e = summarize(edgeServer?.samples.get(f.path) ?? []);
      const np99 = summarize(nginx?.p99.get(f.path) ?? []);
      const ep99 = summarize(edgeServer?.p99.get(f.path) ?? []);
      const r = n && e ? e.median / n.median : undefined;
      const ncpu = summarize(nginx?.cpuUs.get(f.path) ?? []);
      const ecpu = summarize(edgeServer?.cpuUs.get(f.path) ?? []);
      rows.push([
        f.label,
        formatSummary(n),
        formatSummary(e),
        r === undefined ? "n/a" : `${r.toFixed(2)}×`,
        np99 ? np99.median.toFixed(2) : "n/a",
        ep99 ? ep99.median.toFixed(2) : "n/a",
        ncpu ? ncpu.median.toFixed(1) : "n/a",
        ecpu ? ecpu.median.toFixed(1) : "n/a",
        ncpu && ecpu ? `${(ncpu.median / ecpu.median).toFixed(2)}×` : "n/a",
      ]);
      verdicts.push(
        `target: edge ≥ ${TARGET_RATIO}× nginx req/s on ${f.label} — ${r === undefined ? "n/a" : `${r.toFixed(2)}×`}: ${r !== undefined && r >= TARGET_RATIO ? "PASS" : "FAIL"}`,
      );
    }
    console.log(
      renderTable(
        [
          "file",
          "nginx req/s",
          "edge req/s",
          "edge ÷ nginx",
          "nginx p99 ms",
          "edge p99 ms",
          "nginx CPU µs/req",
          "edge CPU µs/req",
          "nginx ÷ edge CPU",
        ],
        rows,
      ),
    );
    console.log("");
    for (const v of verdicts) console.log(v);
    console.log(
      "(note: at 50 KiB nginx and in-memory Node servers reach the load generator + loopback limit on this machine, perf-anchors §1, so that ratio means 'at least')",
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
    p99: new Map(FILES.map((f) => [f.path, []])),
    cpuUs: new Map(FILES.map((f) => [f.path, []])),
    cpu: undefined,
  };
}

async function wrk(
  pin: Pinning,
  server: Server,
  path: string,
  seconds: number,
): Promise<{ rps: number; p99Ms: number; requests: number }> {
  const { command, args } = pinned(pin.client, "wrk", [
    "-t1",
    "-c50",
    `-d${seconds}s`,
    "--latency",
    "-H",
    `Host: ${server.host}`,
    `http://127.0.0.1:${server.port}${path}`,
  ]);
  const result = await exec(command, args, { timeoutMs: (seconds + 20) * 1000 });
  if (result.code !== 0) throw new Error(`wrk failed (${result.code}): ${result.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(result.stdout)?.[1]);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(result.stdout);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(result.stdout);
  if (non2xx) throw new Error(`${server.label} ${path}: ${non2xx[1]} non-2xx responses`);
  if (!Number.isFinite(rps) || !p99) throw new Error(`cannot parse wrk output:\n${result.stdout}`);
  const unit = p99[2] === "us" ? 0.001 : p99[2] === "s" ? 1000 : 1;
  const requests = Number(/(\d+) requests in/.exec(result.stdout)?.[1] ?? 0);
  return { rps, p99Ms: Number(p99[1]) * unit, requests };
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
