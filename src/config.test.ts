import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "./config.ts";

describe("loadConfig", () => {
  it("has the documented defaults", () => {
    const config = loadConfig({});
    assert.equal(config.host, "127.0.0.1");
    assert.equal(config.forge.httpPort, 3000);
    assert.equal(config.forge.sshPort, 2222);
    assert.equal(config.forge.publicUrl, "http://127.0.0.1:3000");
    assert.equal(config.forge.allowLocalWebhooks, false);
    assert.equal(config.forge.rootToken, undefined);
    assert.match(config.dataDir, /\.slipway$/);
    assert.equal(config.forge.dataDir, `${config.dataDir}/forge`);
  });

  it("reads every variable", () => {
    const config = loadConfig({
      SLIPWAY_DATA_DIR: "/srv/slipway",
      SLIPWAY_HOST: "0.0.0.0",
      SLIPWAY_FORGE_HTTP_PORT: "3100",
      SLIPWAY_FORGE_SSH_PORT: "2200",
      SLIPWAY_FORGE_ROOT_TOKEN: "glpat-0123456789abcdefghij",
      SLIPWAY_FORGE_ALLOW_LOCAL_WEBHOOKS: "true",
      SLIPWAY_FORGE_PUBLIC_URL: "https://git.example.com/",
    });
    assert.equal(config.dataDir, "/srv/slipway");
    assert.equal(config.forge.httpPort, 3100);
    assert.equal(config.forge.sshPort, 2200);
    assert.equal(config.forge.rootToken, "glpat-0123456789abcdefghij");
    assert.equal(config.forge.allowLocalWebhooks, true);
    assert.equal(config.forge.publicUrl, "https://git.example.com");
    assert.equal(config.forge.sshHost, "127.0.0.1");
  });

  it("names the variable and the problem for a bad value", () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ SLIPWAY_FORGE_HTTP_PORT: "http" }, /SLIPWAY_FORGE_HTTP_PORT="http" is not a TCP port/],
      [{ SLIPWAY_FORGE_SSH_PORT: "70000" }, /SLIPWAY_FORGE_SSH_PORT/],
      [{ SLIPWAY_HOST: "bad host;rm" }, /SLIPWAY_HOST/],
      [{ SLIPWAY_FORGE_ALLOW_LOCAL_WEBHOOKS: "yes please" }, /must be true or false/],
      [{ SLIPWAY_FORGE_ROOT_TOKEN: "short" }, /SLIPWAY_FORGE_ROOT_TOKEN must be 20 to 255/],
      [{ SLIPWAY_FORGE_PUBLIC_URL: "ftp://x" }, /http:\/\/ or https:\/\//],
      [{ SLIPWAY_LOG_LEVEL: "loud" }, /SLIPWAY_LOG_LEVEL/],
    ];
    for (const [env, message] of bad) {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, message);
          return true;
        },
      );
    }
  });
});
