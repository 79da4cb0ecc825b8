/**
 * The first deploy of a 10,000-file site (~101 MiB, the redeploy benchmark's tree) through the
 * API, the way netlify-cli deploys: create the deploy with every file's SHA-1, upload each
 * required file (`PUT /api/v1/deploys/:id/files/*`, 5 at a time over keep-alive connections,
 * netlify-cli's DEFAULT_CONCURRENT_UPLOAD), then wait until the deploy is `ready` (published,
 * its blobs and manifest durable). Against the real `slipway platform` child process, with a
 * fresh account each round, so every file is uploaded. Baselines in the same rounds: `cp -r` of
 * the tree into a fresh directory, and the same uploads from the same client to a bare
 * `node:http` server that only hashes and writes each body and syncs once at the end
 * (`lib/bare-upload-server.ts`): the floor of any HTTP upload on this machine. Digests are computed once beforehand (the client's hashing
 * is not the platform's cost). The platform's CPU per uploaded file comes from its
 * `/proc/<pid>/stat` (user + system, with waited-for children such as `sync`).
 *
 * Target (issue 13): the first deploy ≤ 3× `cp -r` in the same run.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { cpus, release, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Cleanup } from "./lib/cleanup.ts";
import type { Benchmark, BenchOptions } from "./lib/options.ts";
import { PROJECT_ROOT } from "./lib/forge.ts";
import { childEnv, Daemon, execChecked, freePort, waitForPort } from "./lib/proc.ts";
import { generateSite, type SiteFile } from "./redeploy.ts";
import { platformApi, startSlipwayChild, type SlipwayChild } from "./lib/slipway.ts";
import { formatBytes, formatSummary, renderTable, summarize } from "./lib/stats.ts";

const MIB = 1024 * 1024;
const TARGET_RATIO = 3;

export const apiDeployBench: Benchmark = {
  name: "api-deploy",
  aliases: ["first-deploy"],
  description:
    "first deploy of a 10,000-file site through the digest API (create, upload each file, ready) against cp -r",
  flags: [
    {
      flag: "api-deploy-files",
      value: "N",
      env: "BENCH_API_DEPLOY_FILES",
      help: "files in the site (default 10000)",
    },
    {
      flag: "api-deploy-rounds",
      value: "N",
      env: "BENCH_API_DEPLOY_ROUNDS",
      help: "rounds (default 3)",
    },
    {
      flag: "api-deploy-concurrency",
      value: "N",
      env: "BENCH_API_DEPLOY_CONCURRENCY",
      help: "uploads in flight (default 5, netlify-cli's)",
    },
    {
      flag: "api-deploy-profile",
      value: "DIR",
      env: "BENCH_API_DEPLOY_PROFILE",
      help: "run the platform with node --cpu-prof, writing the profile to DIR",
    },
  ],
  run: runApiDeployBench,
};

interface Round {
  cpMs: number;
  /** The same uploads to a bare node:http server (`bench/lib/bare-upload-server.ts`), synced once. */
  bareMs: number;
  bareCpuMs: number;
  deployMs: number;
  uploadMs: number;
  readyMs: number;
  platformCpuMs: number;
}

