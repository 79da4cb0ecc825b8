/**
 * The edge on S3-backed blobs against local disk (issue 14): two platform processes, the same
 * site deployed to each (Netlify's digest protocol), one keeping deploy files on local disk and
 * one in a bucket of the strict S3 fake (`test/fakes/s3/`, in this process). Hot: `wrk -t1 -c50`
 * req/s on a 1 KiB and a 50 KiB file once both edges have them cached (goal: the same, since both
 * answer from the hot cache); the servers pinned to CPU 1 one after the other, wrk to CPU 0,
 * order rotated per round. Cold: time to the first byte of a 1 MiB file's first request (nothing
 * cached) from each store, and of its second.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startS3Fake } from "../test/fakes/s3/fake.ts";
import { digestDeploy } from "../test/helpers/digest-deploy.ts";
import { choosePinning } from "./lib/baselines.ts";
import { Cleanup } from "./lib/cleanup.ts";
import type { Benchmark, BenchOptions } from "./lib/options.ts";
import { startSlipwayChild, type SlipwayChild } from "./lib/slipway.ts";
import { formatRatio, formatSummary, renderTable, summarize } from "./lib/stats.ts";
import { findExecutable } from "./lib/proc.ts";
import { runWrk } from "./lib/wrk.ts";

export const edgeS3: Benchmark = {
  name: "edge-s3",
  aliases: ["s3"],
  description: "edge req/s from S3-backed blobs (hot) vs local disk, and cold first-byte time",
  flags: [
    {
      flag: "s3-rounds",
      value: "N",
      env: "BENCH_S3_ROUNDS",
      help: "wrk rounds per store and file (default 3)",
    },
    { flag: "s3-duration", value: "SECONDS", env: "BENCH_S3_DURATION", help: "default 5" },
    { flag: "s3-cold-files", value: "N", env: "BENCH_S3_COLD", help: "1 MiB files (default 20)" },
  ],
  run: runEdgeS3,
};

const HOT = [
  { path: "/index.html", label: "1 KiB html", size: 1024 },
  { path: "/app.js", label: "50 KiB js", size: 51_200 },
] as const;
const BUCKET = "slipway-bench";

interface Store {
  id: "local" | "s3";
  platform: SlipwayChild;
  host: string;
  rps: Map<string, number[]>;
  coldMs: number[];
  hotMs: number[];
}

async function runEdgeS3(options: BenchOptions): Promise<void> {
  const rounds = options.int("s3-rounds", "BENCH_S3_ROUNDS", 3);
  const duration = options.int("s3-duration", "BENCH_S3_DURATION", 5);
  const coldFiles = options.int("s3-cold-files", "BENCH_S3_COLD", 20);
  if (!findExecutable("wrk")) {
    console.log("edge-s3 skipped: wrk not found (apt-get install wrk)");
    return;
  }
  const pin = choosePinning({ client: "wrk" });
  const cleanup = new Cleanup();
  const root = await mkdtemp(join(tmpdir(), "slipway-bench-s3-"));
  cleanup.defer(`remove ${root}`, () => rm(root, { recursive: true, force: true }));
  try {
    const fake = await startS3Fake({ buckets: [BUCKET] });
    cleanup.defer("stop the S3 fake", () => fake.close());
    console.log(`pinning: ${pin.note}; the S3 fake runs in the bench process (not pinned)`);
    const files: Record<string, string | Buffer> = {
      "index.html": randomBytes(HOT[0].size / 2).toString("hex"),
      "app.js": randomBytes(HOT[1].size / 2).toString("hex"),
    };
    for (let i = 0; i < coldFiles; i++) files[`cold/${i}.bin`] = randomBytes(1024 * 1024);

    const stores: Store[] = [];
    for (const id of ["local", "s3"] as const) {
      const platform = await startSlipwayChild({
        command: "platform",
        dir: join(root, id),
        pin: pin.server,
        cleanup,
        logLevel: "warn",
        env:
          id === "s3"
            ? {
                SLIPWAY_BLOB_STORE: "s3",
                SLIPWAY_S3_BUCKET: BUCKET,
                SLIPWAY_S3_ENDPOINT: fake.endpoint,
                SLIPWAY_S3_FORCE_PATH_STYLE: "true",
                AWS_REGION: fake.region,
                AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
                AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
              }
            : {},
      });
      const site = await createSite(platform, `s3bench-${id}`);
      await digestDeploy({ url: platform.url, token: platform.adminToken, siteId: site, files });
      stores.push({
        id,
        platform,
        host: `s3bench-${id}.localhost`,
        rps: new Map(HOT.map((f) => [f.path, []])),
        coldMs: [],
        hotMs: [],
      });
    }

    // Cold: the first request of each 1 MiB file (never read before), then its second.
    for (let i = 0; i < coldFiles; i++) {
      for (const store of i % 2 === 0 ? stores : [...stores].reverse()) {
        store.coldMs.push(await firstByteMs(store, `/cold/${i}.bin`));
        store.hotMs.push(await firstByteMs(store, `/cold/${i}.bin`));
      }
    }
    // Hot: warm both edges, then wrk.
    for (const store of stores) for (const f of HOT) await firstByteMs(store, f.path);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? stores : [...stores].reverse();
      for (const f of HOT) {
        for (const store of order) {
          const url = `${store.platform.url}${f.path}`;
          const headers = [`Host: ${store.host}`];
          await runWrk(pin, { url, headers, seconds: 1 });
          const result = await runWrk(pin, { url, headers, seconds: duration });
          store.rps.get(f.path)?.push(result.rps);
          console.log(
            `round ${round + 1} ${f.label.padEnd(10)} ${store.id.padEnd(5)} ${Math.round(result.rps).toLocaleString("en-US")} req/s`,
          );
        }
      }
    }

    const [local, s3] = stores as [Store, Store];
    const rows: string[][] = HOT.map((f) => {
      const l = summarize(local.rps.get(f.path) ?? []);
      const s = summarize(s3.rps.get(f.path) ?? []);
      return [`${f.label} req/s`, formatSummary(l), formatSummary(s), formatRatio(s, l)];
    });
    const ms = (samples: number[]) => {
      const s = summarize(samples);
      return s ? `${s.median.toFixed(1)} (${s.min.toFixed(1)}–${s.max.toFixed(1)})` : "n/a";
    };
    rows.push([
      "1 MiB first byte, cold (ms)",
      ms(local.coldMs),
      ms(s3.coldMs),
      formatRatio(summarize(s3.coldMs), summarize(local.coldMs)),
    ]);
    rows.push([
      "1 MiB first byte, hot (ms)",
      ms(local.hotMs),
      ms(s3.hotMs),
      formatRatio(summarize(s3.hotMs), summarize(local.hotMs)),
    ]);
    console.log("");
    console.log(renderTable(["median (min–max)", "local disk", "S3", "S3 ÷ local"], rows));
    console.log(
      `${rounds} rounds of wrk -t1 -c50 -d${duration}s per store and file; ${coldFiles} files of 1 MiB for first-byte times`,
    );
  } finally {
    await cleanup.run();
  }
}

async function createSite(platform: SlipwayChild, name: string): Promise<string> {
  const response = await fetch(`${platform.url}/api/v1/sites`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${platform.adminToken}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ name }),
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`POST /sites: ${response.status} ${text}`);
  return (JSON.parse(text) as { id: string }).id;
}

/** Milliseconds from sending a GET to its first body byte (the rest is read and dropped). */
function firstByteMs(store: Store, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = request(
      { host: "127.0.0.1", port: store.platform.port, path, headers: { host: store.host } },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`${store.id} ${path}: ${res.statusCode}`));
          res.resume();
          return;
        }
        let first: number | undefined;
        res.on("data", () => {
          first ??= Number(process.hrtime.bigint() - started) / 1e6;
        });
        res.on("end", () => resolve(first ?? NaN));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}
