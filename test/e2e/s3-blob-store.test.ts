import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { digestDeploy } from "../helpers/digest-deploy.ts";
import { sha1 } from "../helpers/digests.ts";
import { edgeGet } from "../helpers/e2e.ts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform.ts";
import { startTestS3, type TestS3 } from "../helpers/s3.ts";

/**
 * `SLIPWAY_BLOB_STORE=s3` end to end: a platform whose deploys live in a bucket of the strict
 * S3 fake. Digest deploys (one with a 20 MB file, sent in parts) are served by the edge, a
 * rollback serves the old content again, and every blob and manifest is in the bucket, none on
 * local disk.
 */

type Files = Record<string, string>;

const blobKey = (id: string): string => `blobs/${id.slice(0, 2)}/${id.slice(2)}`;

describe("deploys on S3", () => {
  let s3: TestS3;
  let t: TestPlatform;
  let siteId: string;
  const siteName = "on-s3";
  // 20 MB of text, so the edge's answer compares as a string.
  const big = randomBytes(10 * 1024 * 1024).toString("hex");
  const v1: Files = { "index.html": "<h1>v1</h1>", "big.txt": big, "same.css": "body{}" };
  const v2: Files = { "index.html": "<h1>v2</h1>", "big.txt": big, "same.css": "body{}" };

  before(async () => {
    s3 = await startTestS3();
    t = await startTestPlatform({
      config: { blobStore: s3.config },
      platform: { edgeTtlMs: 0, buildWorkers: false },
    });
    const site = await t.api<{ id: string }>("POST", "/sites", { body: { name: siteName } });
    assert.equal(site.status, 201, site.text);
    siteId = site.body.id;
  });
  after(async () => {
    await t?.stop();
    await s3?.stop();
  });

  /** Netlify's digest protocol (the shared helper), then the deploy must be ready. */
  const deploy = async (files: Files): Promise<{ id: string; required: string[] }> => {
    const deployed = await digestDeploy({ url: t.url, token: t.adminToken, siteId, files });
    const state = await t.api<{ state: string }>("GET", `/sites/${siteId}/deploys/${deployed.id}`);
    assert.equal(state.body.state, "ready");
    return deployed;
  };

  const serve = (path: string, headers: Record<string, string> = {}) =>
    edgeGet(t.url, `${siteName}.localhost`, path, { headers });

  it("serves a digest deploy from the bucket, a 20 MB file sent in parts", async () => {
    const from = s3.fake.requests.length;
    const first = await deploy(v1);
    assert.deepEqual(first.required.sort(), Object.values(v1).map(sha1).sort());
    const parts = s3.fake.requests.slice(from).filter((r) => r.key === blobKey(sha1(big)));
    assert.ok(parts.some((r) => r.operation === "CompleteMultipartUpload" && r.status === 200));
    assert.ok(parts.filter((r) => r.operation === "UploadPart").length >= 3);

    assert.equal((await serve("/")).body, "<h1>v1</h1>");
    const whole = await serve("/big.txt");
    assert.equal(whole.status, 200);
    assert.equal(whole.body.length, big.length);
    assert.ok(whole.body === big, "the 20 MB file comes back byte for byte");
    const ranged = await serve("/big.txt", { range: "bytes=15000000-15000009" });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.body, big.slice(15_000_000, 15_000_010));
  });

  it("asks only for what changed, and a rollback serves the old content again", async () => {
    const second = await deploy(v2);
    assert.deepEqual(second.required, [sha1("<h1>v2</h1>")]);
    assert.equal((await serve("/")).body, "<h1>v2</h1>");
    const rollback = await t.api("PUT", `/sites/${siteId}/rollback`);
    assert.equal(rollback.status, 204, rollback.text);
    assert.equal((await serve("/")).body, "<h1>v1</h1>");
    assert.equal((await serve("/same.css")).body, "body{}");
  });

  it("collects an unreferenced blob past the grace from the bucket, keeping live ones", async () => {
    const orphan = "uploaded for a deploy that never finished";
    await s3.client.send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: blobKey(sha1(orphan)), Body: orphan }),
    );
    const objects = s3.fake.objects(s3.bucket);
    const longAgo = new Date(Date.now() - 7 * 24 * 60 * 60 * 1000);
    // Everything looks old: only what a deploy refers to may stay.
    for (const object of objects.values()) object.lastModified = longAgo;
    const report = await t.platform.collectGarbage();
    assert.equal(report.blobsRemoved, 1);
    assert.equal(report.blobBytesFreed, orphan.length);
    assert.equal(objects.has(blobKey(sha1(orphan))), false);
    for (const data of Object.values(v1)) assert.ok(objects.has(blobKey(sha1(data))));
    assert.equal((await serve("/big.txt", { range: "bytes=0-3" })).body, big.slice(0, 4));
  });

  it("keeps every blob and manifest in the bucket and none on local disk", async () => {
    const keys = await s3.keys();
    for (const data of [...Object.values(v1), ...Object.values(v2)]) {
      assert.ok(keys.includes(blobKey(sha1(data))), `blob of ${data.slice(0, 20)} in the bucket`);
    }
    const deploys = await t.api<{ id: string; state: string }[]>("GET", `/sites/${siteId}/deploys`);
    for (const deploy of deploys.body.filter((d) => d.state === "ready")) {
      assert.ok(keys.includes(`manifests/${deploy.id}.json`), `manifest of ${deploy.id}`);
    }
    const local = join(t.dataDir, "deploys");
    const entries = await readdir(local).catch(() => [] as string[]);
    assert.ok(!entries.includes("blobs") && !entries.includes("manifests"), entries.join(", "));
  });
});