async function runApiDeployBench(options: BenchOptions): Promise<void> {
  const fileCount = options.int("api-deploy-files", "BENCH_API_DEPLOY_FILES", 10_000);
  const rounds = options.int("api-deploy-rounds", "BENCH_API_DEPLOY_ROUNDS", 3);
  const concurrency = options.int("api-deploy-concurrency", "BENCH_API_DEPLOY_CONCURRENCY", 5);
  const profileDir = options.string("api-deploy-profile", "BENCH_API_DEPLOY_PROFILE", "");
  const keep = options.has("keep", "BENCH_KEEP");
  const cleanup = new Cleanup();
  try {
    const root = await mkdtemp(join(tmpdir(), "slipway-bench-api-deploy-"));
    cleanup.defer(`remove ${root}`, async () => {
      if (keep) console.log(`kept ${root}`);
      else await rm(root, { recursive: true, force: true, maxRetries: 3 });
    });
    const cpu = cpus();
    console.log(
      `machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? "?"}, Linux ${release()}, Node ${process.version}`,
    );
    const site = join(root, "site");
    const files = generateSite(site, fileCount, (101 * MIB * fileCount) / 10_000);
    const digests = new Map(
      files.map((f) => [
        f.path,
        createHash("sha1")
          .update(readFileSync(join(site, f.path)))
          .digest("hex"),
      ]),
    );
    const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
    await execChecked("sync", []);
    console.log(
      `site: ${files.length} files, ${formatBytes(totalBytes)} (the redeploy benchmark's tree), page cache warm; ${concurrency} uploads in flight`,
    );
    const platform = await startSlipwayChild({
      command: "platform",
      dir: join(root, "platform"),
      pin: [],
      cleanup,
      logLevel: "warn",
      nodeArgs: profileDir === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`],
    });
    const pid = platform.daemon.pid;
    if (pid === undefined) throw new Error("the platform has no pid");
    console.log(
      `platform: child process \`node bin/slipway.js platform\` (not pinned, log level warn)${profileDir === "" ? "" : `, --cpu-prof into ${profileDir}`}`,
    );

    const barePort = await freePort();
    const bareRoot = join(root, "bare");
    const bare = Daemon.start(
      "bare upload server",
      join(root, "bare-upload-server.log"),
      process.execPath,
      ["--import", "tsx", join(PROJECT_ROOT, "bench", "lib", "bare-upload-server.ts")],
      { cwd: PROJECT_ROOT, env: childEnv({ BARE_PORT: String(barePort), BARE_ROOT: bareRoot }) },
    );
    cleanup.defer("stop the bare upload server", () => bare.stop(5_000));
    await waitForPort(barePort, { timeoutMs: 30_000, daemon: bare });
    const barePid = bare.pid;
    if (barePid === undefined) throw new Error("the bare upload server has no pid");

    const results: Round[] = [];
    const steps = ["cp", "deploy", "bare"] as const;
    for (let r = 0; r < rounds; r++) {
      // Rotate the order; `sync` (untimed) before each, so none pays for another's dirty pages.
      const order = steps.map((_, i) => steps[(i + r) % steps.length]!);
      const round: Partial<Round> = {};
      for (const step of order) {
        await execChecked("sync", []);
        if (step === "cp") {
          round.cpMs = (await execChecked("cp", ["-r", site, join(root, `cp-${r}`)])).ms;
        } else if (step === "bare") {
          mkdirSync(join(bareRoot, `r${r}`), { recursive: true });
          Object.assign(round, await bareOnce(barePort, barePid, site, files, concurrency, r));
        } else {
          Object.assign(
            round,
            await deployOnce(platform, pid, site, files, digests, concurrency, r),
          );
        }
      }
      const done = round as Round;
      results.push(done);
      console.log(
        `round ${r + 1}: cp -r ${Math.round(done.cpMs)} ms; API deploy ${Math.round(done.deployMs)} ms ` +
          `(uploads ${Math.round(done.uploadMs)}, last upload → ready ${Math.round(done.readyMs)}), ` +
          `${(done.deployMs / done.cpMs).toFixed(2)}×, platform CPU ${Math.round(done.platformCpuMs)} ms ` +
          `(${((done.platformCpuMs / files.length) * 1000).toFixed(0)} µs/file); bare upload server ${Math.round(done.bareMs)} ms, ` +
          `CPU ${((done.bareCpuMs / files.length) * 1000).toFixed(0)} µs/file`,
      );
    }
    report(results, files.length, rounds);
  } finally {
    await cleanup.run();
  }
}

/** user + system CPU of the process and its waited-for children, in ms (clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[11..14] are utime, stime, cutime, cstime (fields 14–17 of proc(5)).
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0) * 10;
}

async function deployOnce(
  platform: SlipwayChild,
  pid: number,
  siteDir: string,
  files: readonly SiteFile[],
  digests: ReadonlyMap<string, string>,
  concurrency: number,
  round: number,
): Promise<Omit<Round, "cpMs" | "bareMs" | "bareCpuMs">> {
  const tenant = await platformApi<{ token: string }>(
    platform,
    "POST",
    "/admin/users",
    platform.adminToken,
    { email: `bench-api-${round}@slipway.invalid`, full_name: `bench api ${round}` },
  );
  const site = await platformApi<{ id: string }>(platform, "POST", "/sites", tenant.token, {
    name: `bench-api-${round}`,
  });
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const cpuBefore = processCpuMs(pid);
  const started = performance.now();
  const created = await platformApi<{ id: string; required: string[] }>(
    platform,
    "POST",
    `/sites/${site.id}/deploys`,
    tenant.token,
    { files: Object.fromEntries(digests), draft: false },
  );
  if (created.required.length !== new Set(digests.values()).size) {
    throw new Error(`the platform required ${created.required.length} files, not all of them`);
  }
  const required = new Set(created.required);
  const uploads = files.filter((f) => required.delete(digests.get(f.path)!));
  await uploadAll(uploads, concurrency, async (file) => {
    const body = await readFile(join(siteDir, file.path));
    const path = `/api/v1/deploys/${created.id}/files/${encodeURI(file.path)}`;
    await put(agent, platform.port, tenant.token, path, body);
  });
  const uploaded = performance.now();
  for (;;) {
    const deploy = await platformApi<{ state: string; error_message: string | null }>(
      platform,
      "GET",
      `/deploys/${created.id}`,
      tenant.token,
    );
    if (deploy.state === "ready") break;
    if (deploy.state === "error") throw new Error(`deploy failed: ${deploy.error_message}`);
    await sleep(5);
  }
  const ready = performance.now();
  const platformCpuMs = processCpuMs(pid) - cpuBefore;
  agent.destroy();
  return {
    deployMs: ready - started,
    uploadMs: uploaded - started,
    readyMs: ready - uploaded,
    platformCpuMs,
  };
}

/** The same uploads, from the same client, to the bare upload server, then its one sync. */
async function bareOnce(
  port: number,
  pid: number,
  siteDir: string,
  files: readonly SiteFile[],
  concurrency: number,
  round: number,
): Promise<Pick<Round, "bareMs" | "bareCpuMs">> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const cpuBefore = processCpuMs(pid);
  const started = performance.now();
  await uploadAll(files, concurrency, async (file) => {
    const body = await readFile(join(siteDir, file.path));
    await put(agent, port, "", `/r${round}/${encodeURI(file.path)}`, body);
  });
  const synced = await fetch(`http://127.0.0.1:${port}/__sync`, { method: "POST" });
  if (!synced.ok) throw new Error(`bare upload server: sync failed (${synced.status})`);
  const bareMs = performance.now() - started;
  agent.destroy();
  return { bareMs, bareCpuMs: processCpuMs(pid) - cpuBefore };
}

