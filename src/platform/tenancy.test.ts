import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestPlatform, type Tenant, type TestPlatform } from "../../test/helpers/platform.ts";
import { openPrivateKey } from "./deploy-keys/deploy-keys.ts";

interface SiteBody {
  id: string;
  name: string;
  git_webhook: { url: string; secret: string } | null;
}

describe("tenancy and secrets", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let bob: Tenant;
  let bobKey: string;
  let bobSite: SiteBody;
  let aliceSite: SiteBody;

  before(async () => {
    t = await startTestPlatform();
    alice = await t.createTenant("alice");
    bob = await t.createTenant("bob");
    bobKey = (await t.api<{ id: string }>("POST", "/deploy_keys", { token: bob.token })).body.id;
    bobSite = (
      await t.api<SiteBody>("POST", "/sites", {
        token: bob.token,
        body: {
          name: "bobs-site",
          repo: { repo_url: "git@github.com:bob/site.git", deploy_key_id: bobKey },
        },
      })
    ).body;
    aliceSite = (
      await t.api<SiteBody>("POST", "/sites", { token: alice.token, body: { name: "alices-site" } })
    ).body;
  });
  after(() => t.stop());

  it("answers 404 to every endpoint tried on another tenant's sites, keys and account", async () => {
    const attempts: Array<[string, string, unknown?]> = [
      ["GET", `/sites/${bobSite.id}`],
      ["GET", `/sites/${bobSite.name}`],
      ["GET", `/sites/${bobSite.id}?feature_flags=cli`],
      ["PATCH", `/sites/${bobSite.id}`, { name: "stolen" }],
      ["PATCH", `/sites/${bobSite.name}`, { repo: { repo_url: "https://github.com/evil/x.git" } }],
      ["DELETE", `/sites/${bobSite.id}`],
      ["PUT", `/sites/${bobSite.id}/unlink_repo`],
      ["POST", `/sites/${bobSite.id}/git_webhook/rotate`],
      ["GET", `/deploy_keys/${bobKey}`],
      ["DELETE", `/deploy_keys/${bobKey}`],
      ["POST", `/deploy_keys?account_slug=${bob.accountSlug}`],
      ["POST", `/deploy_keys?account_slug=${bob.accountId}`],
      ["GET", `/${bob.accountSlug}/sites`],
      ["POST", `/${bob.accountSlug}/sites`, { name: "planted" }],
    ];
    for (const [method, path, body] of attempts) {
      for (const token of [alice.token, t.adminToken]) {
        const res = await t.api<{ code: number }>(method, path, { token, body });
        assert.equal(res.status, 404, `${method} ${path} → ${res.status} ${res.text}`);
        assert.equal(res.body.code, 404);
        assert.doesNotMatch(res.text, /bobs-site|github\.com:bob/, "nothing of bob's leaks");
      }
    }

    // Bob's things are untouched.
    const site = await t.api<SiteBody>("GET", `/sites/${bobSite.id}`, { token: bob.token });
    assert.equal(site.status, 200);
    assert.equal(site.body.name, "bobs-site");
    assert.deepEqual(site.body.git_webhook, bobSite.git_webhook);
    assert.equal((await t.api("GET", `/deploy_keys/${bobKey}`, { token: bob.token })).status, 200);
    const planted = await t.api<SiteBody[]>("GET", "/sites", { token: bob.token });
    assert.deepEqual(
      planted.body.map((s) => s.name),
      ["bobs-site"],
    );
  });

  it("never lists another tenant's objects", async () => {
    const sites = await t.api<SiteBody[]>("GET", "/sites?filter=all", { token: alice.token });
    assert.deepEqual(
      sites.body.map((s) => s.id),
      [aliceSite.id],
    );
    const byName = await t.api<SiteBody[]>("GET", "/sites?name=bobs", { token: alice.token });
    assert.deepEqual(byName.body, []);
    const keys = await t.api<Array<{ id: string }>>("GET", "/deploy_keys", { token: alice.token });
    assert.ok(!keys.body.some((k) => k.id === bobKey));
    const accounts = await t.api<Array<{ id: string }>>("GET", "/accounts", { token: alice.token });
    assert.deepEqual(
      accounts.body.map((a) => a.id),
      [alice.accountId],
    );
    const me = await t.api<{ site_count: number }>("GET", "/user", { token: alice.token });
    assert.equal(me.body.site_count, 1);
  });

  it("refuses another tenant's deploy key exactly like a key that does not exist", async () => {
    const withBobsKey = await t.api<{ message: string }>("POST", "/sites", {
      token: alice.token,
      body: { repo: { repo_url: "git@github.com:bob/site.git", deploy_key_id: bobKey } },
    });
    const withNoKey = await t.api<{ message: string }>("POST", "/sites", {
      token: alice.token,
      body: {
        repo: {
          repo_url: "git@github.com:bob/site.git",
          deploy_key_id: "0123456789abcdef01234567",
        },
      },
    });
    assert.equal(withBobsKey.status, 422);
    assert.equal(
      withBobsKey.body.message.replace(bobKey, "<id>"),
      withNoKey.body.message.replace("0123456789abcdef01234567", "<id>"),
    );
    const patch = await t.api("PATCH", `/sites/${aliceSite.id}`, {
      token: alice.token,
      body: { repo: { repo_url: "git@github.com:bob/site.git", deploy_key_id: bobKey } },
    });
    assert.equal(patch.status, 422);
  });

  it("never shows a private key in any response or log line, and no secret in the logs", async () => {
    // Exercise the key paths once more, failures included.
    const created = await t.api<{ id: string }>("POST", "/deploy_keys", { token: alice.token });
    await t.api("GET", `/deploy_keys/${created.body.id}`, { token: alice.token });
    await t.api("GET", "/deploy_keys", { token: alice.token });
    await t.api("DELETE", `/deploy_keys/${bobKey}`, { token: bob.token });
    await t.api("GET", `/deploy_keys/${created.body.id}`, { token: bob.token });

    const rows = await t.platform.ctx.db.selectFrom("deploy_keys").selectAll().execute();
    assert.ok(rows.length >= 2);
    const privateKeys = rows.map((row) => openPrivateKey(t.platform.ctx, row));
    const haystacks = [...t.responses, ...t.logs];
    assert.ok(t.logs.length > 20, "the platform logged the requests");
    for (const text of haystacks) {
      assert.doesNotMatch(text, /PRIVATE KEY/);
      for (const key of privateKeys) {
        const body = key.split("\n").filter((line) => line !== "" && !line.startsWith("-----"));
        for (const line of body) assert.ok(!text.includes(line), "a private key line leaked");
      }
    }
    const secrets = [bobSite.git_webhook?.secret, alice.token, bob.token, t.adminToken];
    for (const line of t.logs) {
      for (const secret of secrets)
        assert.ok(secret && !line.includes(secret), "a secret reached the logs");
    }
  });
});
