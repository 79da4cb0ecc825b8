import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { NetlifyAPI } from "@netlify/api";
import { sha1 } from "../../../../test/helpers/digests.ts";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";
import { createSite } from "../../../../test/helpers/sites.ts";
import { poll } from "../../../../test/helpers/wait.ts";

interface TokenBody {
  id: string;
  name: string;
  scope: string;
  expires_at: string | null;
  token: string;
}

/** The status and message of a rejected `@netlify/api` call. */
async function refusal(run: () => Promise<unknown>): Promise<{ status: number; message: string }> {
  const error = (await run().then(
    () => assert.fail("expected a refusal"),
    (e: unknown) => e,
  )) as { status: number; json: { message: string } };
  return { status: error.status, message: error.json.message };
}

describe("access token scopes and expiry", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let siteId: string;

  const createToken = async (body: Record<string, unknown>) =>
    t.api<TokenBody>("POST", "/access_tokens", { token: alice.token, body });
  const client = (token: string) =>
    new NetlifyAPI(token, {
      scheme: "http",
      host: new URL(t.url).host,
      pathPrefix: "/api/v1",
    });

  before(async () => {
    t = await startTestPlatform({ platform: { buildWorkers: false } });
    alice = await t.createTenant("alice");
    siteId = (await createSite(t, alice.token, { name: "scoped" })).id;
    const env = await t.api("POST", `/accounts/${alice.accountSlug}/env?site_id=${siteId}`, {
      token: alice.token,
      body: [
        { key: "API_SECRET", is_secret: false, values: [{ value: "hunter2", context: "all" }] },
      ],
    });
    assert.equal(env.status, 201, env.text);
  });
  after(() => t.stop());

  it("lets a deploy-scoped token deploy with @netlify/api, and nothing beyond", async () => {
    const created = await createToken({ name: "ci", scope: "deploy" });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.scope, "deploy");
    const ci = client(created.body.token);

    const site = (await ci.getSite({ site_id: siteId })) as { id: string };
    assert.equal(site.id, siteId);
    const html = "<h1>from CI</h1>";
    const deploy = (await ci.createSiteDeploy({
      site_id: siteId,
      body: { files: { "/index.html": sha1(html) } },
    })) as { id: string; required: string[] };
    assert.deepEqual(deploy.required, [sha1(html)]);
    await ci.uploadDeployFile({
      deploy_id: deploy.id,
      path: "index.html",
      body: Buffer.from(html),
    } as never);
    await poll(async () => {
      const seen = (await ci.getSiteDeploy({ site_id: siteId, deploy_id: deploy.id })) as {
        state: string;
      };
      return seen.state === "ready" ? seen : undefined;
    }, "the deploy to be ready");

    const deleting = await refusal(() => ci.deleteSite({ site_id: siteId }));
    assert.equal(deleting.status, 403);
    assert.match(
      deleting.message,
      /deploy scope .* does not allow DELETE \/api\/v1\/sites\/:site_id/,
    );
    const env = await refusal(() =>
      ci.getEnvVars({ account_id: alice.accountSlug, site_id: siteId }),
    );
    assert.equal(env.status, 403);
    assert.match(env.message, /deploy scope/);
    const minting = await t.api("POST", "/access_tokens", {
      token: created.body.token,
      body: { name: "escalate" },
    });
    assert.equal(minting.status, 403, minting.text);
    assert.equal((await t.api("GET", `/sites/${siteId}`, { token: alice.token })).status, 200);
  });

  it("lets a read-scoped token only GET", async () => {
    const created = await createToken({ name: "dashboard-export", scope: "read" });
    assert.equal(created.status, 201, created.text);
    const token = created.body.token;
    assert.equal((await t.api("GET", `/sites/${siteId}`, { token })).status, 200);
    const patch = await t.api<{ message: string }>("PATCH", `/sites/${siteId}`, {
      token,
      body: { name: "renamed" },
    });
    assert.equal(patch.status, 403, patch.text);
    assert.match(patch.body.message, /read scope, which allows only GET requests/);
  });

  it("refuses to open a dashboard session with a scoped token", async () => {
    const created = await createToken({ name: "ci-2", scope: "deploy" });
    const answer = await fetch(`${t.url}/api/v1/session`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: t.url },
      body: JSON.stringify({ token: created.body.token }),
    });
    assert.equal(answer.status, 403, await answer.text());
  });

  it("takes an expiry, lists it with the scope, and answers 401 once it has passed", async () => {
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const created = await createToken({ name: "short", scope: "deploy", expires_at: expiresAt });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.expires_at, expiresAt);
    const listed = await t.api<TokenBody[]>("GET", "/access_tokens", { token: alice.token });
    const row = listed.body.find((token) => token.id === created.body.id);
    assert.deepEqual([row?.scope, row?.expires_at], ["deploy", expiresAt]);
    assert.equal(listed.body.find((token) => token.name === "ci")?.scope, "deploy");

    await t.platform.ctx.db
      .updateTable("access_tokens")
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where("id", "=", created.body.id)
      .execute();
    const expired = await refusal(() => client(created.body.token).getSite({ site_id: siteId }));
    assert.equal(expired.status, 401);
    assert.match(expired.message, /expired/);

    const past = await createToken({ name: "past", expires_at: "2020-01-01T00:00:00Z" });
    assert.equal(past.status, 422, past.text);
    const bad = await createToken({ name: "bad", scope: "admin" });
    assert.equal(bad.status, 422, bad.text);
  });
});
