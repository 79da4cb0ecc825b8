import type { Kysely } from "kysely";
import type { StatsFs } from "node:fs";
import { statfs } from "node:fs/promises";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { createMetricsRegistry } from "../../lib/metrics.ts";
import type { PlatformDatabase } from "../db/schema.ts";
import { blobStoreBytes } from "./disk.ts";
import { EdgeRequestMetrics } from "./edge-requests.ts";

/**
 * The platform's metrics, all `slipway_*`, with bounded labels only (states, stages, job kinds,
 * providers, outcomes, status classes; the certificate gauge's `domain` is bounded by the
 * sites). Call sites use the one-line methods below; what is cheaper to read at scrape time
 * (queue depth, blob bytes, disk, certificate expiry, hot-cache counters) is read then, in
 * `collect()`. docs/operations.md says what each one means.
 */

export type BuildEndState = "ready" | "error" | "cancelled";
export type BuildStage = "preparing_repo" | "building" | "deploying";
export type LinkCheckResult = "healthy" | "broken" | "unknown";

/** What the metrics read at scrape time; each part is optional (tests build only some). */
export interface PlatformMetricsSources {
  db?: Kysely<PlatformDatabase>;
  /** The deploy store's root (`<data>/platform/deploys`): blob bytes and free disk. */
  deployRoot?: string;
  /** The edge's hot cache, read at scrape time. */
  hotCache?: () => { bytes: number; hits: number; misses: number };
  /** The HTTPS listener's TLS handshakes so far, and how many resumed a session. */
  tlsHandshakes?: () => { handshakes: number; resumed: number };
  /** The job queue's due jobs per queue (`JobQueue.dueJobs`: its tables differ per database). */
  dueJobs?: () => Promise<{ queue: string; count: number; oldestDueAt: string }[]>;
}

