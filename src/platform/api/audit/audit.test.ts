import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sha1 } from "../../../../test/helpers/digests.ts";
import { pruneAuditEvents } from "../../audit/events.ts";
import { poll } from "../../../../test/helpers/wait.ts";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";

interface AuditEntry {
  id: string;
  account_id: string;
  payload: {
    actor_id: string;
    actor_email: string;
    action: string;
    timestamp: string;
    log_type: string;
    actor_via: string | null;
    target_type: string | null;
    target_id: string | null;
    changed_fields: string[];
    result: string;
    reason: string | null;
    source_address: string | null;
    route: string | null;
  };
}

describe("the audit log: GET /accounts/:account_id/audit", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let bob: Tenant;
  let bobSiteId: string;

  before(async () => {
    t = await startTestPlatform({ platform: { edgeTtlMs: 0, buildWorkers: false } });
    alice = await t.createTenant("alice");
    bob = await t.createTenant("bob");
    const bobs = await t.api<{ id: string }>("POST", "/sites", {
      token: bob.token,
      body: { name: "bobs-site" },
    });
    bobSiteId = bobs.body.id;
  });
  after(() => t.stop());

  /** A browser signed in to the dashboard with a pasted access token: cookie and CSRF token. */
  const signInWithToken = async (token: string) => {
    const res = await fetch(`${t.url}/api/v1/session`, {
      method: "POST",
      headers: { origin: t.url, "content-type": "application/json" },
      body: JSON.stringify({ token }),
    });
    assert.equal(res.status, 201);
    const cookie = (res.headers.getSetCookie()[0] ?? "").split(";")[0]!;
    const { csrf_token } = (await res.json()) as { csrf_token: string };
    return async (method: string, path: string, body?: unknown) => {
      const answer = await fetch(`${t.url}/api/v1${path}`, {
        method,
        headers: {
          origin: t.url,
          cookie,
          "x-csrf-token": csrf_token,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await answer.text();
      return {
        status: answer.status,
        body: text === "" ? undefined : (JSON.parse(text) as unknown),
      };
    };
  };

  /** One file deployed through the digest protocol with a bearer token; the deploy's id. */
  const deploy = async (siteId: string, html: string): Promise<string> => {
    const created = await t.api<{ id: string; required: string[] }>(
      "POST",
      `/sites/${siteId}/deploys`,
      { token: alice.token, body: { files: { "/index.html": sha1(html) } } },
    );
    assert.equal(created.status, 200, created.text);
    const put = await fetch(`${t.url}/api/v1/deploys/${created.body.id}/files/index.html`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${alice.token}`,
        "content-type": "application/octet-stream",
      },
      body: html,
    });
    assert.equal(put.status, 200);
    await poll(async () => {
      const d = await t.api<{ state: string }>("GET", `/deploys/${created.body.id}`, {
        token: alice.token,
      });
      return d.body.state === "ready";
    }, `deploy ${created.body.id} ready`);
    return created.body.id;
  };

  const auditOf = async (tenant: Tenant, query = "") =>
    t.api<AuditEntry[]>("GET", `/accounts/${tenant.accountSlug}/audit${query}`, {
      token: tenant.token,
    });

  it("holds a scripted session's events in order, for the right account, without secrets", async () => {
    const startedAt = (await auditOf(alice)).body.length;
    const spare = await t.api<{ id: string }>("POST", "/access_tokens", {
      token: alice.token,
      body: { name: "ci" },
    });
    assert.equal(spare.status, 201, spare.text);

    const browser = await signInWithToken(alice.token);
    const site = await browser("POST", "/sites", { name: "audited" });
    assert.equal(site.status, 201);
    const siteId = (site.body as { id: string }).id;
    const env = await browser("POST", `/accounts/${alice.accountSlug}/env?site_id=${siteId}`, [
      { key: "API_KEY", is_secret: true, values: [{ value: "s3cr3t-v4lue", context: "all" }] },
    ]);
    assert.equal(env.status, 201);
    const first = await deploy(siteId, "<h1>one</h1>");
    await deploy(siteId, "<h1>two</h1>");
    const restore = await browser("POST", `/sites/${siteId}/deploys/${first}/restore`);
    assert.equal(restore.status, 201);
    const revoke = await browser("DELETE", `/access_tokens/${spare.body.id}`);
    assert.equal(revoke.status, 204);
    // A refusal is an event too (of the caller's, not of the other account's log).
    const refused = await browser("DELETE", `/sites/${bobSiteId}`);
    assert.equal(refused.status, 404);

    const log = await auditOf(alice);
    assert.equal(log.status, 200);
    const events = log.body.slice(0, log.body.length - startedAt).reverse();
    assert.deepEqual(
      events.map((e) => [e.payload.action, e.payload.result]),
      [
        ["token.create", "success"],
        ["session.sign_in", "success"],
        ["site.create", "success"],
        ["env.create", "success"],
        ["api.post", "success"], // the first deploy's creation (POST /sites/:site_id/deploys)
        ["deploy.publish", "success"],
        ["api.post", "success"],
        ["deploy.publish", "success"],
        ["deploy.publish", "success"], // the restore
        ["token.revoke", "success"],
        [
          refused.status < 400 ? "api.delete" : "api.delete",
          refused.status < 400 ? "success" : "failure",
        ],
      ],
    );
    for (const e of events) {
      assert.equal(e.payload.actor_email, alice.email, e.payload.action);
      assert.equal(e.payload.source_address, "127.0.0.1", e.payload.action);
    }
    const byAction = (action: string) => events.filter((e) => e.payload.action === action);
    assert.equal(byAction("site.create")[0]?.account_id, alice.accountId);
    assert.equal(byAction("site.create")[0]?.payload.actor_via, "session");
    assert.deepEqual(byAction("env.create")[0]?.payload.changed_fields, [
      "is_secret",
      "key",
      "scopes",
      "values",
    ]);
    assert.equal(byAction("deploy.publish")[2]?.payload.target_id, first);
    assert.equal(byAction("token.revoke")[0]?.payload.target_id, spare.body.id);
    assert.equal(byAction("api.post")[0]?.payload.route, "POST /api/v1/sites/:site_id/deploys");
    assert.ok(!log.text.includes("s3cr3t-v4lue"), "no secret value in the audit log");
    assert.ok(!log.text.includes(alice.token), "no token in the audit log");
    const rows = await t.platform.ctx.db.selectFrom("audit_events").selectAll().execute();
    assert.ok(!JSON.stringify(rows).includes("s3cr3t-v4lue"));

    // Another account's owner sees none of it; reading alice's log is a 404 for bob.
    const bobs = await auditOf(bob);
    assert.equal(bobs.status, 200);
    assert.ok(bobs.body.length > 0);
    assert.ok(bobs.body.every((e) => e.payload.actor_email !== alice.email));
    const refusal = events.at(-1)!;
    assert.equal(refusal.payload.reason, "Site not found");
    assert.equal(refusal.account_id, alice.accountId, "shown to the caller's own account");
    const foreign = await t.api("GET", `/accounts/${alice.accountSlug}/audit`, {
      token: bob.token,
    });
    assert.equal(foreign.status, 404);
    // The platform administrator reads every account's.
    const asAdmin = await t.api<AuditEntry[]>("GET", `/accounts/${alice.accountSlug}/audit`);
    assert.equal(asAdmin.status, 200);
    assert.equal(asAdmin.body.length, log.body.length);
  });

  it("keeps a change and its event together: a refused change leaves only its refusal", async () => {
    const site = await t.api<{ id: string }>("POST", "/sites", {
      token: alice.token,
      body: { name: "atomic" },
    });
    const create = (key: string) =>
      t.api("POST", `/accounts/${alice.accountSlug}/env?site_id=${site.body.id}`, {
        token: alice.token,
        body: [
          { key, values: [{ value: "1", context: "all" }] },
          { key: "DUP", values: [{ value: "2", context: "all" }] },
        ],
      });
    assert.equal((await create("DUP_ONCE")).status, 201);
    // The second request's first variable is new, but the request fails as a whole on DUP:
    // the insert of FRESH and its event roll back together.
    assert.equal((await create("FRESH")).status, 409);
    const log = await auditOf(alice);
    const [refusal, ...earlier] = log.body;
    assert.equal(refusal?.payload.action, "api.post");
    assert.equal(refusal?.payload.result, "failure");
    assert.match(refusal?.payload.reason ?? "", /DUP already exists/);
    assert.deepEqual(
      earlier.slice(0, 2).map((e) => [e.payload.action, e.payload.target_id]),
      [
        ["env.create", "DUP"],
        ["env.create", "DUP_ONCE"],
      ],
    );
    assert.ok(!log.body.some((e) => e.payload.target_id === "FRESH"));
  });

  it("records failed sign-ins against the user they named", async () => {
    const res = await fetch(`${t.url}/api/v1/session`, {
      method: "POST",
      headers: { origin: t.url, "content-type": "application/json" },
      body: JSON.stringify({ email: bob.email, password: "not-bobs-password" }),
    });
    assert.equal(res.status, 401);
    const log = await auditOf(bob, "?log_type=session");
    const failed = log.body[0];
    assert.equal(failed?.payload.action, "session.sign_in");
    assert.equal(failed?.payload.result, "failure");
    assert.equal(failed?.payload.actor_id, "");
    assert.match(failed?.payload.reason ?? "", /password/);
    assert.ok(!log.text.includes("not-bobs-password"));
  });

  it("drops events older than the retention, and only those", async () => {
    const db = t.platform.ctx.db;
    const old = new Date(Date.now() - 400 * 86_400_000).toISOString();
    await db
      .insertInto("audit_events")
      .values({
        account_id: alice.accountId,
        user_id: null,
        actor_kind: "system",
        actor_id: null,
        actor_name: null,
        actor_email: null,
        actor_via: null,
        token_id: null,
        action: "site.update",
        target_type: null,
        target_id: "ancient",
        target_name: null,
        route: null,
        fields: "[]",
        result: "success",
        reason: null,
        source_address: null,
        request_id: null,
        created_at: old,
      })
      .execute();
    const before = (await auditOf(alice)).body.length;
    assert.equal(await pruneAuditEvents(db, 365), 1);
    const after = await auditOf(alice);
    assert.equal(after.body.length, before - 1);
    assert.ok(!after.body.some((e) => e.payload.target_id === "ancient"));
  });

  it("searches, filters and pages, with Netlify's Link header", async () => {
    const all = await auditOf(alice);
    const sites = await auditOf(alice, "?log_type=site");
    assert.ok(sites.body.length >= 1);
    assert.ok(sites.body.every((e) => e.payload.log_type === "site"));
    const found = await auditOf(alice, "?query=audited");
    assert.ok(found.body.some((e) => e.payload.action === "site.create"));
    const literal = await auditOf(alice, "?query=%25");
    assert.equal(literal.body.length, 0, "a % in the query matches only a literal %");
    const page = await auditOf(alice, "?per_page=2&page=2");
    assert.deepEqual(
      page.body.map((e) => e.id),
      all.body.slice(2, 4).map((e) => e.id),
    );
    assert.match(page.headers.get("link") ?? "", /rel="next"/);
    const bad = await auditOf(alice, "?log_type=a%25b");
    assert.equal(bad.status, 422);
  });
});
