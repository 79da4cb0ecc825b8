/**
 * The load generator of `bench/webhook-intake.ts`, run as its own (pinned) process:
 * `node --import tsx bench/lib/webhook-load.ts` with LOAD_CONFIG (JSON, below). It POSTs
 * GitLab push deliveries (`X-Gitlab-Event`, the secret in `X-Gitlab-Token`, a delivery id in
 * `Idempotency-Key`) over keep-alive connections, `concurrency` at a time, and prints one JSON
 * line: how many were answered with which status, their latencies, and the CPU it used.
 * The deliveries are made before the clock starts; duplicates repeat an earlier delivery
 * (same id and body: a provider's retry) or an earlier commit (new id: the same push seen
 * twice, e.g. from two hooks).
 */
import { randomBytes } from "node:crypto";
import { Agent, request } from "node:http";

interface LoadConfig {
  url: string;
  secret: string;
  branch: string;
  deliveries: number;
  concurrency: number;
  /** Shares (0–1) of redeliveries (same delivery id) and of repeated commits (new id). */
  sameDelivery: number;
  sameCommit: number;
  seed: number;
}

interface Delivery {
  id: string;
  commit: string;
  body: Buffer;
}

const config = JSON.parse(process.env.LOAD_CONFIG ?? "{}") as LoadConfig;

/** xorshift32: the same mix of duplicates in every run. */
let state = config.seed >>> 0 || 1;
const random = (): number => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
};

const deliveries: Delivery[] = [];
for (let i = 0; i < config.deliveries; i++) {
  const r = random();
  // A duplicate repeats a recent delivery, as a provider's retry or a second hook would.
  const earlier =
    deliveries[deliveries.length - 1 - Math.floor(random() * Math.min(50, deliveries.length))];
  if (earlier !== undefined && r < config.sameDelivery) {
    deliveries.push(earlier);
    continue;
  }
  const commit =
    earlier !== undefined && r < config.sameDelivery + config.sameCommit
      ? earlier.commit
      : randomBytes(20).toString("hex");
  const body = Buffer.from(
    JSON.stringify({
      object_kind: "push",
      event_name: "push",
      ref: `refs/heads/${config.branch}`,
      before: "0".repeat(39) + "1",
      after: commit,
      checkout_sha: commit,
      user_name: "Bench",
      commits: [{ id: commit, title: "Update the page", message: "Update the page\n" }],
      total_commits_count: 1,
    }),
  );
  deliveries.push({ id: randomBytes(16).toString("hex"), commit, body });
}

const url = new URL(config.url);
const agent = new Agent({ keepAlive: true, maxSockets: config.concurrency });
const statuses = new Map<number, number>();
const latencies: number[] = [];
let errors = 0;

function post(delivery: Delivery): Promise<void> {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": delivery.body.length,
          "x-gitlab-event": "Push Hook",
          "x-gitlab-token": config.secret,
          "idempotency-key": delivery.id,
          "user-agent": "GitLab/17.0.0",
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          latencies.push(performance.now() - started);
          statuses.set(res.statusCode ?? 0, (statuses.get(res.statusCode ?? 0) ?? 0) + 1);
          resolve();
        });
      },
    );
    req.on("error", () => {
      errors++;
      resolve();
    });
    req.end(delivery.body);
  });
}

const cpuBefore = process.cpuUsage();
const started = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: config.concurrency }, async () => {
    while (next < deliveries.length) await post(deliveries[next++]!);
  }),
);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
latencies.sort((a, b) => a - b);
const at = (q: number): number =>
  latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
agent.destroy();
console.log(
  JSON.stringify({
    sent: deliveries.length,
    distinctCommits: new Set(deliveries.map((d) => d.commit)).size,
    distinctDeliveries: new Set(deliveries.map((d) => d.id)).size,
    commits: [...new Set(deliveries.map((d) => d.commit))],
    seconds,
    perSecond: latencies.length / seconds,
    p50: at(0.5),
    p99: at(0.99),
    max: latencies[latencies.length - 1] ?? 0,
    statuses: Object.fromEntries(statuses),
    errors,
    cpuShare: (cpu.user + cpu.system) / 1e6 / seconds,
  }),
);