/** Runs `upload` for every file, `concurrency` at a time (netlify-cli's upload queue). */
async function uploadAll(
  files: readonly SiteFile[],
  concurrency: number,
  upload: (file: SiteFile) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < files.length) await upload(files[next++]!);
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

function put(agent: Agent, port: number, token: string, path: string, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: "127.0.0.1",
        port,
        method: "PUT",
        path,
        headers: {
          ...(token === "" ? {} : { authorization: `Bearer ${token}` }),
          "content-type": "application/octet-stream",
          "content-length": body.length,
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (chunk: Buffer) => parts.push(chunk));
        res.on("end", () => {
          if (res.statusCode === 200) resolve();
          else reject(new Error(`PUT ${path}: ${res.statusCode} ${Buffer.concat(parts)}`));
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

function report(results: readonly Round[], files: number, rounds: number): void {
  const s = (pick: (r: Round) => number) => summarize(results.map(pick));
  const cp = s((r) => r.cpMs);
  const deploy = s((r) => r.deployMs);
  const ratioPerRound = s((r) => r.deployMs / r.cpMs);
  const cpuPerFile = s((r) => (r.platformCpuMs / files) * 1000);
  console.log(`\nms, median (min–max) of ${rounds} rounds:\n`);
  console.log(
    renderTable(
      ["measure", "median (min–max)"],
      [
        ["baseline: cp -r of the tree (ms)", formatSummary(cp)],
        ["first deploy through the API: create → ready (ms)", formatSummary(deploy)],
        ["  uploads (ms)", formatSummary(s((r) => r.uploadMs))],
        ["  last upload → ready (ms)", formatSummary(s((r) => r.readyMs))],
        ["platform CPU (ms)", formatSummary(s((r) => r.platformCpuMs))],
        ["platform CPU per uploaded file (µs)", formatSummary(cpuPerFile)],
        ["deploy ÷ cp -r, per round (×)", ratioPerRound ? fmtRatio(ratioPerRound) : "n/a"],
        ["bare upload server: the same PUTs, one sync (ms)", formatSummary(s((r) => r.bareMs))],
        [
          "bare upload server CPU per file (µs)",
          formatSummary(s((r) => (r.bareCpuMs / files) * 1000)),
        ],
        ["bare upload server ÷ cp -r, per round (×)", fmtRatio(s((r) => r.bareMs / r.cpMs)!)],
        ["deploy ÷ bare upload server, per round (×)", fmtRatio(s((r) => r.deployMs / r.bareMs)!)],
      ],
    ),
  );
  if (deploy && cp) {
    const r = deploy.median / cp.median;
    console.log(
      `\ntarget: first deploy through the API ≤ ${TARGET_RATIO}× cp -r — medians ${r.toFixed(2)}×: ${r <= TARGET_RATIO ? "PASS" : "FAIL"}`,
    );
  }
}

function fmtRatio(s: { median: number; min: number; max: number }): string {
  return `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
}
