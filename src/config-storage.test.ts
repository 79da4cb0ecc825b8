import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "./config.ts";

const GIB = 1024 ** 3;

describe("loadConfig: storage, quotas and request limits", () => {
  it("has the documented defaults", () => {
    const { platform, forge } = loadConfig({});
    assert.deepEqual(platform.storage, {
      keepDeploys: 50,
      keepDeployDays: 30,
      gcGraceSeconds: 3600,
      gcIntervalSeconds: 21_600,
    });
    assert.deepEqual(platform.quotas, { storageBytes: 10 * GIB, sites: 100, concurrentBuilds: 2 });
    assert.equal(platform.webhookBodyConcurrency, 64);
    assert.equal(forge.maxPushBytes, GIB);
    assert.deepEqual(forge.httpTimeouts, { headersMs: 20_000, requestMs: 900_000 });
  });

  it("reads every variable", () => {
    const { platform, forge } = loadConfig({
      SLIPWAY_KEEP_DEPLOYS: "5",
      SLIPWAY_KEEP_DEPLOY_DAYS: "0",
      SLIPWAY_GC_GRACE_SECONDS: "600",
      SLIPWAY_GC_INTERVAL_SECONDS: "0",
      SLIPWAY_QUOTA_STORAGE: "512M",
      SLIPWAY_QUOTA_SITES: "0",
      SLIPWAY_QUOTA_CONCURRENT_BUILDS: "4",
      SLIPWAY_WEBHOOK_BODY_CONCURRENCY: "8",
      SLIPWAY_FORGE_MAX_PUSH_SIZE: "2G",
      SLIPWAY_FORGE_HEADERS_TIMEOUT: "5",
      SLIPWAY_FORGE_REQUEST_TIMEOUT: "60",
    });
    assert.deepEqual(platform.storage, {
      keepDeploys: 5,
      keepDeployDays: 0,
      gcGraceSeconds: 600,
      gcIntervalSeconds: 0,
    });
    assert.deepEqual(platform.quotas, {
      storageBytes: 512 * 1024 ** 2,
      sites: 0,
      concurrentBuilds: 4,
    });
    assert.equal(platform.webhookBodyConcurrency, 8);
    assert.equal(forge.maxPushBytes, 2 * GIB);
    assert.deepEqual(forge.httpTimeouts, { headersMs: 5000, requestMs: 60_000 });
  });

  it("refuses values that would make storage unsafe, naming the variable", () => {
    assert.throws(() => loadConfig({ SLIPWAY_KEEP_DEPLOYS: "0" }), ConfigError);
    assert.throws(
      () => loadConfig({ SLIPWAY_GC_GRACE_SECONDS: "5" }),
      /SLIPWAY_GC_GRACE_SECONDS="5" must be a whole number from 60/,
    );
    assert.throws(
      () => loadConfig({ SLIPWAY_FORGE_MAX_PUSH_SIZE: "lots" }),
      /SLIPWAY_FORGE_MAX_PUSH_SIZE="lots" must be a size like 512M/,
    );
    assert.throws(() => loadConfig({ SLIPWAY_QUOTA_STORAGE: "-1" }), ConfigError);
  });
});
