/**
 * HTTPS serving (issue 12): keep-alive requests/s on a 1 KiB file and new TLS connections/s
 * (one request per connection), for the Slipway platform serving a custom domain with an
 * uploaded certificate, against baselines with the same certificate and bytes: a bare
 * `node:https` server answering from memory (the runtime's ceiling, the issue's yardstick), a
 * bare `node:http2` secure server with HTTP/1.1 fallback and an `SNICallback` (Slipway's
 * configuration without Slipway: what the runtime itself charges for it), that same bare server
 * in a process that has imported Slipway's platform code without running it (what carrying
 * that code costs a request that never touches it) and, when installed, nginx with one worker.
 * Goal: ≥ 0.9× the bare `node:https` server on both.
 *
 * - Servers on CPU 1, the load generator on CPU 0, each server held to a share of a CPU by a
 *   CFS quota (a handshake costs wrk about what it costs the server: unheld, wrk saturates
 *   first and every server reads the same rate; see `lib/cpu-quota.ts`). `wrk -t1`, with
 *   `Connection: close` for handshakes: wrk then reconnects for every request, offering the
 *   session of its previous connection on that slot, so about half the handshakes resume, on
 *   every server alike. Every Node server counts its handshakes and how many resumed (the bare
 *   ones at `/__handshakes`, Slipway in its `/metrics`), so the rates compare like with like.
 * - wrk takes the SNI name from the URL, so it runs in a bubblewrap sandbox whose /etc/hosts
 *   maps the test name to 127.0.0.1.
 * - Each Node server runs as several processes (`--https-launches`): one process can be several
 *   percent faster or slower than the next one of the same program, steadily, so round r
 *   measures launch r mod n of every server.
 * - Two readings. Rounds measure the servers one after another (the order rotates; each server
 *   is measured once it is idle on its own, after a 1 s warm-up of each kind); medians are
 *   shown, and the ratio is the median of same-round ratios. Paired rounds (`lib/pairs.ts`)
 *   measure Slipway and the two bare http2 servers each at the same moment as bare
 *   `node:https`, then Slipway at the same moment as the loaded one (its request path apart
 *   from its code's weight), on the same CPU: the machine's drift cancels out, but the two
 *   processes share that CPU's caches.
 */
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:https";
import { choosePinning, pinned } from "./lib/baselines.ts";
import { startBareServer } from "./lib/bare.ts";
import { Cleanup } from "./lib/cleanup.ts";
import { measurePairs } from "./lib/pairs.ts";
import { CpuMeter, withCpuPerRequest, type CpuGroup } from "./lib/cpu.ts";
import { CpuQuota } from "./lib/cpu-quota.ts";
import { waitForIdle, WAIT_IDLE_FLAG } from "./lib/idle.ts";
import type { Benchmark, BenchOptions } from "./lib/options.ts";
import { Daemon, findExecutable, freePort, waitForPort } from "./lib/proc.ts";
import { pinnedCpu, runWrk, type WrkResult } from "./lib/wrk.ts";
import { platformApi, startSlipwayChild } from "./lib/slipway.ts";
import { formatRatio, formatSummary, renderTable, summarize } from "./lib/stats.ts";
import { selfSigned } from "../test/helpers/acme.ts";

const TARGET_RATIO = 0.9;
const HOST = "bench.test";

export const https: Benchmark = {
  name: "https",
  aliases: ["tls"],
  description:
    "HTTPS keep-alive req/s and TLS handshakes/s against bare node:https, bare node:http2 + SNI and nginx",
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
      help: "wrk connections (default 50)",
    },
    {
      flag: "https-measure",
      value: "WHAT",
      env: "BENCH_HTTPS_MEASURE",
      help: "keep-alive, handshakes or both (default both; one alone makes a profile of one path)",
    },
    {
      flag: "https-server-cpu",
      value: "SHARE",
      env: "BENCH_HTTPS_SERVER_CPU",
      help: "each server's CPU quota, a share of one CPU (default 0.4, so the servers saturate before wrk does, two at once in the paired rounds too; 0: none)",
    },
    {
      flag: "https-launches",
      value: "N",
      env: "BENCH_HTTPS_LAUNCHES",
      help: "processes started of each Node server, measured in turn by round (default 3): one process's speed can differ from the next one's by several percent",
    },
    {
      flag: "https-pairs",
      value: "N",
      env: "BENCH_HTTPS_PAIRS",
      help: "rounds in which Slipway and bare node:http2 + SNI are each measured at the same moment as bare node:https, on the same CPU (default: as many as --https-rounds; 0: none)",
    },
    WAIT_IDLE_FLAG,
    {
      flag: "https-profile",
      value: "DIR",
      env: "BENCH_HTTPS_PROFILE",
      help: "write the Node servers' CPU profiles (node --cpu-prof) into DIR/slipway-N, DIR/bare-N, DIR/bare-http2-N, DIR/bare-loaded-N (N: the launch)",
    },
  ],
  run: runHttps,
};

