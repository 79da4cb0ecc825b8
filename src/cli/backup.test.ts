import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { publishFiles } from "../../test/helpers/acme.ts";
import { rawRequest } from "../../test/helpers/edge.ts";
import { startTestPlatform } from "../../test/helpers/platform.ts";
import { backupCommand, restoreCommand } from "./backup.ts";

describe("slipway backup and restore", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const newDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), "slipway-backup-test-"));
    dirs.push(dir);
    return dir;
  };

  it("backs up a running platform and restores it into a fresh directory that serves the same sites", async () => {
    const [source, target, work] = [await newDir(), await newDir(), await newDir()];
    const masterKey = randomBytes(32);
    const first = await startTestPlatform({
      dataDir: join(source, "platform"),
      config: { masterKey },
      platform: { buildWorkers: false, edgeTtlMs: 0 },
    });
    const file = join(work, "slipway.tar");
    try {
      const site = await first.api<{ id: string }>("POST", "/sites", {
        body: { name: "kept", custom_domain: "kept.example.com" },
      });
      assert.equal(site.status, 201, site.text);
      await publishFiles(first, first.adminToken, site.body.id, { "index.html": "kept across" });
      // While it runs.
      assert.equal(await backupCommand([file], { SLIPWAY_DATA_DIR: source }), 0);
    } finally {
      await first.stop();
    }
    assert.equal((await stat(file)).mode & 0o777, 0o600);

    const fresh = join(target, "data");
    assert.equal(await restoreCommand([file], { SLIPWAY_DATA_DIR: fresh }), 0);
    // Never over an existing data directory.
    await writeFile(join(target, "occupied"), "x");
    assert.equal(await restoreCommand([file], { SLIPWAY_DATA_DIR: target }), 1);

    const second = await startTestPlatform({
      dataDir: join(fresh, "platform"),
      config: { masterKey },
      platform: { buildWorkers: false, edgeTtlMs: 0 },
    });
    try {
      const port = Number(new URL(second.url).port);
      for (const host of ["kept.localhost", "kept.example.com"]) {
        const res = await rawRequest(port, host, "/");
        assert.equal(res.status, 200, host);
        assert.equal(res.text, "kept across");
      }
    } finally {
      await second.stop();
    }
  });
});
