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

  it("reads paths case-insensitively and keeps them unique that way, as GitLab's routes", async () => {
    const project = await t.createProject(alice, "Docs-Site");
    for (const path of ["alice%2Fdocs-site", "Alice%2FDOCS-SITE", "alice%2FDocs-Site"]) {
      const res = await t.api<{ id: number }>("GET", `/projects/${path}`, { token: alice.token });
      assert.deepEqual([res.status, res.body.id], [200, project.id], path);
    }
    const clash = await t.api("POST", "/projects", {
      token: alice.token,
      body: { name: "Another", path: "docs-site" },
    });
    assert.equal(clash.status, 400, clash.text);
    assert.deepEqual(clash.body, {
      message: { name: ["has already been taken"], path: ["has already been taken"] },
    });
  });

  it("limits the list with owned and membership, as GitLab's filters", async () => {
    const carol = await t.createUser("carol");
    const own = await t.createProject(carol, "carols", "private");
    const shared = await t.createProject(alice, "shared-with-carol", "private");
    const open = await t.createProject(bob, "bobs-public", "public");
    const added = await t.api("POST", `/projects/${shared.id}/members`, {
      token: alice.token,
      body: { user_id: carol.id, access_level: 30 },
    });
    assert.equal(added.status, 201, added.text);
    const ids = async (query: string) =>
      (await t.api<{ id: number }[]>("GET", `/projects${query}`, { token: carol.token })).body.map(
        (p) => p.id,
      );
    assert.deepEqual(await ids(""), [open.id, shared.id, own.id]);
    assert.deepEqual(await ids("?owned=true"), [own.id]);
    assert.deepEqual(await ids("?membership=true"), [shared.id, own.id]);
    assert.deepEqual(await ids("?owned=1&membership=1"), [own.id]);
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