/** TLS handshakes a server has seen so far, and how many of them resumed a session. */
interface HandshakeCount {
  handshakes: number;
  resumed: number;
}

/** One running process of a server (a benchmark starts several: see `--https-launches`). */
interface Launch {
  port: number;
  pid: number | undefined;
  cpu?: CpuGroup;
  /** The process's own handshake count (undefined: it keeps none, as nginx). */
  count: (() => Promise<HandshakeCount>) | undefined;
}

interface Target {
  id: string;
  label: string;
  /** Round r measures `launches[r % launches.length]`. */
  launches: Launch[];
  keepAlive: number[];
  handshakes: number[];
  /** wrk's CPU busy share (0–1) in the keep-alive and the handshake runs. */
  keepAliveClient: number[];
  handshakeClient: number[];
  /** Server CPU µs per request / per handshake (its cgroup; steady under other load). */
  keepAliveCpuUs: number[];
  handshakeCpuUs: number[];
  /** Handshakes the server saw during the handshake runs, and how many resumed a session. */
  seen: HandshakeCount;
}

function target(fields: Pick<Target, "id" | "label" | "launches">): Target {
  return {
    ...fields,
    keepAlive: [],
    handshakes: [],
    keepAliveClient: [],
    handshakeClient: [],
    keepAliveCpuUs: [],
    handshakeCpuUs: [],
    seen: { handshakes: 0, resumed: 0 },
  };
}