const SECONDS_BUCKETS_SLOW = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export class PlatformMetrics {
  readonly registry: Registry;
  private readonly sources: PlatformMetricsSources = {};
  private readonly builds: Counter<"state">;
  private readonly stageSeconds: Histogram<"stage">;
  private readonly queueWait: Histogram<"queue">;
  private readonly webhooks: Counter<"provider" | "outcome">;
  private readonly linkChecks: Counter<"result">;
  /** Plain numbers on the hot path (`edge-requests.ts`). */
  private readonly edge: EdgeRequestMetrics;

  constructor(sources: PlatformMetricsSources = {}) {
    this.sources = sources;
    const registers = [(this.registry = createMetricsRegistry())];
    const db = (): Kysely<PlatformDatabase> | undefined => this.sources.db;
    // The queue's own view: on Postgres its jobs are graphile-worker's, not the `jobs` table.
    const dueJobs = async () => (await this.sources.dueJobs?.()) ?? [];

    this.builds = new Counter({
      name: "slipway_builds_total",
      help: "Builds that ended, by final state (ready, error, cancelled).",
      labelNames: ["state"],
      registers,
    });
    this.stageSeconds = new Histogram({
      name: "slipway_build_stage_duration_seconds",
      help: "How long each build stage took (preparing_repo, building, deploying).",
      labelNames: ["stage"],
      buckets: SECONDS_BUCKETS_SLOW,
      registers,
    });
    new Gauge({
      name: "slipway_queue_depth",
      help: "Durable jobs due to run and not yet taken by a worker, per job kind.",
      labelNames: ["queue"],
      registers,
      async collect() {
        this.reset();
        for (const row of await dueJobs()) this.set({ queue: row.queue }, row.count);
      },
    });
    new Gauge({
      name: "slipway_queue_oldest_age_seconds",
      help: "Age of the oldest due job not yet taken by a worker, per job kind (0: none).",
      labelNames: ["queue"],
      registers,
      async collect() {
        this.reset();
        const now = Date.now();
        for (const row of await dueJobs()) {
          this.set({ queue: row.queue }, Math.max(0, (now - Date.parse(row.oldestDueAt)) / 1000));
        }
      },
    });
    this.queueWait = new Histogram({
      name: "slipway_queue_wait_seconds",
      help: "Time from when a job was due to when a worker took it, per job kind.",
      labelNames: ["queue"],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900],
      registers,
    });
    this.webhooks = new Counter({
      name: "slipway_webhook_deliveries_total",
      help: "Git webhook deliveries received, by provider and outcome.",
      labelNames: ["provider", "outcome"],
      registers,
    });
    this.linkChecks = new Counter({
      name: "slipway_link_checks_total",
      help: "Checks of a site's link to its repository, by result.",
      labelNames: ["result"],
      registers,
    });
    this.edge = new EdgeRequestMetrics(this.registry);
    const cache = (): { bytes: number; hits: number; misses: number } | undefined =>
      this.sources.hotCache?.();
    scrapedCounter(
      registers,
      "slipway_edge_hot_cache_hits_total",
      "Edge file reads answered from memory.",
      () => cache()?.hits,
    );
    scrapedCounter(
      registers,
      "slipway_edge_hot_cache_misses_total",
      "Edge file reads that went to the blob store.",
      () => cache()?.misses,
    );
    scrapedCounter(
      registers,
      "slipway_tls_handshakes_total",
      "TLS handshakes completed on the HTTPS listener.",
      () => this.sources.tlsHandshakes?.().handshakes,
    );
    scrapedCounter(
      registers,
      "slipway_tls_resumed_handshakes_total",
      "TLS handshakes on the HTTPS listener that resumed an earlier session (no full key exchange).",
      () => this.sources.tlsHandshakes?.().resumed,
    );
    new Gauge({
      name: "slipway_edge_hot_cache_bytes",
      help: "Bytes of file content (and compressed variants) held in the edge's memory.",
      registers,
      collect() {
        const stats = cache();
        if (stats) this.set(stats.bytes);
      },
    });
    const deployRoot = (): string | undefined => this.sources.deployRoot;
    new Gauge({
      name: "slipway_blob_store_bytes",
      help: "Bytes of deploy files in the content-addressed blob store (re-read at most once a minute).",
      registers,
      async collect() {
        const root = deployRoot();
        if (root !== undefined) this.set(await blobStoreBytes(root));
      },
    });
    const diskGauge = (name: string, help: string, read: (fs: StatsFs) => number) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const root = deployRoot();
          if (root !== undefined) this.set(read(await statfs(root)));
        },
      });
    diskGauge(
      "slipway_data_disk_free_bytes",
      "Bytes available to Slipway on the file system of the data directory.",
      (fs) => fs.bavail * fs.bsize,
    );
    diskGauge(
      "slipway_data_disk_size_bytes",
      "Size of the file system of the data directory.",
      (fs) => fs.blocks * fs.bsize,
    );
    new Gauge({
      name: "slipway_certificate_expiry_timestamp_seconds",
      help: "When each domain's current certificate expires (Unix time), per domain.",
      labelNames: ["domain"],
      registers,
      async collect() {
        this.reset();
        const rows = await db()
          ?.selectFrom("site_certificates")
          .select(["domains", "not_after"])
          .where("not_after", "is not", null)
          .where("certificate_pem", "is not", null)
          .execute();
        for (const row of rows ?? []) {
          const expires = Date.parse(row.not_after!) / 1000;
          for (const domain of parseDomains(row.domains)) this.set({ domain }, expires);
        }
      },
    });
  }

  /** The parts read at scrape time, once the server has made them. */
  attach(sources: PlatformMetricsSources): void {
    Object.assign(this.sources, sources);
  }

  buildEnded(state: BuildEndState): void {
    this.builds.inc({ state });
  }

  /** Records a stage that began at `sinceMs` (`Date.now()`); returns now, the next one's start. */
  buildStage(stage: BuildStage, sinceMs: number): number {
    const now = Date.now();
    this.stageSeconds.observe({ stage }, (now - sinceMs) / 1000);
    return now;
  }

  /** A worker took a job of `queue` that was due at `dueAt` (ISO time). */
  jobTaken(queue: string, dueAt: string): void {
    const waited = (Date.now() - Date.parse(dueAt)) / 1000;
    if (Number.isFinite(waited)) this.queueWait.observe({ queue }, Math.max(0, waited));
  }

  webhookDelivery(provider: string | null, outcome: string): void {
    this.webhooks.inc({ provider: provider ?? "unknown", outcome });
  }

  linkChecked(result: LinkCheckResult): void {
    this.linkChecks.inc({ result });
  }

  /** The edge's one call per request: `startedMs` from `performance.now()`. */
  edgeServed(status: number, startedMs: number): void {
    this.edge.served(status, startedMs);
  }
}

function parseDomains(json: string): string[] {
  try {
    const value: unknown = JSON.parse(json);
    return Array.isArray(value) ? value.filter((d): d is string => typeof d === "string") : [];
  } catch {
    return [];
  }
}

/** Records a build stage that began at `sinceMs` (when metrics are on); returns the next start. */
export function stageEnded(
  metrics: PlatformMetrics | undefined,
  stage: BuildStage,
  sinceMs: number,
): number {
  return metrics?.buildStage(stage, sinceMs) ?? Date.now();
}

/** A counter kept elsewhere (as a plain number, off the hot path) and read at scrape time. */
function scrapedCounter(
  registers: Registry[],
  name: string,
  help: string,
  read: () => number | undefined,
): void {
  new Counter({
    name,
    help,
    registers,
    collect() {
      const value = read();
      if (value === undefined) return;
      this.reset();
      this.inc(value);
    },
  });
}
