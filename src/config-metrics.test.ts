import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "./config.ts";

describe("loadConfig: metrics", () => {
  it("serves no /metrics unless a token or an address is set", () => {
    const config = loadConfig({});
    assert.deepEqual(config.platform.metrics, { token: undefined, address: undefined });
    assert.deepEqual(config.forge.metrics, { token: undefined, address: undefined });
  });

  it("shares the token and gives each server its own address", () => {
    const config = loadConfig({
      SLIPWAY_METRICS_TOKEN: "a-metrics-token-of-24-ch",
      SLIPWAY_METRICS_ADDRESS: "127.0.0.1:9464",
      SLIPWAY_FORGE_METRICS_ADDRESS: "[::1]:9465",
    });
    assert.deepEqual(config.platform.metrics, {
      token: "a-metrics-token-of-24-ch",
      address: "127.0.0.1:9464",
    });
    assert.deepEqual(config.forge.metrics, {
      token: "a-metrics-token-of-24-ch",
      address: "[::1]:9465",
    });
  });

  it("refuses a short token and an address without a port, naming the variable", () => {
    assert.throws(
      () => loadConfig({ SLIPWAY_METRICS_TOKEN: "short" }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /^SLIPWAY_METRICS_TOKEN must be 20 to 255 characters/);
        return true;
      },
    );
    for (const address of ["127.0.0.1", "localhost:99999", ":9464", "a b:1"]) {
      assert.throws(
        () => loadConfig({ SLIPWAY_METRICS_ADDRESS: address }),
        /SLIPWAY_METRICS_ADDRESS=.* must be host:port/,
        address,
      );
    }
  });
});
