import type { Kysely } from "kysely";
import type { PlatformConfig } from "../config.ts";
import type { Logger } from "../lib/logger.ts";
import type { SecretBox } from "../lib/secret-box.ts";
import type { JobQueue } from "./jobs/queue.ts";
import type { PlatformMetrics } from "./metrics/metrics.ts";
import type { PlatformDatabase } from "./db/schema.ts";
import type { ResolveHost } from "./repos/host-guard.ts";

/** What every platform service needs; built once in `server.ts`, the composition root. */
export interface PlatformContext {
  db: Kysely<PlatformDatabase>;
  /** The live config: `port` and `publicUrl` carry the real port when started on port 0. */
  config: PlatformConfig;
  log: Logger;
  /** Seals and opens secrets with the master key. */
  secrets: SecretBox;
  /** DNS lookup of repository hosts (all addresses), replaceable in tests. */
  resolveHost: ResolveHost;
  now: () => Date;
  /** The durable job queue (builds); on the database, so shared by every process. */
  jobs: JobQueue;
  /** Prometheus metrics of this server instance (absent in contexts tests build by hand). */
  metrics?: PlatformMetrics;
}

export const isoNow = (ctx: Pick<PlatformContext, "now">): string => ctx.now().toISOString();
