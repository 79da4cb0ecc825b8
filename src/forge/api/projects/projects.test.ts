import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestForge, type TestForge, type TestUser } from "../../../../test/helpers/forge.ts";

describe("projects API", () => {
  let t: TestForge;
  let alice: TestUser;
  let bob: TestUser;

  before(async () => {
    t = await startTestForge();
    alice = await t.createUser("alice");
    bob = await t.createUser("bob");
  });
  after(() => t.stop());

  it("creates a private project in the caller's namespace with GitLab's fields", async () => {
    const res = await t.api<Record<string, unknown>>("POST", "/projects", {
      token: alice.token,
      body: { name: "Site One", path: "site-one" },
    });
    assert.equal(res.status, 201);
    assert.equal(res.body.path_with_namespace, "alice/site-one");
    assert.equal(res.body.visibility, "private");
    assert.equal(res.body.default_branch, "main");
    assert.match(
      String(res.body.ssh_url_to_repo),
      /^ssh:\/\/git@127\.0\.0\.1:\d+\/alice\/site-one\.git$/,
    );
    assert.equal(res.body.http_url_to_repo, `${t.url}/alice/site-one.git`);
    assert.equal(res.body.web_url, `${t.url}/alice/site-one`);
  });

  it("finds a project by id and by URL-encoded path", async () => {
    const project = await t.createProject(alice, "by-path");
    const byId = await t.api<{ id: number }>("GET", `/projects/${project.id}`, {
      token: alice.token,
    });
    assert.equal(byId.status, 200);
    const byPath = await t.api<{ id: number }>("GET", `/projects/alice%2Fby-path`, {
      token: alice.token,
    });
    assert.equal(byPath.status, 200);
    assert.equal(byPath.body.id, project.id);
  });

  it("hides a private project from a non-member with 404 Project Not Found", async () => {
    const project = await t.createProject(alice, "hidden");
    const res = await t.api("GET", `/projects/${project.id}`, { token: bob.token });
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { message: "404 Project Not Found" });
  });

  it("answers 401 without a token and 401 for an unknown token", async () => {
    assert.deepEqual((await t.api("GET", "/projects", { token: null })).body, {
      message: "401 Unauthorized",
    });
    const bad = await t.api("GET", "/user", { token: "glpat-nope" });
    assert.equal(bad.status, 401);
    assert.deepEqual(bad.body, { message: "401 Unauthorized" });
  });

  it("lets a Developer see but not delete a project (403), and the Owner delete it", async () => {
    const project = await t.createProject(alice, "shared");
    const added = await t.api("POST", `/projects/${project.id}/members`, {
      token: alice.token,
      body: { user_id: bob.id, access_level: 30 },
    });
    assert.equal(added.status, 201);
    assert.equal((await t.api("GET", `/projects/${project.id}`, { token: bob.token })).status, 200);
    const denied = await t.api("DELETE", `/projects/${project.id}`, { token: bob.token });
    assert.equal(denied.status, 403);
    assert.deepEqual(denied.body, { message: "403 Forbidden" });
    assert.equal(
      (await t.api("DELETE", `/projects/${project.id}`, { token: alice.token })).status,
      202,
    );
    assert.equal(
      (await t.api("GET", `/projects/${project.id}`, { token: alice.token })).status,
      404,
    );
  });

  it("refuses bad input with 4xx, never 500", async () => {
    const cases: Array<[string, string, unknown, number]> = [
      ["POST", "/projects", "{not json", 400],
      ["POST", "/projects", { path: "-x" }, 400],
      ["POST", "/projects", { name: "x", visibility: "secret" }, 400],
      ["POST", "/projects", {}, 400],
      ["GET", "/projects/..%2F..%2Fetc", undefined, 404],
      ["GET", "/projects/%2e%2e", undefined, 404],
      ["GET", "/projects/%2Fetc%2Fpasswd", undefined, 404],
      ["GET", "/projects/99999999999999999999", undefined, 404],
      ["POST", "/projects", "x".repeat(2 * 1024 * 1024), 413],
    ];
    for (const [method, path, body, status] of cases) {
      const res = await t.api(method, path, { token: alice.token, body });
      assert.equal(res.status, status, `${method} ${path} → ${res.status} ${res.text}`);
      assert.equal(typeof res.body, "object", `${method} ${path} answers JSON`);
    }
  });
});
