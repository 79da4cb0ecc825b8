import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  addForgeDeployKey,
  createPushedProject,
  edgeGet,
  repoWithDeployKey,
  startForgeAndPlatform,
  type WorkingCopy,
} from "../helpers/e2e.ts";
import type { TestForge } from "../helpers/forge.ts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform.ts";
import { createDeployKey, createSite, waitForBuild } from "../helpers/sites.ts";
import { postWebhook, signedHeaders } from "../helpers/webhooks.ts";

/**
 * Prometheus metrics as an operator scrapes them: the token is asked for, and between two
 * scrapes the counters move by exactly what happened — one push, one build with its stages,
 * one job taken, three edge requests, one refused webhook delivery. Also the separate listener
 * (`SLIPWAY_METRICS_ADDRESS`) and the certificate-expiry gauge.
 */

const TOKEN = "metrics-token-0123456789abcdef";

/** `name{labels}` → value, from the text format. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** GET /metrics with `token` (null: none). */
async function scrape(url: string, token: string | null = TOKEN): Promise<Response> {
  return fetch(`${url}/metrics`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
}

async function values(url: string): Promise<Map<string, number>> {
  const res = await scrape(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
}

describe("metrics", () => {
  let forge: TestForge;
  let platform: TestPlatform;
  let repo: WorkingCopy | undefined;

  before(async () => {
    ({ forge, platform } = await startForgeAndPlatform({
      metrics: { token: TOKEN, address: undefined },
    }));
  });

  after(async () => {
    await platform?.stop();
    await forge?.stop();
    await repo?.cleanup();
  });

  it("answers 401 without the token, on the platform and on the forge", async () => {
    for (const url of [platform.url, forge.url]) {
      const missing = await scrape(url, null);
      assert.equal(missing.status, 401);
      assert.match(missing.headers.get("www-authenticate") ?? "", /^Bearer /);
      assert.doesNotMatch(await missing.text(), /slipway_|process_cpu/);
      assert.equal((await scrape(url, `${TOKEN}x`)).status, 401);
      const ok = await scrape(url);
      assert.equal(ok.status, 200);
      const text = await ok.text();
      // Node's default process metrics, in this server's own registry.
      assert.match(text, /^process_cpu_user_seconds_total \d/m);
      assert.match(text, /^nodejs_eventloop_lag_seconds \d/m);
    }
  });

  it("moves by exactly one push, one build, three edge requests and one refused delivery", async () => {
    const platformBefore = await values(platform.url);
    const forgeBefore = await values(forge.url);

    const pushed = await createPushedProject(forge, "owner", "web", {
      "index.html": "<h1>measured</h1>\n",
      "build.sh": "mkdir -p dist && cp index.html dist/\n",
    });
    repo = pushed.repo;
    const alice = await platform.createTenant("alice");
    const key = await createDeployKey(platform, alice.token);
    await addForgeDeployKey(forge, pushed.project, pushed.owner, key.public_key);
    const site = await createSite(platform, alice.token, {
      name: "measured",
      repo: repoWithDeployKey(pushed.project, key.id),
    });
    assert.equal((await waitForBuild(platform, site.build_id!, alice.token)).state, "done");

    const host = `${site.name}.localhost`;
    assert.equal((await edgeGet(platform.url, host, "/")).status, 200);
    assert.equal((await edgeGet(platform.url, host, "/")).status, 200);
    assert.equal((await edgeGet(platform.url, host, "/missing")).status, 404);
    const body = JSON.stringify({ object_kind: "push" });
    const refused = await postWebhook(
      site.git_webhook!.url,
      signedHeaders("gitlab", "not-the-secret", body),
      body,
    );
    assert.equal(refused.status, 401, JSON.stringify(refused.body));

    const platformAfter = await values(platform.url);
    const forgeAfter = await values(forge.url);
    const delta = (a: Map<string, number>, b: Map<string, number>, key: string) =>
      (b.get(key) ?? 0) - (a.get(key) ?? 0);
    const moved = (key: string) => delta(platformBefore, platformAfter, key);
    const sum = (map: Map<string, number>, prefix: string) =>
      [...map].filter(([k]) => k.startsWith(prefix)).reduce((total, [, v]) => total + v, 0);

    assert.equal(moved('slipway_builds_total{state="ready"}'), 1);
    assert.equal(moved('slipway_builds_total{state="error"}'), 0);
    for (const stage of ["preparing_repo", "building", "deploying"]) {
      assert.equal(moved(`slipway_build_stage_duration_seconds_count{stage="${stage}"}`), 1, stage);
    }
    assert.equal(moved('slipway_queue_wait_seconds_count{queue="build"}'), 1);
    assert.equal(moved('slipway_edge_requests_total{class="2xx"}'), 2);
    assert.equal(moved('slipway_edge_requests_total{class="4xx"}'), 1);
    assert.equal(moved('slipway_edge_requests_total{class="5xx"}'), 0);
    assert.equal(moved("slipway_edge_request_duration_seconds_count"), 3);
    // The first read of index.html fills the hot cache, the second is answered from it.
    assert.equal(moved("slipway_edge_hot_cache_misses_total"), 1);
    assert.equal(moved("slipway_edge_hot_cache_hits_total"), 1);
    assert.ok((platformAfter.get("slipway_edge_hot_cache_bytes") ?? 0) > 0);
    assert.equal(
      sum(platformAfter, "slipway_webhook_deliveries_total") -
        sum(platformBefore, "slipway_webhook_deliveries_total"),
      1,
    );
    assert.equal(
      moved('slipway_webhook_deliveries_total{provider="gitlab",outcome="rejected"}'),
      1,
    );
    assert.ok((platformAfter.get("slipway_data_disk_free_bytes") ?? 0) > 0);

    const forgeMoved = (key: string) => delta(forgeBefore, forgeAfter, key);
    assert.equal(
      forgeMoved('slipway_forge_git_operations_total{transport="http",command="receive-pack"}'),
      1,
      "the owner's push",
    );
    assert.equal(
      forgeMoved('slipway_forge_git_operations_total{transport="ssh",command="upload-pack"}'),
      1,
      "the build's fetch",
    );
  });

  it("reports each domain's certificate expiry", async () => {
    const { db } = platform.platform.ctx;
    const site = await db.selectFrom("sites").select("id").executeTakeFirstOrThrow();
    const notAfter = "2031-05-01T00:00:00.000Z";
    await db
      .insertInto("site_certificates")
      .values({
        site_id: site.id,
        source: "custom",
        state: "active",
        reason: null,
        domains: JSON.stringify(["shop.example.com", "www.shop.example.com"]),
        certificate_pem: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        ca_certificates_pem: null,
        private_key_sealed: null,
        not_before: "2026-01-01T00:00:00.000Z",
        not_after: notAfter,
        renew_at: null,
        attempts: 0,
        next_attempt_at: null,
        renewal_failures: 0,
        created_at: notAfter,
        updated_at: notAfter,
      })
      .execute();
    const after = await values(platform.url);
    for (const domain of ["shop.example.com", "www.shop.example.com"]) {
      assert.equal(
        after.get(`slipway_certificate_expiry_timestamp_seconds{domain="${domain}"}`),
        Date.parse(notAfter) / 1000,
      );
    }
  });
});

describe("metrics on an address of their own", () => {
  let t: TestPlatform;

  before(async () => {
    t = await startTestPlatform({
      config: { metrics: { token: TOKEN, address: "127.0.0.1:0" } },
    });
  });

  after(async () => {
    await t?.stop();
  });

  it("serves /metrics only there, and still asks for the token", async () => {
    const port = t.platform.metricsPort;
    assert.ok(port !== undefined && port > 0);
    const own = `http://127.0.0.1:${port}`;
    assert.equal((await scrape(own, null)).status, 401);
    const ok = await scrape(own);
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /^# TYPE slipway_edge_requests_total counter$/m);
    // The public port does not serve it at all.
    const elsewhere = await scrape(t.url);
    assert.equal(elsewhere.status, 404);
    assert.equal((await fetch(`${own}/other`)).status, 404);
  });
});
