/**
 * HTTPS serving (issue 12): keep-alive requests/s on a 1 KiB file and new TLS handshakes/s
 * (one request per connection, no session resumption), for the Slipway platform serving a
 * custom domain with an uploaded certificate, against two baselines measured in the same run
 * with the same certificate and bytes: a bare `node:https` server answering from memory (the
 * runtime's ceiling) and, when installed, nginx with one worker. Goal: ≥ 0.9× the bare Node
 * server on both. The load comes from worker threads of this process (the same client for all
 * servers), `tls.connect` with SNI `bench.test`; rounds rotate the order; medians are shown.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { Cleanup } from "./lib/cleanup.ts";
import type { Benchmark, BenchOptions } from "./lib/options.ts";
import { Daemon, findExecutable, freePort, waitForPort } from "./lib/proc.ts";
import { platformApi, startSlipwayChild } from "./lib/slipway.ts";
import { formatRatio, formatSummary, renderTable, summarize } from "./lib/stats.ts";
import { selfSigned } from "../test/helpers/acme.ts";

const TARGET_RATIO = 0.9;
const HOST = "bench.test";

export const https: Benchmark = {
  name: "https",
  aliases: ["tls"],
  description: "HTTPS keep-alive req/s and TLS handshakes/s against bare node:https and nginx",
  flags: [
    {
      flag: "https-rounds",
      value: "N",
      env: "BENCH_HTTPS_ROUNDS",
      help: "rounds per server and measure (default 3)",
    },
    {
      flag: "https-duration",
      value: "SECONDS",
      env: "BENCH_HTTPS_DURATION",
      help: "seconds per measured run (default 5)",
    },
    {
      flag: "https-connections",
      value: "N",
      env: "BENCH_HTTPS_CONNECTIONS",
      help: "keep-alive connections per load thread (default 25; 2 threads)",
    },
  ],
  run: runHttps,
};

interface Target {
  id: string;
  label: string;
  port: number;
  keepAlive: number[];
  handshakes: number[];
}

/** The load generator, as plain JavaScript for a worker thread. */
const LOAD_WORKER = `
const { workerData, parentPort } = require("node:worker_threads");
const tls = require("node:tls");
const { port, host, ca, mode, connections, durationMs } = workerData;
const request = Buffer.from("GET / HTTP/1.1\\r\\nHost: " + host + (mode === "handshake" ? "\\r\\nConnection: close" : "") + "\\r\\n\\r\\n");
const deadline = Date.now() + durationMs;
let done = 0, errors = 0;
function responseEnd(buffer) {
  const head = buffer.indexOf("\\r\\n\\r\\n");
  if (head === -1) return -1;
  const m = /content-length: *(\\d+)/i.exec(buffer.subarray(0, head).toString("latin1"));
  const length = m ? Number(m[1]) : 0;
  return buffer.length >= head + 4 + length ? head + 4 + length : -1;
}
function keepAlive() {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: host, ca, ALPNProtocols: ["http/1.1"] });
    let buffer = Buffer.alloc(0);
    socket.on("secureConnect", () => socket.write(request));
    socket.on("data", (chunk) => {
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      for (;;) {
        const end = responseEnd(buffer);
        if (end === -1) break;
        done++;
        buffer = buffer.subarray(end);
        if (Date.now() >= deadline) { socket.destroy(); return resolve(); }
        socket.write(request);
      }
    });
    socket.on("error", () => { errors++; resolve(); });
    socket.on("close", () => resolve());
  });
}
function handshakes() {
  return new Promise((resolve) => {
    const loop = () => {
      if (Date.now() >= deadline) return resolve();
      const socket = tls.connect({ host: "127.0.0.1", port, servername: host, ca, ALPNProtocols: ["http/1.1"] });
      let buffer = Buffer.alloc(0), counted = false;
      socket.on("secureConnect", () => socket.write(request));
      socket.on("data", (chunk) => {
        buffer = Buffer.concat([buffer, chunk]);
        if (!counted && responseEnd(buffer) !== -1) { counted = true; done++; socket.destroy(); loop(); }
      });
      socket.on("error", () => { errors++; if (!counted) { counted = true; loop(); } });
    };
    loop();
  });
}
const jobs = [];
for (let i = 0; i < connections; i++) jobs.push(mode === "handshake" ? handshakes() : keepAlive());
Promise.all(jobs).then(() => parentPort.postMessage({ done, errors }));
`;

