import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";
import { createSite, type SiteBody } from "../../../../test/helpers/sites.ts";

interface HookBody {
  id: string;
  title: string;
  branch: string;
  url: string;
  site_id: string;
  created_at: string;
}

interface TriggerBody {
  build_id: string;
  deploy_id: string;
  branch: string;
  coalesced: boolean;
}

describe("build hooks", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let bob: Tenant;
  let site: SiteBody;

  const createHook = async (siteId: string, body: unknown): Promise<HookBody> => {
    const res = await t.api<HookBody>("POST", `/sites/${siteId}/build_hooks`, {
      token: alice.token,
      body,
    });
    assert.equal(res.status, 201, res.text);
    return res.body;
  };

  /** Calls a hook URL the way Netlify's docs do (`curl -X POST -d '{}' <url>`). */
  const trigger = async (
    url: string,
    init: { body?: string; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: TriggerBody & { message?: string }; text: string }> => {
    const response = await fetch(url, {
      method: "POST",
      headers: init.headers ?? { "content-type": "application/json" },
      body: init.body ?? "{}",
    });
    const text = await response.text();
    return { status: response.status, body: JSON.parse(text) as never, text };
  };

  const buildRow = (id: string) =>
    t.platform.ctx.db
      .selectFrom("builds")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirstOrThrow();

  before(async () => {
    // Builds stay queued: this file checks what is asked for, not how builds run.
    t = await startTestPlatform({ platform: { buildWorkers: false } });
    alice = await t.createTenant("alice");
    bob = await t.createTenant("bob");
    site = await createSite(t, alice.token, {
      name: "hooks",
      repo: { repo_url: "git@github.com:alice/hooks.git", repo_branch: "production" },
    });
  });
  after(() => t.stop());

  it("creates, lists, shows, updates and deletes a site's build hooks (Netlify's shapes)", async () => {
    const hook = await createHook(site.id, { title: "CMS", branch: "main" });
    assert.deepEqual(Object.keys(hook).sort(), [
      "branch",
      "created_at",
      "id",
      "site_id",
      "title",
      "url",
    ]);
    assert.match(hook.id, /^[0-9a-f]{24}$/);
    assert.equal(hook.title, "CMS");
    assert.equal(hook.branch, "main");
    assert.equal(hook.site_id, site.id);
    assert.equal(hook.url, `${t.platform.ctx.config.publicUrl}/build_hooks/${hook.id}`);

    // Without a branch: the site's production branch.
    const plain = await createHook(site.name, { title: "Nightly" });
    assert.equal(plain.branch, "production");

    const list = await t.api<HookBody[]>("GET", `/sites/${site.id}/build_hooks`, {
      token: alice.token,
    });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.map((h) => h.id).sort(), [hook.id, plain.id].sort());

    const shown = await t.api<HookBody>("GET", `/sites/${site.id}/build_hooks/${hook.id}`, {
      token: alice.token,
    });
    assert.deepEqual(shown.body, hook);

    const put = await t.api("PUT", `/sites/${site.id}/build_hooks/${hook.id}`, {
      token: alice.token,
      body: { title: "Contentful", branch: "staging" },
    });
    assert.equal(put.status, 204, put.text);
    const updated = await t.api<HookBody>("GET", `/sites/${site.id}/build_hooks/${hook.id}`, {
      token: alice.token,
    });
    assert.equal(updated.body.title, "Contentful");
    assert.equal(updated.body.branch, "staging");

    const deleted = await t.api("DELETE", `/sites/${site.id}/build_hooks/${plain.id}`, {
      token: alice.token,
    });
    assert.equal(deleted.status, 204);
    const gone = await t.api("GET", `/sites/${site.id}/build_hooks/${plain.id}`, {
      token: alice.token,
    });
    assert.equal(gone.status, 404);
    assert.equal((await trigger(plain.url)).status, 404, "a deleted hook starts nothing");
  });

  it("refuses bad input with 422 naming the field", async () => {
    const cases: Array<[unknown, string]> = [
      [{}, "title"],
      [{ title: "" }, "title"],
      [{ title: "a\nb" }, "title"],
      [{ title: "ok", branch: "-evil" }, "branch"],
      [{ title: "ok", branch: "a..b" }, "branch"],
      [{ title: "x".repeat(256) }, "title"],
    ];
    for (const [body, field] of cases) {
      const res = await t.api<{ field?: string }>("POST", `/sites/${site.id}/build_hooks`, {
        token: alice.token,
        body,
      });
      assert.equal(res.status, 422, `${JSON.stringify(body)}: ${res.text}`);
      assert.equal(res.body.field, field);
    }
    const unlinked = await createSite(t, alice.token, { name: "hookless" });
    const res = await t.api<{ message: string }>("POST", `/sites/${unlinked.id}/build_hooks`, {
      token: alice.token,
      body: { title: "x" },
    });
    assert.equal(res.status, 422);
    assert.match(res.body.message, /not linked to a repository/);
  });

  it("starts a build when its URL is called at the host root, with no token", async () => {
    const hook = await createHook(site.id, { title: "Deploy main", branch: "main" });
    const res = await trigger(hook.url);
    assert.equal(res.status, 202, res.text);
    assert.match(res.body.build_id, /^[0-9a-f]{24}$/);
    assert.match(res.body.deploy_id, /^[0-9a-f]{24}$/);
    const build = await buildRow(res.body.build_id);
    assert.equal(build.site_id, site.id);
    assert.equal(build.branch, "main");
    assert.equal(build.trigger, "build_hook");
    assert.equal(build.build_hook_id, hook.id);
    assert.equal(build.deploy_id, res.body.deploy_id);
    assert.equal(build.title, "Deploy triggered by hook: Deploy main");

    // Netlify's query parameters: another branch, a title, a cleared cache.
    const custom = await trigger(
      `${hook.url}?trigger_branch=feature/x&trigger_title=${encodeURIComponent("Content changed")}&clear_cache=true`,
    );
    assert.equal(custom.status, 202, custom.text);
    const customBuild = await buildRow(custom.body.build_id);
    assert.equal(customBuild.branch, "feature/x");
    assert.equal(customBuild.title, "Content changed");
    assert.equal(customBuild.clear_cache, 1);
    assert.equal(customBuild.build_hook_id, hook.id);

    // Any body and content type are accepted (the body is not interpreted).
    const bodies: Array<{ body: string; headers: Record<string, string> }> = [
      { body: "not json at all", headers: { "content-type": "application/json" } },
      { body: "a=b", headers: { "content-type": "application/x-www-form-urlencoded" } },
      { body: "\u0000\u00ff", headers: { "content-type": "application/octet-stream" } },
      { body: "", headers: {} },
    ];
    for (const init of bodies) {
      const again = await trigger(hook.url, init);
      assert.equal(again.status, 202, again.text);
      assert.equal((await buildRow(again.body.build_id)).branch, "main");
    }
  });

  it("answers 404 to unknown or malformed ids and 422 to a bad trigger_branch; never 5xx", async () => {
    const base = `${t.platform.ctx.config.publicUrl}/build_hooks/`;
    for (const id of ["5c23354f454e1350f8543e78", "nope", "%00", "A".repeat(24), site.id]) {
      const res = await trigger(`${base}${id}`);
      assert.equal(res.status, 404, `${id}: ${res.text}`);
    }
    const hook = await createHook(site.id, { title: "Bad params" });
    for (const query of [
      "trigger_branch=-x",
      "trigger_branch=a..b",
      "trigger_branch=",
      "clear_cache=maybe",
      `trigger_title=${"x".repeat(2000)}`,
    ]) {
      const res = await trigger(`${hook.url}?${query}`);
      assert.equal(res.status, 422, `${query}: ${res.text}`);
    }
    // A control character in the title is made harmless, not refused.
    const res = await trigger(`${hook.url}?trigger_branch=titled&trigger_title=a%0Ab%1Bc`);
    assert.equal(res.status, 202, res.text);
    assert.equal((await buildRow(res.body.build_id)).title, "a b c");
    // GET is not a trigger.
    const get = await fetch(hook.url);
    assert.equal(get.status, 404);
  });

  it("refuses to build a site whose builds are stopped (409)", async () => {
    const stopped = await createSite(t, alice.token, {
      name: "hooks-stopped",
      repo: { repo_url: "git@github.com:alice/stopped.git" },
    });
    const hook = await createHook(stopped.id, { title: "x" });
    const patched = await t.api("PATCH", `/sites/${stopped.id}`, {
      token: alice.token,
      body: { repo: { stop_builds: true } },
    });
    assert.equal(patched.status, 200, patched.text);
    const res = await trigger(hook.url);
    assert.equal(res.status, 409, res.text);
    assert.match(String(res.body.message), /stop_builds/);
  });

  it("hides a site's build hooks from other tenants and the platform admin (404)", async () => {
    const hook = await createHook(site.id, { title: "Private" });
    const attempts: Array<[string, string, unknown?]> = [
      ["GET", `/sites/${site.id}/build_hooks`],
      ["GET", `/sites/${site.name}/build_hooks`],
      ["POST", `/sites/${site.id}/build_hooks`, { title: "planted" }],
      ["GET", `/sites/${site.id}/build_hooks/${hook.id}`],
      ["PUT", `/sites/${site.id}/build_hooks/${hook.id}`, { title: "stolen" }],
      ["DELETE", `/sites/${site.id}/build_hooks/${hook.id}`],
    ];
    for (const [method, path, body] of attempts) {
      for (const token of [bob.token, t.adminToken]) {
        const res = await t.api(method, path, { token, body });
        assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
      }
    }
    // A hook id under another tenant's own site is not found either.
    const bobSite = await createSite(t, bob.token, {
      name: "bobs-hooks",
      repo: { repo_url: "git@github.com:bob/x.git" },
    });
    for (const method of ["GET", "PUT", "DELETE"]) {
      const res = await t.api(method, `/sites/${bobSite.id}/build_hooks/${hook.id}`, {
        token: bob.token,
        body: method === "PUT" ? { title: "stolen" } : undefined,
      });
      assert.equal(res.status, 404, `${method}: ${res.text}`);
    }
    const anonymous = await t.api("GET", `/sites/${site.id}/build_hooks`, { token: null });
    assert.equal(anonymous.status, 401);
    const still = await t.api<HookBody>("GET", `/sites/${site.id}/build_hooks/${hook.id}`, {
      token: alice.token,
    });
    assert.equal(still.body.title, "Private");
  });
});
