import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "./config.ts";

describe("build roles in the config", () => {
  it("lets a node sharing a Postgres database run no builds", () => {
    const { builds } = loadConfig({
      SLIPWAY_DATABASE_URL: "postgres://slipway@db.internal/slipway",
      SLIPWAY_BUILD_WORKERS: "0",
      SLIPWAY_JOB_LEASE_SECONDS: "5",
    }).platform;
    assert.equal(builds.workers, 0);
    assert.equal(builds.leaseSeconds, 5);
  });

  it("keeps two workers and a 30 s lease by default", () => {
    const { builds } = loadConfig({}).platform;
    assert.equal(builds.workers, 2);
    assert.equal(builds.leaseSeconds, 30);
  });

  it("reads how long the edge keeps a host's deploy", () => {
    assert.equal(loadConfig({}).platform.edgeHostCacheMs, 500);
    assert.equal(
      loadConfig({ SLIPWAY_EDGE_HOST_CACHE_MS: "60000" }).platform.edgeHostCacheMs,
      60_000,
    );
    assert.throws(
      () => loadConfig({ SLIPWAY_EDGE_HOST_CACHE_MS: "1h" }),
      /SLIPWAY_EDGE_HOST_CACHE_MS="1h" must be a whole number from 0 to 3600000/,
    );
  });
});
