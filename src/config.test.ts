import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { allowEmbeddedForge, allowEmbeddedPlatform, ConfigError, loadConfig } from "./config.ts";

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

  it("lets the embedded forge's hooks reach its own platform, and no other local address", () => {
    const config = loadConfig({ SLIPWAY_FORGE_ALLOWED_WEBHOOK_HOSTS: "hooks.internal:9000" });
    assert.deepEqual(config.forge.allowedWebhookHosts, ["hooks.internal:9000"]);
    const forge = allowEmbeddedPlatform(config.forge, config.platform);
    assert.equal(forge.allowLocalWebhooks, false);
    assert.deepEqual(forge.allowedWebhookHosts, ["hooks.internal:9000", "127.0.0.1:8080"]);
    const everywhere = loadConfig({
      SLIPWAY_HOST: "0.0.0.0",
      SLIPWAY_PUBLIC_URL: "https://slipway.example.com",
    });
    assert.deepEqual(
      allowEmbeddedPlatform(everywhere.forge, everywhere.platform).allowedWebhookHosts,
      ["slipway.example.com:443", "0.0.0.0:8080"],
    );
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

  it("has the platform's documented defaults", () => {
    const { platform, dataDir } = loadConfig({});
    assert.equal(platform.dataDir, `${dataDir}/platform`);
    assert.equal(platform.host, "127.0.0.1");
    assert.equal(platform.port, 8080);
    assert.equal(platform.sitesDomain, "localhost");
    assert.equal(platform.publicUrl, "http://127.0.0.1:8080");
    assert.equal(platform.adminToken, undefined);
    assert.equal(platform.masterKey, undefined);
    const { toolchain: defaultToolchain, ...defaultBuilds } = platform.builds;
    assert.deepEqual(defaultToolchain, {
      allowHosts: [],
      npmRegistry: undefined,
      httpProxy: undefined,
      httpsProxy: undefined,
      noProxy: undefined,
      caFile: undefined,
      corepackIntegrityKeys: undefined,
      nodeVersionsDir: undefined,
    });
    assert.deepEqual(defaultBuilds, {
      workers: 2,
      leaseSeconds: 30,
      timeoutSeconds: 900,
      unsafeNoSandbox: false,
      limits: {
        memoryBytes: 2 * 1024 ** 3,
        maxProcesses: 1024,
        cpuWeight: 100,
        diskBytes: 10 * 1024 ** 3,
        minFreeDiskBytes: 1024 ** 3,
      },
      cache: { siteMaxBytes: 2 * 1024 ** 3, maxBytes: 20 * 1024 ** 3 },
    });
    assert.deepEqual(platform.allowedPrivateRepoHosts, []);
    assert.equal(
      loadConfig({ SLIPWAY_HOST: "0.0.0.0" }).platform.publicUrl,
      "http://127.0.0.1:8080",
    );
    assert.equal(loadConfig({ SLIPWAY_HOST: "::1" }).platform.publicUrl, "http://[::1]:8080");
  });

  it("reads every platform variable", () => {
    const key = Buffer.alloc(32, 7);
    const { platform } = loadConfig({
      SLIPWAY_PORT: "9090",
      SLIPWAY_SITES_DOMAIN: "Sites.Example.com.",
      SLIPWAY_ADMIN_TOKEN: "slp_0123456789abcdefghij",
      SLIPWAY_MASTER_KEY: key.toString("base64"),
      SLIPWAY_PUBLIC_URL: "https://deploy.example.com/",
      SLIPWAY_BUILD_WORKERS: "8",
      SLIPWAY_BUILD_TIMEOUT: "60",
      SLIPWAY_UNSAFE_NO_SANDBOX: "true",
      SLIPWAY_BUILD_MEMORY: "512M",
      SLIPWAY_BUILD_PIDS: "256",
      SLIPWAY_BUILD_CPU_WEIGHT: "50",
      SLIPWAY_BUILD_DISK: "1.5GiB",
      SLIPWAY_MIN_FREE_DISK: "0",
      SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS: " git.internal:22, 10.0.0.5 ,[FD00::1]:2222,",
      SLIPWAY_BUILD_ALLOW_HOSTS: "Npm.Internal, 10.20.0.0/16 fd12::/64",
      SLIPWAY_BUILD_NPM_REGISTRY: "https://npm.internal/repository/npm/",
      SLIPWAY_BUILD_HTTP_PROXY: "http://proxy.internal:3128",
      SLIPWAY_BUILD_HTTPS_PROXY: "http://proxy.internal:3128",
      SLIPWAY_BUILD_NO_PROXY: "npm.internal,.corp",
      SLIPWAY_BUILD_CA_FILE: "/etc/slipway/corp-ca.pem",
      SLIPWAY_BUILD_COREPACK_INTEGRITY_KEYS: "0",
      SLIPWAY_NODE_VERSIONS_DIR: "/opt/node",
      SLIPWAY_BUILD_CACHE_SITE_MAX: "256M",
      SLIPWAY_BUILD_CACHE_MAX: "4G",
    });
    assert.equal(platform.port, 9090);
    assert.equal(platform.sitesDomain, "sites.example.com");
    assert.equal(platform.adminToken, "slp_0123456789abcdefghij");
    assert.deepEqual(platform.masterKey, key);
    assert.equal(platform.publicUrl, "https://deploy.example.com");
    const { toolchain, ...builds } = platform.builds;
    assert.deepEqual(toolchain, {
      allowHosts: [
        { kind: "host", name: "npm.internal" },
        { kind: "range", family: 4, text: "10.20.0.0/16" },
        { kind: "range", family: 6, text: "fd12::/64" },
      ],
      npmRegistry: "https://npm.internal/repository/npm",
      httpProxy: "http://proxy.internal:3128",
      httpsProxy: "http://proxy.internal:3128",
      noProxy: "npm.internal,.corp",
      caFile: "/etc/slipway/corp-ca.pem",
      corepackIntegrityKeys: "0",
      nodeVersionsDir: "/opt/node",
    });
    assert.deepEqual(builds, {
      workers: 8,
      leaseSeconds: 30,
      timeoutSeconds: 60,
      unsafeNoSandbox: true,
      limits: {
        memoryBytes: 512 * 1024 ** 2,
        maxProcesses: 256,
        cpuWeight: 50,
        diskBytes: 1.5 * 1024 ** 3,
        minFreeDiskBytes: 0,
      },
      cache: { siteMaxBytes: 256 * 1024 ** 2, maxBytes: 4 * 1024 ** 3 },
    });
    assert.deepEqual(platform.allowedPrivateRepoHosts, [
      "git.internal:22",
      "10.0.0.5",
      "[fd00::1]:2222",
    ]);
  });

  it("names the platform variable and the problem for a bad value", () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ SLIPWAY_PORT: "80a" }, /SLIPWAY_PORT="80a" is not a TCP port/],
      [
        { SLIPWAY_SITES_DOMAIN: "bad_domain" },
        /SLIPWAY_SITES_DOMAIN="bad_domain" is not a DNS name/,
      ],
      [{ SLIPWAY_ADMIN_TOKEN: "short" }, /SLIPWAY_ADMIN_TOKEN must be 20 to 255/],
      [
        { SLIPWAY_MASTER_KEY: "dG9vIHNob3J0" },
        /SLIPWAY_MASTER_KEY must be 32 random bytes in base64/,
      ],
      [{ SLIPWAY_MASTER_KEY: "not base64 at all!" }, /SLIPWAY_MASTER_KEY must be 32 random bytes/],
      [{ SLIPWAY_PUBLIC_URL: "ftp://x" }, /SLIPWAY_PUBLIC_URL must be an http:\/\/ or https:\/\//],
      [
        { SLIPWAY_BUILD_WORKERS: "0" },
        /SLIPWAY_BUILD_WORKERS=0 runs no builds on this node: that needs SLIPWAY_DATABASE_URL/,
      ],
      [
        { SLIPWAY_BUILD_WORKERS: "65" },
        /SLIPWAY_BUILD_WORKERS="65" must be a whole number from 0 to 64/,
      ],
      [
        { SLIPWAY_JOB_LEASE_SECONDS: "1" },
        /SLIPWAY_JOB_LEASE_SECONDS="1" must be a whole number from 2 to 3600/,
      ],
      [
        { SLIPWAY_BUILD_TIMEOUT: "15m" },
        /SLIPWAY_BUILD_TIMEOUT="15m" must be a whole number from 10 to 86400/,
      ],
      [
        { SLIPWAY_UNSAFE_NO_SANDBOX: "maybe" },
        /SLIPWAY_UNSAFE_NO_SANDBOX="maybe" must be true or false/,
      ],
      [
        { SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS: "git.internal:99999" },
        /SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS: "git.internal:99999" is not a host or host:port/,
      ],
      [
        { SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS: "ok.example, -oProxyCommand=x" },
        /"-oProxyCommand=x" is not a host/,
      ],
      [{ SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS: "[::1" }, /is not a host/],
      [
        { SLIPWAY_BUILD_MEMORY: "2 gigs" },
        /SLIPWAY_BUILD_MEMORY="2 gigs" must be a size like 512M or 2G .* of at least 64 MiB/,
      ],
      [{ SLIPWAY_BUILD_MEMORY: "1M" }, /SLIPWAY_BUILD_MEMORY="1M" must be a size/],
      [{ SLIPWAY_BUILD_DISK: "-5G" }, /SLIPWAY_BUILD_DISK="-5G" must be a size/],
      [{ SLIPWAY_BUILD_CACHE_MAX: "lots" }, /SLIPWAY_BUILD_CACHE_MAX="lots" must be a size/],
      [{ SLIPWAY_MIN_FREE_DISK: "lots" }, /SLIPWAY_MIN_FREE_DISK="lots" must be a size/],
      [{ SLIPWAY_BUILD_PIDS: "4" }, /SLIPWAY_BUILD_PIDS="4" must be a whole number from 16/],
      [
        { SLIPWAY_BUILD_ALLOW_HOSTS: "registry.example, 10.0.0.0/40" },
        /SLIPWAY_BUILD_ALLOW_HOSTS: "10.0.0.0\/40" is neither a host name nor an IP address or CIDR/,
      ],
      [
        { SLIPWAY_BUILD_ALLOW_HOSTS: "10.1.0.0/16 169.254.169.254" },
        /SLIPWAY_BUILD_ALLOW_HOSTS: 169\.254\.169\.254 is a cloud metadata \/ link-local range, which builds never reach, whatever is listed/,
      ],
      [{ SLIPWAY_BUILD_ALLOW_HOSTS: "127.0.0.1" }, /127\.0\.0\.1 is the platform's own address/],
      [
        { SLIPWAY_BUILD_NPM_REGISTRY: "ftp://mirror" },
        /SLIPWAY_BUILD_NPM_REGISTRY must be an http/,
      ],
    ];
    for (const [env, message] of bad) {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, message);
          return true;
        },
        JSON.stringify(env),
      );
    }
  });

  it("never repeats a bad master key in its message", () => {
    const secret = "c2VjcmV0LWJ1dC13cm9uZy1sZW5ndGg=";
    assert.throws(
      () => loadConfig({ SLIPWAY_MASTER_KEY: secret }),
      (error: unknown) => error instanceof ConfigError && !error.message.includes(secret),
    );
  });

  it("allows the built-in forge's SSH and HTTP addresses as repository hosts under `slipway start`", () => {
    const config = loadConfig({
      SLIPWAY_FORGE_SSH_PORT: "2200",
      SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS: "git.internal",
    });
    const platform = allowEmbeddedForge(config.platform, config.forge);
    assert.deepEqual(platform.allowedPrivateRepoHosts, [
      "git.internal",
      "127.0.0.1:2200",
      "127.0.0.1:3000",
    ]);
    assert.deepEqual(
      config.platform.allowedPrivateRepoHosts,
      ["git.internal"],
      "the input is not changed",
    );
    const again = allowEmbeddedForge(platform, config.forge);
    assert.deepEqual(again.allowedPrivateRepoHosts, platform.allowedPrivateRepoHosts);
  });
});
