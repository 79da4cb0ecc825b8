import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sha1 } from "../../../test/helpers/digests.ts";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../test/helpers/platform.ts";
import { BUILD_QUEUE } from "../builds/service.ts";
import type { JobHandler } from "../jobs/workers.ts";
import { withBuildQuota } from "./build-slots.ts";

/**
 * Per-account quotas on a real platform: reported as Netlify's account `capabilities`, enforced
 * with a 403 naming the quota and the usage (sites, storage), overridden per account by an
 * administrator; a build past the concurrent builds quota waits in the queue.
 */

interface Capability {
  included: number | null;
  used: number;
}
interface AccountBody {
  id: string;
  capabilities: Record<"sites" | "storage" | "concurrent_builds", Capability>;
}

describe("account quotas", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let bob: Tenant;

  before(async () => {
    t = await startTestPlatform({
      config: { quotas: { storageBytes: 100, sites: 2, concurrentBuilds: 1 } },
      platform: { buildWorkers: false },
    });
    alice = await t.createTenant("alice");
    bob = await t.createTenant("bob");
  });
  after(() => t.stop());

  const account = (tenant: Tenant) =>
    t.api<AccountBody>("GET", `/accounts/${tenant.accountId}`, { token: tenant.token });
  const createSite = (tenant: Tenant, name: string) =>
    t.api<{ id: string; message: string }>("POST", "/sites", {
      token: tenant.token,
      body: { name },
    });

  it("reports each quota with what is used, to the account's members only", async () => {
    const res = await account(alice);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.capabilities, {
      sites: { included: 2, used: 0 },
      storage: { included: 100, used: 0 },
      concurrent_builds: { included: 1, used: 0 },
    });
    const bySlug = await t.api<AccountBody>("GET", `/accounts/${alice.accountSlug}`, {
      token: alice.token,
    });
    assert.equal(bySlug.body.id, alice.accountId);
    const other = await t.api("GET", `/accounts/${alice.accountId}`, { token: bob.token });
    assert.equal(other.status, 404);
  });

  it("refuses a site past the sites quota, until an administrator raises it", async () => {
    assert.equal((await createSite(alice, "quota-one")).status, 201);
    assert.equal((await createSite(alice, "quota-two")).status, 201);
    const third = await createSite(alice, "quota-three");
    assert.equal(third.status, 403, third.text);
    assert.match(
      third.body.message,
      /sites quota reached: the account has 2 sites of the 2 included/,
    );
    assert.match(third.body.message, /SLIPWAY_QUOTA_SITES/);

    const notAdmin = await t.api("PUT", `/admin/accounts/${alice.accountId}/quotas`, {
      token: alice.token,
      body: { sites: 3 },
    });
    assert.equal(notAdmin.status, 403);
    const raised = await t.api<{ capabilities: AccountBody["capabilities"] }>(
      "PUT",
      `/admin/accounts/${alice.accountSlug}/quotas`,
      { body: { sites: 3 } },
    );
    assert.equal(raised.status, 200, raised.text);
    assert.deepEqual(raised.body.capabilities.sites, { included: 3, used: 2 });
    assert.equal((await createSite(alice, "quota-three")).status, 201);
    const bad = await t.api("PUT", `/admin/accounts/${alice.accountId}/quotas`, {
      body: { sites: -1 },
    });
    assert.equal(bad.status, 422);
  });

  it("refuses new deploys once kept deploys fill the storage quota", async () => {
    const site = await createSite(bob, "bob-storage");
    const content = "x".repeat(150);
    const created = await t.api<{ id: string; required: string[] }>(
      "POST",
      `/sites/${site.body.id}/deploys`,
      { token: bob.token, body: { files: { "index.html": sha1(content) } } },
    );
    assert.equal(created.status, 200, created.text);
    const upload = await fetch(`${t.url}/api/v1/deploys/${created.body.id}/files/index.html`, {
      method: "PUT",
      headers: { authorization: `Bearer ${bob.token}`, "content-type": "application/octet-stream" },
      body: content,
    });
    assert.equal(upload.status, 200);
    assert.deepEqual((await account(bob)).body.capabilities.storage, { included: 100, used: 150 });
    const next = await t.api<{ message: string }>("POST", `/sites/${site.body.id}/deploys`, {
      token: bob.token,
      body: { files: { "index.html": sha1("y") } },
    });
    assert.equal(next.status, 403, next.text);
    assert.match(next.body.message, /storage quota reached: .*150 bytes.*SLIPWAY_QUOTA_STORAGE/);
  });

  it("keeps a build waiting in the queue while the account runs its quota of builds", async () => {
    // 0: no sites limit for bob from now on.
    const unlimited = await t.api<{ capabilities: AccountBody["capabilities"] }>(
      "PUT",
      `/admin/accounts/${bob.accountId}/quotas`,
      { body: { sites: 0 } },
    );
    assert.equal(unlimited.body.capabilities.sites.included, null);
    // Linked sites: each is created with its first build, queued (no workers here).
    const linked = async (name: string): Promise<string> => {
      const site = await t.api<{ id: string }>("POST", "/sites", {
        token: bob.token,
        body: { name, repo: { repo_url: "https://github.com/bob/site.git" } },
      });
      assert.equal(site.status, 201, site.text);
      const build = await ctx.db
        .selectFrom("builds")
        .select("id")
        .where("site_id", "=", site.body.id)
        .executeTakeFirstOrThrow();
      return build.id;
    };
    const ctx = t.platform.ctx;
    const running = { build: { id: await linked("bob-builds") } };
    await ctx.db
      .updateTable("builds")
      .set({ state: "building" })
      .where("id", "=", running.build.id)
      .execute();
    const waiting = { build: { id: await linked("bob-builds-2") } };
    const started: string[] = [];
    const inner: JobHandler = {
      run: async (job) => {
        started.push((job.payload as { buildId: string }).buildId);
        return "done";
      },
    };
    const handler = withBuildQuota(ctx, inner, 10);
    const lease = async () => {
      const job = await ctx.jobs.lease("test", [BUILD_QUEUE], 30_000);
      assert.ok(job);
      return job;
    };
    // The running build's own job is leased first; the waiting build's is the one that matters.
    const job = await (async () => {
      for (;;) {
        const leased = await lease();
        if ((leased.payload as { buildId: string }).buildId === waiting.build.id) return leased;
        await ctx.jobs.complete(leased.id, "test");
      }
    })();
    assert.equal(await handler.run(job, new AbortController().signal), "released");
    await ctx.jobs.release(job.id, "test");
    assert.deepEqual(started, []);
    const state = await ctx.db
      .selectFrom("builds")
      .select("state")
      .where("id", "=", waiting.build.id)
      .executeTakeFirstOrThrow();
    assert.equal(state.state, "enqueued", "the build waits; it does not fail");
    assert.deepEqual((await account(bob)).body.capabilities.concurrent_builds, {
      included: 1,
      used: 1,
    });

    await ctx.db
      .updateTable("builds")
      .set({ state: "done" })
      .where("id", "=", running.build.id)
      .execute();
    const again = await lease();
    assert.equal(await handler.run(again, new AbortController().signal), "done");
    assert.deepEqual(started, [waiting.build.id]);
  });
});
