import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ConfigError, type PlatformConfig } from "../config.ts";
import { createLogger } from "../lib/logger.ts";
import { testResolver } from "../../test/helpers/platform.ts";
import { startPlatform } from "./server.ts";

const silent = createLogger({ name: "platform-server-test", level: "silent" });

function configFor(dataDir: string, overrides: Partial<PlatformConfig> = {}): PlatformConfig {
  return {
    dataDir,
    host: "127.0.0.1",
    port: 0,
    sitesDomain: "sites.test",
    publicUrl: "http://127.0.0.1:0",
    adminToken: undefined,
    masterKey: undefined,
    builds: { workers: 1, timeoutSeconds: 60, unsafeNoSandbox: false },
    allowedPrivateRepoHosts: [],
    ...overrides,
  };
}

const get = async (
  url: string,
  token?: string,
): Promise<{ status: number; body: Record<string, unknown> }> => {
  const response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

describe("startPlatform", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const dataDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), "slipway-platform-server-"));
    dirs.push(dir);
    return dir;
  };

  it("answers /healthz, generates the admin token and master key once (0600), and keeps data across restarts", async () => {
    const dir = await dataDir();
    const first = await startPlatform(configFor(dir), silent, { resolveHost: testResolver() });
    let token: string;
    let siteId: string;
    let secret: unknown;
    try {
      assert.deepEqual(await get(`${first.url}/healthz`), { status: 200, body: { status: "ok" } });
      token = first.generatedAdminToken ?? "";
      assert.match(token, /^slp_/);
      assert.equal((await readFile(join(dir, "admin-token"), "utf8")).trim(), token);
      assert.equal((await stat(join(dir, "admin-token"))).mode & 0o777, 0o600);
      assert.equal((await stat(join(dir, "master.key"))).mode & 0o777, 0o600);
      const key = Buffer.from((await readFile(join(dir, "master.key"), "utf8")).trim(), "base64");
      assert.equal(key.length, 32);
      assert.equal(first.ctx.config.publicUrl, first.url, "port 0 is replaced by the real port");

      const me = await get(`${first.url}/api/v1/user`, token);
      assert.equal(me.body.admin, true);
      const created = await fetch(`${first.url}/api/v1/sites`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({
          name: "survivor",
          repo: { repo_url: "https://github.com/a/b.git" },
        }),
      });
      const site = (await created.json()) as {
        id: string;
        url: string;
        git_webhook: { secret: string };
      };
      assert.equal(site.url, `http://survivor.sites.test:${new URL(first.url).port}`);
      siteId = site.id;
      secret = site.git_webhook.secret;
    } finally {
      await first.stop();
    }

    const second = await startPlatform(configFor(dir), silent);
    try {
      assert.equal(second.generatedAdminToken, undefined, "the token is generated only once");
      const site = await get(`${second.url}/api/v1/sites/${siteId}`, token);
      assert.equal(site.status, 200);
      assert.deepEqual((site.body.git_webhook as { secret: string }).secret, secret);
    } finally {
      await second.stop();
    }
  });

  it("uses SLIPWAY_ADMIN_TOKEN and SLIPWAY_MASTER_KEY when given (no files written)", async () => {
    const dir = await dataDir();
    const adminToken = "slp_configured-admin-token-0123456789";
    const running = await startPlatform(
      configFor(dir, { adminToken, masterKey: randomBytes(32) }),
      silent,
    );
    try {
      assert.equal(running.generatedAdminToken, undefined);
      assert.equal((await get(`${running.url}/api/v1/user`, adminToken)).status, 200);
      assert.equal(existsSync(join(dir, "admin-token")), false);
      assert.equal(existsSync(join(dir, "master.key")), false);
    } finally {
      await running.stop();
    }
  });

  it("refuses to start with a master key other than the one the database was sealed with", async () => {
    const dir = await dataDir();
    const first = await startPlatform(configFor(dir, { masterKey: randomBytes(32) }), silent);
    await first.stop();
    await assert.rejects(
      startPlatform(configFor(dir, { masterKey: randomBytes(32) }), silent),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(
          error.message,
          /SLIPWAY_MASTER_KEY\) is not the key this platform database was sealed with/,
        );
        return true;
      },
    );
  });
});
