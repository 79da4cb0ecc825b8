import { ConfigError, type Env, readInteger } from "./config-env.ts";

/** What runs builds on this node (docs/scale-out.md, "Roles"). */
export interface BuildRole {
  /** Builds that run at the same time (each site builds one at a time); 0: none on this node. */
  workers: number;
  /**
   * How long a job's lease lasts (`SLIPWAY_JOB_LEASE_SECONDS`, 30): a crashed worker's job runs
   * again elsewhere once it expires. Unset (configs built by hand in tests): 30 s.
   */
  leaseSeconds?: number;
}

export function readBuildRole(env: Env): BuildRole {
  const workers = readInteger(env, "SLIPWAY_BUILD_WORKERS", 2, { min: 0, max: 64 });
  // On SQLite nothing else shares this node's queue: with no workers, no build would ever run.
  if (workers === 0 && !env.SLIPWAY_DATABASE_URL) {
    throw new ConfigError(
      "SLIPWAY_BUILD_WORKERS=0 runs no builds on this node: that needs SLIPWAY_DATABASE_URL, so that `slipway worker` processes sharing the database run them (docs/scale-out.md).",
    );
  }
  return {
    workers,
    leaseSeconds: readInteger(env, "SLIPWAY_JOB_LEASE_SECONDS", 30, { min: 2, max: 3600 }),
  };
}

/** How a node's edge caches (docs/scale-out.md, "Publishing on every node"). */
export interface EdgeRole {
  /**
   * How long the edge keeps a host → deploy answer (`SLIPWAY_EDGE_HOST_CACHE_MS`, 500). A
   * publish or domain change forgets it at once on every node (on Postgres through
   * `LISTEN/NOTIFY`); the expiry bounds what a lost notification costs. Unset: 500 ms.
   */
  edgeHostCacheMs?: number;
}

export function readEdgeRole(env: Env): EdgeRole {
  return {
    edgeHostCacheMs: readInteger(env, "SLIPWAY_EDGE_HOST_CACHE_MS", 500, {
      min: 0,
      max: 3_600_000,
    }),
  };
}