/** GET over TLS, trusting `ca`, with SNI `HOST`. */
function tlsGet(port: number, ca: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        servername: HOST,
        headers: { host: HOST },
        ca,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        res.on("error", reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

async function runHttps(options: BenchOptions): Promise<void> {
  const rounds = options.int("https-rounds", "BENCH_HTTPS_ROUNDS", 3);
  const launches = options.int("https-launches", "BENCH_HTTPS_LAUNCHES", 3);
  const pairRounds = Number(options.string("https-pairs", "BENCH_HTTPS_PAIRS", String(rounds)));
  if (!(Number.isSafeInteger(pairRounds) && pairRounds >= 0)) {
    throw new Error(`--https-pairs ${pairRounds}: a number of rounds (0: none)`);
  }
  const duration = options.int("https-duration", "BENCH_HTTPS_DURATION", 5);
  const connections = options.int("https-connections", "BENCH_HTTPS_CONNECTIONS", 50);
  const waitIdle = options.has("wait-idle", "BENCH_WAIT_IDLE")
    ? options.int("wait-idle", "BENCH_WAIT_IDLE", 120)
    : 0;
  const keep = options.has("keep", "BENCH_KEEP");
  const profileDir = options.string("https-profile", "BENCH_HTTPS_PROFILE", "");
  const measure = options.string("https-measure", "BENCH_HTTPS_MEASURE", "both");
  const serverCpu = Number(options.string("https-server-cpu", "BENCH_HTTPS_SERVER_CPU", "0.4"));
  if (!(serverCpu >= 0 && serverCpu <= 1)) {
    throw new Error(`--https-server-cpu ${serverCpu}: a share of one CPU, 0 to 1 (0: no quota)`);
  }
  if (!["keep-alive", "handshakes", "both"].includes(measure)) {
    throw new Error(`--https-measure ${measure}: keep-alive, handshakes or both`);
  }
  const measureKeepAlive = measure !== "handshakes";
  const measureHandshakes = measure !== "keep-alive";
  for (const [tool, pkg] of [
    ["openssl", "openssl"],
    ["wrk", "wrk"],
    ["bwrap", "bubblewrap"],
  ] as const) {
    if (!findExecutable(tool)) {
      console.log(`https skipped: ${tool} not found (apt-get install ${pkg})`);
      return;
    }
  }
  const pin = choosePinning({ client: "wrk" });
  console.log(`pinning: ${pin.note}`);
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
    const bareRoot = join(dir, "bare-root");
    mkdirSync(bareRoot);
    writeFileSync(join(bareRoot, "index.html"), body);
    // wrk's SNI is the URL's host: give wrk (only) an /etc/hosts that knows the test name.
    const hostsFile = join(dir, "hosts");
    writeFileSync(hostsFile, `127.0.0.1 localhost\n127.0.0.1 ${HOST}\n`);
    const wrapper = ["bwrap", "--dev-bind", "/", "/", "--ro-bind", hostsFile, "/etc/hosts", "--"];

    // One directory per server: with tsx's loader thread each process writes two profiles.
    const profileArgs = (name: string): string[] =>
      profileDir === ""
        ? []
        : ["--cpu-prof", "--cpu-prof-interval=250", `--cpu-prof-dir=${join(profileDir, name)}`];
    const metricsToken = `bench-${process.pid}-${Date.now()}`;
    const targets: Target[] = [];
    // 1. Slipway: the platform process, a site with a custom domain and an uploaded certificate.
    const launchSlipway = async (i: number): Promise<Launch> => {
      const httpsPort = await freePort();
      const slipway = await startSlipwayChild({
        command: "platform",
        dir: join(dir, `slipway-${i}`),
        pin: pin.server,
        cleanup,
        logLevel: "warn",
        env: {
          SLIPWAY_HTTPS_PORT: String(httpsPort),
          SLIPWAY_ACME_DIRECTORY_URL: "off",
          SLIPWAY_METRICS_TOKEN: metricsToken,
        },
        nodeArgs: profileArgs(`slipway-${i}`),
      });
      const api = <T>(method: string, path: string, body?: unknown): Promise<T> =>
        platformApi<T>(slipway, method, path, slipway.adminToken, body);
      const site = await api<{ id: string }>("POST", "/sites", {
        name: "bench",
        custom_domain: HOST,
      });
      await api("POST", `/sites/${site.id}/ssl`, { certificate: cert, key });
      const sha1 = createHash("sha1").update(body).digest("hex");
      const deploy = await api<{ id: string }>("POST", `/sites/${site.id}/deploys`, {
        draft: false,
        files: { "index.html": sha1 },
      });
      const upload = await fetch(`${slipway.url}/api/v1/deploys/${deploy.id}/files/index.html`, {
        method: "PUT",
        headers: {
          authorization: `Bearer ${slipway.adminToken}`,
          "content-type": "application/octet-stream",
        },
        body,
      });
      if (!upload.ok) throw new Error(`upload: ${upload.status} ${await upload.text()}`);
      for (let attempt = 0; ; attempt++) {
        const { state } = await api<{ state: string }>(
          "GET",
          `/sites/${site.id}/deploys/${deploy.id}`,
        );
        if (state === "ready") break;
        if (attempt > 100) throw new Error(`the bench deploy stayed ${state}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      return {
        port: httpsPort,
        pid: slipway.daemon.pid,
        count: () => slipwayHandshakes(slipway.url, metricsToken),
      };
    };
    // 2. The bare node:https server (the runtime's ceiling), 2b. the bare node:http2 secure
    // server with HTTP/1.1 fallback and SNI (Slipway's configuration, nothing else), and 2c.
    // that server in a process that imported Slipway's platform code first.
    const launchBare = async (kind: "https" | "http2" | "loaded", i: number): Promise<Launch> => {
      const name = `${kind === "https" ? "bare" : `bare-${kind}`}-${i}`;
      const bare = await startBareServer({
        logFile: join(dir, `${name}.log`),
        root: bareRoot,
        pin: pin.server,
        cleanup,
        tls: { certFile, keyFile, http2: kind !== "https" },
        ...(kind === "loaded" ? { load: "src/platform/server.ts" } : {}),
        nodeArgs: profileArgs(name),
      });
      return {
        port: bare.port,
        pid: bare.pid,
        // Less the request that asks: it is a handshake too.
        count: async () => {
          const { handshakes, resumed } = await bareHandshakes(bare.port, cert);
          return { handshakes: handshakes - 1, resumed };
        },
      };
    };
    const launchAll = <T>(launch: (i: number) => Promise<T>): Promise<T[]> =>
      Promise.all(Array.from({ length: launches }, (_, i) => launch(i)));
    targets.push(
      target({
        id: "slipway",
        label: "Slipway (http2 server, SNI)",
        launches: await launchAll(launchSlipway),
      }),
      target({
        id: "bare",
        label: "bare node:https (memory)",
        launches: await launchAll((i) => launchBare("https", i)),
      }),
      target({
        id: "h2-sni",
        label: "bare node:http2 + SNI (memory)",
        launches: await launchAll((i) => launchBare("http2", i)),
      }),
      target({
        id: "loaded",
        label: "bare node:http2 + SNI, Slipway's code loaded",
        launches: await launchAll((i) => launchBare("loaded", i)),
      }),
    );

    // 3. nginx, one worker, when installed.
    const nginx = findExecutable("nginx");
    if (nginx !== undefined) {
      const nginxPort = await freePort();
      const root = join(dir, "nginx-root");
      // nginx's worker runs as nobody: the path to its copy must be world-readable.
      chmodSync(dir, 0o755);
      mkdirSync(root, { recursive: true, mode: 0o755 });
      writeFileSync(join(root, "index.html"), body, { mode: 0o644 });
      const conf = join(dir, "nginx.conf");
      writeFileSync(
        conf,
        `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path ${dir}/nb; proxy_temp_path ${dir}/np;
  fastcgi_temp_path ${dir}/nf; uwsgi_temp_path ${dir}/nu; scgi_temp_path ${dir}/ns;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:${nginxPort} ssl; server_name ${HOST};
    ssl_certificate ${certFile}; ssl_certificate_key ${keyFile}; ssl_protocols TLSv1.2 TLSv1.3;
    root ${root}; } }\n`,
      );
      const ng = pinned(pin.server, nginx, ["-c", conf, "-e", `${dir}/nginx-error.log`]);
      const daemon = Daemon.start("nginx", join(dir, "nginx.log"), ng.command, ng.args);
      cleanup.defer("stop nginx", () => daemon.stop());
      await waitForPort(nginxPort, { timeoutMs: 20_000, daemon });
      targets.push(
        target({
          id: "nginx",
          label: "nginx (1 worker)",
          launches: [{ port: nginxPort, pid: daemon.pid, count: undefined }],
        }),
      );
    } else {
      console.log(
        "nginx is not installed (apt-get install nginx-light): compared with the bare Node servers only\n",
      );
    }

    // Every server answers the same bytes over TLS with SNI ${HOST}.
    for (const target of targets) {
      for (const launch of target.launches) {
        const answer = await tlsGet(launch.port, cert, "/");
        if (answer !== body) throw new Error(`${target.label} answered something else over TLS`);
      }
    }
    const meter = CpuMeter.create(`slipway-bench-https-${process.pid}`);
    if (typeof meter === "string") console.log(`server CPU not measured: ${meter}`);
    else {
      cleanup.defer("remove the CPU cgroups", () => meter.remove());
      for (const t of targets) {
        t.launches.forEach((launch, i) => {
          if (launch.pid === undefined) return;
          launch.cpu = meter.group(`${t.id}-${i}`);
          launch.cpu.adopt([launch.pid]);
        });
      }
    }
    if (serverCpu > 0) {
      const quota = CpuQuota.create(`slipway-bench-https-quota-${process.pid}`);
      if (typeof quota === "string") console.log(`servers not held to a CPU quota: ${quota}`);
      else {
        cleanup.defer("remove the CPU quota groups", () => quota.remove());
        for (const t of targets) {
          t.launches.forEach((launch, i) => {
            if (launch.pid !== undefined) quota.limit(`${t.id}-${i}`, serverCpu, [launch.pid]);
          });
        }
        console.log(
          `each server is held to ${serverCpu} of a CPU: requests/s is its capacity at that share, with wrk's CPU to spare\n`,
        );
      }
    }
    // Slipway finishes the set-up's jobs (the deploy's, notifications) in the background: a
    // server is measured only once it uses under 5% of a CPU on its own.
    const settle = async (target: Target, launch: Launch): Promise<void> => {
      const { cpu } = launch;
      if (cpu === undefined) return;
      for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
        const before = cpu.usageMs();
        await new Promise((r) => setTimeout(r, 500));
        if (cpu.usageMs() - before < 25) return;
      }
      console.log(`${target.label} stayed busy on its own for 30 s; measuring anyway`);
    };
    const clientCpu = pinnedCpu(pin.client);
    const wrk = (launch: Launch, handshake: boolean, seconds: number): Promise<WrkResult> =>
      runWrk(pin, {
        url: `https://${HOST}:${launch.port}/`,
        seconds,
        connections,
        headers: handshake ? ["Connection: close"] : [],
        wrapper,
      });
    const busyOf = (result: WrkResult): number | undefined =>
      clientCpu === undefined ? undefined : result.cpuBusy[clientCpu];
    const pct = (share: number | undefined): string =>
      share === undefined ? "n/a" : `${Math.round(share * 100)}%`;

    for (let round = 0; round < rounds; round++) {
      await waitForIdle(waitIdle);
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const target of order) {
        const launch = target.launches[round % target.launches.length]!;
        let line = `round ${round + 1} ${target.id.padEnd(7)}`;
        await settle(target, launch);
        if (measureKeepAlive) {
          await wrk(launch, false, 1);
          const { result, cpuUs } = await withCpuPerRequest(launch.cpu, () =>
            wrk(launch, false, duration),
          );
          if (cpuUs !== undefined) target.keepAliveCpuUs.push(cpuUs);
          target.keepAlive.push(result.rps);
          const busy = busyOf(result);
          if (busy !== undefined) target.keepAliveClient.push(busy);
          line += ` keep-alive ${Math.round(result.rps).toLocaleString("en-US")} req/s (server CPU ${cpuUs?.toFixed(1)} µs/req, wrk's CPU ${pct(busy)})`;
        }
        if (measureHandshakes) {
          await wrk(launch, true, 1);
          const before = await launch.count?.();
          const { result, cpuUs } = await withCpuPerRequest(launch.cpu, () =>
            wrk(launch, true, duration),
          );
          const after = await launch.count?.();
          if (cpuUs !== undefined) target.handshakeCpuUs.push(cpuUs);
          target.handshakes.push(result.rps);
          const busy = busyOf(result);
          if (busy !== undefined) target.handshakeClient.push(busy);
          line += ` handshakes ${Math.round(result.rps).toLocaleString("en-US")}/s (server CPU ${cpuUs?.toFixed(0)} µs each, wrk's CPU ${pct(busy)}, ${result.socketErrors} socket errors)`;
          if (before !== undefined && after !== undefined) {
            const made = after.handshakes - before.handshakes;
            const resumed = after.resumed - before.resumed;
            target.seen.handshakes += made;
            target.seen.resumed += resumed;
            line += `; the server saw ${made} handshakes (${resumed} resumed) for ${result.requests} requests`;
          }
        }
        console.log(line);
      }
    }
    const bareTarget = targets.find((t) => t.id === "bare")!;
    const h2Target = targets.find((t) => t.id === "h2-sni")!;
    const loadedTarget = targets.find((t) => t.id === "loaded")!;
    const busy = (shares: number[]): string => {
      const s = summarize(shares);
      return s === undefined ? "n/a" : pct(s.median);
    };
    /** The server's CPU use while measured (at the quota: the server was the limit). */
    const serverBusy = (rates: number[], cpuUs: number[]): string =>
      busy(cpuUs.map((us, i) => (us * (rates[i] ?? 0)) / 1e6));
    const resumption = (t: Target): string =>
      t.launches[0]?.count === undefined
        ? "n/a"
        : `${t.seen.resumed.toLocaleString("en-US")} of ${t.seen.handshakes.toLocaleString("en-US")}`;
    const rows = targets.map((t) => [
      t.label,
      formatSummary(summarize(t.keepAlive)),
      formatRatio(summarize(t.keepAlive), summarize(bareTarget.keepAlive)),
      formatRatio(summarize(t.keepAlive), summarize(h2Target.keepAlive)),
      busy(t.keepAliveClient),
      serverBusy(t.keepAlive, t.keepAliveCpuUs),
      formatSummary(summarize(t.keepAliveCpuUs)),
      formatSummary(summarize(t.handshakes)),
      formatRatio(summarize(t.handshakes), summarize(bareTarget.handshakes)),
      formatRatio(summarize(t.handshakes), summarize(h2Target.handshakes)),
      busy(t.handshakeClient),
      serverBusy(t.handshakes, t.handshakeCpuUs),
      formatSummary(summarize(t.handshakeCpuUs)),
      resumption(t),
    ]);
    console.log(
      `\n${renderTable(
        [
          "server",
          "keep-alive req/s (1 KiB)",
          "vs bare https",
          "vs bare h2+SNI",
          "wrk CPU",
          "server CPU",
          "server µs/req",
          "new TLS connections/s",
          "vs bare https",
          "vs bare h2+SNI",
          "wrk CPU",
          "server CPU",
          "server µs/conn",
          "resumed handshakes",
        ],
        rows,
      )}\n`,
    );
    const slipwayTarget = targets.find((t) => t.id === "slipway")!;
    // The machine's speed drifts between rounds: the ratio of two servers measured in the
    // same round is steadier than the ratio of medians, and other work only ever slows a
    // server, so the best of each is a second reading.
    const measured = (of: Target): [string, number[]][] => [
      ...(measureKeepAlive ? [["keep-alive", of.keepAlive] as [string, number[]]] : []),
      ...(measureHandshakes ? [["handshakes", of.handshakes] as [string, number[]]] : []),
    ];
    const compare = (of: Target, base: Target, goal?: number): string =>
      measured(of)
        .map(([what, values], i) => {
          const baseValues = measured(base)[i]![1];
          const paired = summarize(values.map((v, round) => v / baseValues[round]!))!;
          const best = Math.max(...values) / Math.max(...baseValues);
          const verdict = goal === undefined ? "" : paired.median >= goal ? " met" : " NOT met";
          return `${what} ${paired.median.toFixed(2)}×${verdict} (rounds ${paired.min.toFixed(2)}–${paired.max.toFixed(2)}×; best ÷ best ${best.toFixed(2)}×)`;
        })
        .join(", ");
    console.log(
      `goal ≥ ${TARGET_RATIO}× bare node:https, measured apart (median of same-round ratios): ${compare(slipwayTarget, bareTarget, TARGET_RATIO)}`,
    );
    console.log(
      `the runtime's share (bare http2 + SNI ÷ bare https): ${compare(h2Target, bareTarget)}; carrying Slipway's code (loaded ÷ bare http2 + SNI): ${compare(loadedTarget, h2Target)}; Slipway's request path (Slipway ÷ loaded): ${compare(slipwayTarget, loadedTarget)}`,
    );
    if (pairRounds > 0) {
      const launchOf = (t: Target, round: number): Launch => t.launches[round % t.launches.length]!;
      const pairOptions = {
        duration,
        keepAlive: measureKeepAlive,
        handshakes: measureHandshakes,
        settle: (t: Target, round: number) => settle(t, launchOf(t, round)),
        cpu: (t: Target, round: number) => launchOf(t, round).cpu,
        load: (t: Target, round: number, handshake: boolean, seconds: number) =>
          wrk(launchOf(t, round), handshake, seconds),
      };
      await measurePairs(pairRounds, bareTarget, [slipwayTarget, h2Target, loadedTarget], {
        ...pairOptions,
        goal: { id: slipwayTarget.id, ratio: TARGET_RATIO },
      });
      // Slipway's own request path, against the same weight of code measured at the same moment.
      await measurePairs(pairRounds, loadedTarget, [slipwayTarget], pairOptions);
    }
    if (serverCpu === 0) {
      console.log(
        "(wrk's CPU near 100%: the load generator is the limit there, and the servers are compared at equal client load)",
      );
    }
  } finally {
    await cleanup.run();
  }
}

/** The bare server's own count, over TLS (so this request is one more handshake). */
async function bareHandshakes(port: number, ca: string): Promise<HandshakeCount> {
  return JSON.parse(await tlsGet(port, ca, "/__handshakes")) as HandshakeCount;
}

/** Slipway's count, from its `/metrics` over plain HTTP. */
async function slipwayHandshakes(url: string, token: string): Promise<HandshakeCount> {
  const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  if (!response.ok) throw new Error(`slipway /metrics: ${response.status} ${text}`);
  const read = (name: string): number => {
    const value = new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1];
    if (value === undefined) throw new Error(`slipway /metrics has no ${name}`);
    return Number(value);
  };
  return {
    handshakes: read("slipway_tls_handshakes_total"),
    resumed: read("slipway_tls_resumed_handshakes_total"),
  };
}
