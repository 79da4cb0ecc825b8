import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { withoutPassword } from "../../src/cli/migrate-to.ts";
import { sha1 } from "../helpers/digests.ts";
import { digestDeploy } from "../helpers/digest-deploy.ts";
import { edgeGet } from "../helpers/e2e.ts";
import { startTestPlatform } from "../helpers/platform.ts";
import { startTestPostgres, type TestPostgres } from "../helpers/postgres.ts";
import { startTestS3, type TestS3 } from "../helpers/s3.ts";

/**
 * `slipway migrate-to`: an embedded install (SQLite, deploys on local disk) with a tenant, a
 * published site, a sealed environment variable and queued work is copied into an empty
 * Postgres database and an S3 bucket; a platform started on those alone (a fresh data
 * directory, the same master key) serves the site, knows the tenant's token, opens the sealed
 * value, still has the work to do, and takes new rows (sequences moved past the copied ids).
 */

type Files = Record<string, string>;

const BIN = join(import.meta.dirname, "..", "..", "bin", "slipway.js");

describe("slipway migrate-to", () => {
  let pg: TestPostgres;
  let s3: TestS3;
  let sourceDir: string;
  const masterKey = randomBytes(32);
  const files: Files = { "index.html": "<h1>moved</h1>", "style.css": "h1{color:teal}" };
  let token: string;
  let accountSlug: string;
  let siteId: string;
  let auditEvents: number;

  before(async () => {
    [pg, s3] = await Promise.all([startTestPostgres(), startTestS3()]);
    sourceDir = await mkdtemp(join(tmpdir(), "slipway-migrate-"));
    const source = await startTestPlatform({
      // Where SLIPWAY_DATA_DIR=sourceDir keeps the platform's state.
      dataDir: join(sourceDir, "platform"),
      config: { masterKey, databaseUrl: undefined, blobStore: undefined },
      platform: { buildWorkers: false },
    });
    try {
      const alice = await source.createTenant("alice");
      token = alice.token;
      accountSlug = alice.accountSlug;
      const site = await source.api<{ id: string }>("POST", "/sites", {
        token,
        body: { name: "moving" },
      });
      assert.equal(site.status, 201, site.text);
      siteId = site.body.id;
      await digestDeploy({ url: source.url, token, siteId, files });
      const secret = await source.api("POST", `/accounts/${accountSlug}/env`, {
        token,
        body: [{ key: "API_KEY", is_secret: true, values: [{ value: "s3cr3t", context: "all" }] }],
      });
      assert.equal(secret.status, 201, secret.text);
      // Work still queued when the install stopped (no worker handles this queue).
      await source.platform.ctx.jobs.enqueue({
        queue: "migrate-test",
        payload: { site: siteId },
        dedupeKey: "migrate-test:queued",
      });
      const audit = await source.api<unknown[]>(
        "GET",
        `/accounts/${alice.accountId}/audit?per_page=100`,
        { token },
      );
      assert.equal(audit.status, 200, audit.text);
      auditEvents = audit.body.length;
    } finally {
      await source.stop();
    }
  });

  after(async () => {
    await s3?.stop();
    await pg?.stop();
    if (sourceDir) await rm(sourceDir, { recursive: true, force: true });
  });

  const env = (): Record<string, string> => ({
    SLIPWAY_DATA_DIR: sourceDir,
    SLIPWAY_MASTER_KEY: masterKey.toString("base64"),
    SLIPWAY_S3_BUCKET: s3.bucket,
    SLIPWAY_S3_ENDPOINT: s3.config.endpoint!,
    SLIPWAY_S3_FORCE_PATH_STYLE: "true",
    AWS_REGION: s3.config.region!,
    AWS_ACCESS_KEY_ID: s3.fake.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.fake.credentials.secretAccessKey,
    SLIPWAY_LOG_LEVEL: "silent",
    PATH: process.env.PATH ?? "",
  });

  /** `slipway migrate-to …` as a process of its own (the S3 SDK reads its environment). */
  const slipway = (args: string[]): Promise<{ code: number; output: string }> =>
    new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [BIN, "migrate-to", ...args],
        { env: env(), timeout: 120_000 },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
          if (code === -1) reject(error ?? new Error("no exit code"));
          else resolve({ code, output: stdout + stderr });
        },
      );
    });

  it("refuses a missing or non-Postgres URL and unknown options, without touching anything", async () => {
    assert.equal((await slipway([])).code, 2);
    assert.equal((await slipway(["--database-url", "mysql://x/y"])).code, 2);
    assert.equal((await slipway(["--frobnicate"])).code, 2);
    const nfs = await slipway(["--database-url", "postgres://h/d", "--blob-store", "nfs"]);
    assert.equal(nfs.code, 2);
    assert.match(nfs.output, /--blob-store is local or s3, not nfs/);
    assert.equal(
      withoutPassword("postgres://slipway:hunter2@db:5432/s"),
      "postgres://slipway:***@db:5432/s",
    );
  });

  it("copies the install into Postgres and S3, and a node on them alone carries on", async () => {
    const databaseUrl = await pg.createDatabase();
    const migrated = await slipway(["--database-url", databaseUrl, "--blob-store", "s3"]);
    assert.equal(migrated.code, 0, migrated.output);
    assert.match(migrated.output, /Deploy files: 2 copied/);
    const blobKeys = await s3.keys("blobs/");
    for (const data of Object.values(files)) {
      assert.ok(blobKeys.includes(`blobs/${sha1(data).slice(0, 2)}/${sha1(data).slice(2)}`));
    }

    const target = await startTestPlatform({
      config: { masterKey, databaseUrl, blobStore: s3.config },
      platform: { buildWorkers: false, edgeTtlMs: 0 },
    });
    try {
      const served = await edgeGet(target.url, "moving.localhost", "/style.css");
      assert.equal(served.status, 200);
      assert.equal(served.body, files["style.css"]);

      const sites = await target.api<{ id: string }[]>("GET", "/sites", { token });
      assert.equal(sites.status, 200, sites.text);
      assert.deepEqual(
        sites.body.map((s) => s.id),
        [siteId],
      );
      // The sealed value opens with the same master key (the build's environment reads it).
      const secret = await target.api<{ values: { value?: string }[] }>(
        "GET",
        `/accounts/${accountSlug}/env/API_KEY`,
        { token },
      );
      assert.equal(secret.status, 200, secret.text);
      const job = await target.platform.ctx.jobs.findByDedupeKey("migrate-test:queued");
      assert.deepEqual(
        { state: job?.state, payload: job && JSON.parse(job.payload) },
        { state: "pending", payload: { site: siteId } },
        "the queued work is still queued",
      );
      // New rows after the copied ones: an audited change and its event.
      const renamed = await target.api("PATCH", `/sites/${siteId}`, {
        token,
        body: { name: "moved" },
      });
      assert.equal(renamed.status, 200, renamed.text);
      const audit = await target.api<unknown[]>(
        "GET",
        `/accounts/${accountSlug}/audit?per_page=100`,
        { token },
      );
      assert.equal(audit.body.length, auditEvents + 1, audit.text);
    } finally {
      await target.stop();
    }

    // A second run finds the database filled and refuses.
    const again = await slipway(["--database-url", databaseUrl]);
    assert.equal(again.code, 1);
    assert.match(again.output, /already holds Slipway data/);
  });
});