async function load(
  port: number,
  ca: string,
  mode: "keepalive" | "handshake",
  connections: number,
  durationMs: number,
): Promise<{ perSecond: number; errors: number }> {
  const threads = 2;
  const started = Date.now();
  const results = await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<{ done: number; errors: number }>((resolve, reject) => {
          const worker = new Worker(LOAD_WORKER, {
            eval: true,
            workerData: { port, host: HOST, ca, mode, connections, durationMs },
          });
          worker.once("message", (m: { done: number; errors: number }) => {
            void worker.terminate();
            resolve(m);
          });
          worker.once("error", reject);
        }),
    ),
  );
  const seconds = (Date.now() - started) / 1000;
  const done = results.reduce((n, r) => n + r.done, 0);
  return { perSecond: done / seconds, errors: results.reduce((n, r) => n + r.errors, 0) };
}

async function runHttps(options: BenchOptions): Promise<void> {
  const rounds = options.int("https-rounds", "BENCH_HTTPS_ROUNDS", 3);
  const duration = options.int("https-duration", "BENCH_HTTPS_DURATION", 5);
  const connections = options.int("https-connections", "BENCH_HTTPS_CONNECTIONS", 25);
  const keep = options.has("keep", "BENCH_KEEP");
  if (findExecutable("openssl") === undefined) throw new Error("https bench needs openssl");
  const cleanup = new Cleanup();
  const dir = await mkdtemp(join(tmpdir(), "slipway-bench-https-"));
  if (!keep) cleanup.defer("remove the temp dir", () => rm(dir, { recursive: true, force: true }));
  try {
    // The same certificate and bytes everywhere.
    const {
      certFile,
      keyFile,
      certPem: cert,
      keyPem: key,
    } = await selfSigned(dir, [HOST], {
      days: 2,
      name: "bench",
    });
    const body = `<!doctype html><title>bench</title>${"x".repeat(1024 - 36)}\n`.slice(0, 1024);
    const bodyFile = join(dir, "index.html");
    writeFileSync(bodyFile, body);

    const targets: Target[] = [];
    // 1. Slipway: the platform process, a site with a custom domain and an uploaded certificate.
    const httpsPort = await freePort();
    const slipway = await startSlipwayChild({
      command: "platform",
      dir: join(dir, "slipway"),
      pin: [],
      cleanup,
      logLevel: "warn",
      env: { SLIPWAY_HTTPS_PORT: String(httpsPort), SLIPWAY_ACME_DIRECTORY_URL: "off" },
    });
    const site = await platformApi<{ id: string }>(slipway, "POST", "/sites", slipway.adminToken, {
      name: "bench",
      custom_domain: HOST,
    });
    await platformApi(slipway, "POST", `/sites/${site.id}/ssl`, slipway.adminToken, {
      certificate: cert,
      key,
    });
    const sha1 = createHash("sha1").update(body).digest("hex");
    const deploy = await platformApi<{ id: string }>(
      slipway,
      "POST",
      `/sites/${site.id}/deploys`,
      slipway.adminToken,
      { draft: false, files: { "index.html": sha1 } },
    );
    const upload = await fetch(`${slipway.url}/api/v1/deploys/${deploy.id}/files/index.html`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${slipway.adminToken}`,
        "content-type": "application/octet-stream",
      },
      body,
    });
    if (!upload.ok) throw new Error(`upload: ${upload.status} ${await upload.text()}`);
    for (let i = 0; ; i++) {
      const state = await platformApi<{ state: string }>(
        slipway,
        "GET",
        `/sites/${site.id}/deploys/${deploy.id}`,
        slipway.adminToken,
      );
      if (state.state === "ready") break;
      if (i > 100) throw new Error(`the bench deploy stayed ${state.state}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    targets.push({
      id: "slipway",
      label: "Slipway (http2 server, SNI)",
      port: httpsPort,
      keepAlive: [],
      handshakes: [],
    });

    // 2. The bare node:https server (the runtime's ceiling).
    const barePort = await freePort();
    const bare = Daemon.start(
      "bare node:https",
      join(dir, "bare.log"),
      process.execPath,
      ["--import", "tsx", join(import.meta.dirname, "lib", "bare-https.ts")],
      {
        env: {
          PATH: process.env.PATH,
          NODE_ENV: "production",
          BARE_CERT: certFile,
          BARE_KEY: keyFile,
          BARE_BODY: bodyFile,
          BARE_PORT: String(barePort),
        },
      },
    );
    cleanup.defer("stop the bare server", () => bare.stop());
    await waitForPort(barePort, { timeoutMs: 20_000, daemon: bare });
    targets.push({
      id: "bare",
      label: "bare node:https (memory)",
      port: barePort,
      keepAlive: [],
      handshakes: [],
    });

    // 3. nginx, one worker, when installed.
    const nginx = findExecutable("nginx");
    if (nginx !== undefined) {
      const nginxPort = await freePort();
      const root = join(dir, "nginx-root");
      mkdirSync(root, { recursive: true });
      writeFileSync(join(root, "index.html"), body);
      const conf = join(dir, "nginx.conf");
      writeFileSync(
        conf,
        `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path ${dir}/nb; proxy_temp_path ${dir}/np;
  fastcgi_temp_path ${dir}/nf; uwsgi_temp_path ${dir}/nu; scgi_temp_path ${dir}/ns;
  keepalive_requests 1000000; ssl_session_cache off; ssl_session_tickets off;
  server { listen 127.0.0.1:${nginxPort} ssl; server_name ${HOST};
    ssl_certificate ${certFile}; ssl_certificate_key ${keyFile}; ssl_protocols TLSv1.2 TLSv1.3;
    root ${root}; } }\n`,
      );
      const daemon = Daemon.start("nginx", join(dir, "nginx.log"), nginx, [
        "-c",
        conf,
        "-e",
        `${dir}/nginx-error.log`,
      ]);
      cleanup.defer("stop nginx", () => daemon.stop());
      await waitForPort(nginxPort, { timeoutMs: 20_000, daemon });
      targets.push({
        id: "nginx",
        label: "nginx (1 worker)",
        port: nginxPort,
        keepAlive: [],
        handshakes: [],
      });
    } else {
      console.log(
        "nginx is not installed (apt-get install nginx-light): compared with bare node:https only\n",
      );
    }

    // Warm-up, then rounds with the order rotated.
    for (const target of targets) {
      const warm = await load(target.port, cert, "keepalive", 4, 1000);
      if (warm.perSecond === 0) throw new Error(`${target.label} answered nothing over TLS`);
    }
    for (let round = 0; round < rounds; round++) {
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const target of order) {
        target.keepAlive.push(
          (await load(target.port, cert, "keepalive", connections, duration * 1000)).perSecond,
        );
        target.handshakes.push(
          (await load(target.port, cert, "handshake", 8, duration * 1000)).perSecond,
        );
      }
      console.log(`round ${round + 1}/${rounds} done`);
    }
    const bareTarget = targets.find((t) => t.id === "bare")!;
    const rows = targets.map((t) => [
      t.label,
      formatSummary(summarize(t.keepAlive)),
      formatRatio(summarize(t.keepAlive), summarize(bareTarget.keepAlive)),
      formatSummary(summarize(t.handshakes)),
      formatRatio(summarize(t.handshakes), summarize(bareTarget.handshakes)),
    ]);
    console.log(
      `\n${renderTable(
        ["server", "keep-alive req/s (1 KiB)", "vs bare", "new TLS handshakes/s", "vs bare"],
        rows,
      )}\n`,
    );
    const slipwayTarget = targets.find((t) => t.id === "slipway")!;
    const ka =
      (summarize(slipwayTarget.keepAlive)?.median ?? 0) /
      (summarize(bareTarget.keepAlive)?.median ?? 1);
    const hs =
      (summarize(slipwayTarget.handshakes)?.median ?? 0) /
      (summarize(bareTarget.handshakes)?.median ?? 1);
    console.log(
      `goal ≥ ${TARGET_RATIO}× bare node:https: keep-alive ${ka.toFixed(2)}× ${ka >= TARGET_RATIO ? "met" : "NOT met"}, handshakes ${hs.toFixed(2)}× ${hs >= TARGET_RATIO ? "met" : "NOT met"}`,
    );
  } finally {
    await cleanup.run();
  }
}
