import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readdir, rm, utimes, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import type { StoragePolicy } from "../../config.ts";
import { sha1 } from "../../../test/helpers/digests.ts";
import { edgeGet } from "../../../test/helpers/e2e.ts";
import { waitUntil } from "../../../test/helpers/wait.ts";
import { GC_QUEUE } from "./schedule.ts";
import { backupCommand } from "../../cli/backup.ts";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../test/helpers/platform.ts";

/**
 * The garbage collector on a real platform over HTTP: retention expires old deploys (the API
 * shows it, restore answers 410), a dry run frees nothing and says what a run would, a run
 * frees exactly the unreferenced blobs past the grace period, and a deploy that relies on an
 * old blob while a run is under way keeps it.
 */

type Files = Record<string, string>;

const POLICY: StoragePolicy = {
  keepDeploys: 1,
  keepDeployDays: 0,
  gcGraceSeconds: 3600,
  gcIntervalSeconds: 0,
};

describe("garbage collection and retention", () => {
  const masterKey = randomBytes(32);
  let root: string;
  let dataDir: string;
  let t: TestPlatform;
  let alice: Tenant;

  const start = async (): Promise<void> => {
    t = await startTestPlatform({
      dataDir,
      config: { masterKey, storage: POLICY },
      platform: { edgeTtlMs: 0, buildWorkers: false },
    });
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "slipway-gc-"));
    // Searchable, so that the builds' work root stays under the data directory (builds/dirs.ts).
    await chmod(root, 0o711);
    dataDir = join(root, "platform");
    await start();
    alice = await t.createTenant("alice");
  });
  after(async () => {
    await t.stop();
    await rm(root, { recursive: true, force: true });
  });

  const blobsDir = (): string => join(dataDir, "deploys", "blobs");
  const blobPath = (content: string): string => {
    const digest = sha1(content);
    return join(blobsDir(), digest.slice(0, 2), digest.slice(2));
  };

  /** An hour and more passes for every file of the store (a restart forgets what was seen). */
  const ageEverything = async (): Promise<void> => {
    await t.stop();
    const old = new Date(Date.now() - 2 * 3600_000);
    for (const shard of await readdir(blobsDir())) {
      for (const name of await readdir(join(blobsDir(), shard))) {
        await utimes(join(blobsDir(), shard, name), old, old);
      }
    }
    await start();
  };

  /** One file of a digest deploy, as alice. */
  const upload = async (deployId: string, path: string, data: string): Promise<void> => {
    const res = await fetch(`${t.url}/api/v1/deploys/${deployId}/files/${path}`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${alice.token}`,
        "content-type": "application/octet-stream",
      },
      body: Buffer.from(data),
    });
    assert.equal(res.status, 200, await res.text());
  };

  const deploy = async (siteId: string, files: Files): Promise<string> => {
    const created = await t.api<{ id: string }>("POST", `/sites/${siteId}/deploys`, {
      token: alice.token,
      body: {
        files: Object.fromEntries(Object.entries(files).map(([p, d]) => [p, sha1(d)])),
        draft: false,
      },
    });
    assert.equal(created.status, 200, created.text);
    const required = (created.body as unknown as { required: string[] }).required;
    for (const [path, data] of Object.entries(files)) {
      if (!required.includes(sha1(data))) continue;
      await upload(created.body.id, path, data);
    }
    const final = await t.api<{ state: string }>("GET", `/deploys/${created.body.id}`, {
      token: alice.token,
    });
    assert.equal(final.body.state, "ready", final.text);
    return created.body.id;
  };

  it("expires deploys past retention, reports a dry run, and frees only their blobs", async () => {
    const site = await t.api<{ id: string; name: string }>("POST", "/sites", {
      token: alice.token,
      body: { name: "gc-history" },
    });
    assert.equal(site.status, 201, site.text);
    const v1 = await deploy(site.body.id, { "index.html": "v1 home", "shared.css": "shared" });
    const v2 = await deploy(site.body.id, { "index.html": "v2 home", "shared.css": "shared" });
    const v3 = await deploy(site.body.id, { "index.html": "v3 home", "shared.css": "shared" });
    // Leftovers of a crashed upload and build, an hour old.
    const uploads = join(dataDir, "deploys", "uploads");
    await writeFile(join(uploads, ".zip-crashed"), "x".repeat(100));
    await ageEverything();
    const workDir = join(dataDir, "builds", "work", "0123456789abcdef01234567");
    await mkdir(workDir, { recursive: true });
    const old = new Date(Date.now() - 2 * 3600_000);
    await utimes(join(uploads, ".zip-crashed"), old, old);
    await utimes(workDir, old, old);

    const dry = await t.platform.collectGarbage({ dryRun: true });
    assert.equal(dry.expiredDeploys, 2);
    assert.equal(dry.blobsRemoved, 2);
    assert.equal(dry.blobBytesFreed, "v1 home".length + "v2 home".length);
    assert.equal(dry.leftoversRemoved, 2);
    assert.ok(existsSync(blobPath("v1 home")), "a dry run deletes nothing");
    const stillThere = await t.api<{ expired_at: string | null }>("GET", `/deploys/${v1}`, {
      token: alice.token,
    });
    assert.equal(stillThere.body.expired_at, null, "a dry run expires nothing");

    const run = await t.platform.collectGarbage();
    assert.deepEqual(
      { ...run, dryRun: true },
      dry,
      "the run frees exactly what the dry run said it would",
    );
    assert.ok(!existsSync(blobPath("v1 home")));
    assert.ok(!existsSync(blobPath("v2 home")));
    assert.ok(existsSync(blobPath("v3 home")));
    assert.ok(existsSync(blobPath("shared")));
    assert.ok(!existsSync(join(uploads, ".zip-crashed")));
    assert.ok(!existsSync(workDir));
    assert.ok(t.logs.some((line) => line.includes('"msg":"garbage collected"')));

    const home = await edgeGet(t.url, `${site.body.name}.localhost`, "/");
    assert.equal(home.body, "v3 home");
    const css = await edgeGet(t.url, `${site.body.name}.localhost`, "/shared.css");
    assert.equal(css.body, "shared");

    const permalink = await edgeGet(t.url, `${v1}--${site.body.name}.localhost`, "/");
    assert.equal(permalink.status, 404, "an expired deploy is not served at its own URL");
    const expired = await t.api<{ expired_at: string | null }>("GET", `/deploys/${v2}`, {
      token: alice.token,
    });
    assert.equal(expired.status, 200);
    assert.ok(expired.body.expired_at !== null, "the API shows the deploy expired");
    const restore = await t.api<{ message: string }>(
      "POST",
      `/sites/${site.body.id}/deploys/${v1}/restore`,
      { token: alice.token },
    );
    assert.equal(restore.status, 410, restore.text);
    assert.match(restore.body.message, /SLIPWAY_KEEP_DEPLOYS/);
    const current = await t.api<{ published_deploy: { id: string } }>(
      "GET",
      `/sites/${site.body.id}`,
      { token: alice.token },
    );
    assert.equal(current.body.published_deploy.id, v3);

    const again = await t.platform.collectGarbage();
    assert.equal(again.blobsRemoved + again.expiredDeploys + again.leftoversRemoved, 0);
  });

  it("keeps an old blob that a deploy finishing during the run relies on", async () => {
    const site = await t.api<{ id: string; name: string }>("POST", "/sites", {
      token: alice.token,
      body: { name: "gc-race" },
    });
    await deploy(site.body.id, { "index.html": "race v1", "old.txt": "old but wanted" });
    await deploy(site.body.id, { "index.html": "race v2" });
    // "old but wanted" is now referenced only by an expiring deploy, and an hour old.
    await ageEverything();

    let during: string | undefined;
    const run = await t.platform.collectGarbage({
      afterMark: async () => {
        // Declared while the run is between its mark and its sweep: the old blob is not
        // uploaded again (alice provided it before), and "new during gc" is uploaded.
        during = await deploy(site.body.id, {
          "index.html": "race v3",
          "again.txt": "old but wanted",
          "fresh.txt": "new during gc",
        });
      },
    });
    assert.ok(during !== undefined);
    assert.equal(run.expiredDeploys, 1);
    assert.ok(existsSync(blobPath("old but wanted")), "the relied-on blob survived the sweep");
    assert.ok(existsSync(blobPath("new during gc")), "a blob written during the run survived");
    const again = await edgeGet(t.url, `${site.body.name}.localhost`, "/again.txt");
    assert.equal(again.status, 200);
    assert.equal(again.body, "old but wanted");
    const fresh = await edgeGet(t.url, `${site.body.name}.localhost`, "/fresh.txt");
    assert.equal(fresh.body, "new during gc");
  });

  it("removes the staged uploads of a deploy that will not finish, and keeps a live deploy's", async () => {
    const site = await t.api<{ id: string }>("POST", "/sites", {
      token: alice.token,
      body: { name: "gc-staged" },
    });
    const startDeploy = async (files: Files): Promise<string> => {
      const digests = Object.fromEntries(Object.entries(files).map(([p, d]) => [p, sha1(d)]));
      const created = await t.api<{ id: string }>("POST", `/sites/${site.body.id}/deploys`, {
        token: alice.token,
        body: { files: digests },
      });
      const [path, data] = Object.entries(files)[0]!;
      await upload(created.body.id, path, data);
      return created.body.id;
    };
    const cancelled = await startDeploy({ "a.txt": "staged, then cancelled", "b.txt": "b" });
    const live = await startDeploy({ "c.txt": "staged, still uploading", "d.txt": "d" });
    const cancel = await t.api("POST", `/deploys/${cancelled}/cancel`, { token: alice.token });
    assert.equal(cancel.status, 201, cancel.text);
    const staging = (id: string): string => join(dataDir, "deploys", "staging", id);
    const old = new Date(Date.now() - 2 * 3600_000);
    for (const id of [cancelled, live]) await utimes(staging(id), old, old);

    const run = await t.platform.collectGarbage();
    assert.equal(existsSync(staging(cancelled)), false, "a cancelled deploy's uploads go");
    assert.equal(existsSync(staging(live)), true, "a deploy still taking uploads keeps them");
    assert.ok(run.leftoversRemoved >= 1);
    await t.api("POST", `/deploys/${live}/cancel`, { token: alice.token });
    await rm(staging(live), { recursive: true, force: true });
  });

  it("lets one collection run at a time, and keeps backups and collections apart", async () => {
    const backups = await mkdtemp(join(tmpdir(), "slipway-gc-backups-"));
    const first = t.platform.collectGarbage({
      afterMark: async () => {
        await assert.rejects(t.platform.collectGarbage(), /another garbage collection/);
        // A backup copies the database, then the files: no blob may go in between.
        const refused = await backupCommand([join(backups, "refused.tar")], {
          SLIPWAY_DATA_DIR: root,
        });
        assert.equal(refused, 1);
      },
    });
    await first;
    const file = join(backups, "backup.tar");
    assert.equal(await backupCommand([file], { SLIPWAY_DATA_DIR: root }), 0);
    await rm(backups, { recursive: true });
    // The backup gave the lease back, and its copy does not keep it.
    const after = await t.platform.collectGarbage({ dryRun: false });
    assert.equal(after.dryRun, false);
  });

  it("runs from the command line, while the platform runs: slipway gc --dry-run, slipway gc", async () => {
    const site = await t.api<{ id: string; name: string }>("POST", "/sites", {
      token: alice.token,
      body: { name: "gc-cli" },
    });
    await deploy(site.body.id, { "index.html": "cli v1 ".repeat(100) });
    await deploy(site.body.id, { "index.html": "cli v2" });
    await ageEverything();
    const bytes = "cli v1 ".repeat(100).length;
    const slipway = (args: string[]) =>
      promisify(execFile)(
        process.execPath,
        [join(import.meta.dirname, "..", "..", "..", "bin", "slipway.js"), ...args],
        {
          env: {
            PATH: process.env.PATH,
            SLIPWAY_DATA_DIR: root,
            SLIPWAY_KEEP_DEPLOYS: "1",
            SLIPWAY_KEEP_DEPLOY_DAYS: "0",
          },
        },
      );
    const dry = await slipway(["gc", "--dry-run"]);
    assert.match(dry.stdout, /Deploys past retention: 1 would expire/);
    assert.match(dry.stdout, new RegExp(`1 would be removed, .* \\(${bytes} bytes\\)`));
    assert.ok(existsSync(blobPath("cli v1 ".repeat(100))));
    const run = await slipway(["gc"]);
    assert.match(run.stdout, new RegExp(`Blobs: .* 1 be removed, .* \\(${bytes} bytes\\)`));
    assert.match(run.stdout, /Freed /);
    assert.ok(!existsSync(blobPath("cli v1 ".repeat(100))));
    const home = await edgeGet(t.url, `${site.body.name}.localhost`, "/");
    assert.equal(home.body, "cli v2");
  });
});

describe("garbage collection on a schedule", () => {
  it("runs through the job queue where the workers run, and logs what it freed", async () => {
    const t = await startTestPlatform({
      config: { storage: { ...POLICY, gcIntervalSeconds: 1 } },
    });
    try {
      await waitUntil(
        () => t.logs.some((line) => line.includes('"msg":"garbage collected"')),
        "a scheduled garbage collection",
      );
      const job = await t.platform.ctx.db
        .selectFrom("jobs")
        .select(["queue", "state"])
        .where("queue", "=", GC_QUEUE)
        .where("state", "=", "completed")
        .executeTakeFirst();
      assert.deepEqual(job, { queue: GC_QUEUE, state: "completed" });
    } finally {
      await t.stop();
    }
  });
});
