import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createPushedProject, startForgeAndPlatform } from "../../../../test/helpers/e2e.ts";
import type { TestForge, TestProject, TestUser } from "../../../../test/helpers/forge.ts";
import type { Tenant, TestPlatform } from "../../../../test/helpers/platform.ts";

/**
 * `/git_connections` against the real forge (the GitLab adapter's server): the credential is
 * checked at the provider before anything is stored, sealed, never shown or logged; other
 * accounts' connections do not exist for the caller.
 */

interface ConnectionBody {
  id: string;
  account_id: string;
  provider: string;
  base_url: string;
  kind: string;
  remote_identity: string;
  last_error: string | null;
}
interface ErrorBody {
  code: number;
  message: string;
  field?: string;
  hint?: string;
}

describe("git connections API", () => {
  let forge: TestForge;
  let t: TestPlatform;
  let owner: TestUser;
  let project: TestProject;
  let alice: Tenant;
  let mallory: Tenant;

  before(async () => {
    ({ forge, platform: t } = await startForgeAndPlatform({ forgeApi: true }));
    const notes = await createPushedProject(forge, "ada", "notes", {
      "index.html": "<h1>notes</h1>\n",
    });
    await notes.repo.push("main", ["release/1.0", "dev"]);
    await notes.repo.cleanup();
    ({ owner, project } = notes);
    await forge.createProject(owner, "recipes");
    alice = await t.createTenant("alice");
    mallory = await t.createTenant("mallory");
  });
  after(async () => {
    await t?.stop();
    await forge?.stop();
  });

  const connect = (tenant: Tenant, body: Record<string, unknown>) =>
    t.api<ConnectionBody & ErrorBody>("POST", "/git_connections", { token: tenant.token, body });

  it("refuses a token the provider refuses, with its reason and hint, and stores nothing", async () => {
    const res = await connect(alice, {
      provider: "gitlab",
      base_url: forge.url,
      token: "glpat-wrong-token-000000000",
    });
    assert.equal(res.status, 422, res.text);
    assert.equal(res.body.field, "token");
    assert.match(res.body.message, /^token: GitLab on 127\.0\.0\.1:\d+ refused checking the token/);
    assert.match(res.body.hint ?? "", /`api` scope/);
    assert.doesNotMatch(res.text, /glpat-wrong-token/);
    const list = await t.api<ConnectionBody[]>("GET", "/git_connections", { token: alice.token });
    assert.deepEqual(list.body, []);
  });

  it("says a token without the api scope needs it", async () => {
    const reader = await forge.createUser("reed", { scopes: ["read_api"] });
    const res = await connect(alice, {
      provider: "gitlab",
      base_url: forge.url,
      token: reader.token,
    });
    assert.equal(res.status, 422, res.text);
    assert.match(res.body.hint ?? "", /the token needs the `api` scope/);
  });

  it("checks the request before calling the provider", async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ provider: "gitlab", base_url: forge.url }, "token", /give exactly one credential/],
      [
        { provider: "gitlab", base_url: forge.url, username: "a", app_password: "b" },
        "app_password",
        /GitLab does not use app passwords/,
      ],
      [{ provider: "gitea", token: "x" }, "base_url", /is required for Gitea/],
      [
        { provider: "gitlab", base_url: "ftp://gitlab.example.com", token: "x" },
        "base_url",
        /https/,
      ],
      [
        { provider: "gitlab", base_url: "https://me:pw@gitlab.example.com", token: "x" },
        "base_url",
        /must not contain credentials/,
      ],
      [{ provider: "svn", token: "x" }, "provider", /must be one of/],
    ];
    for (const [body, field, message] of cases) {
      const res = await connect(alice, body);
      assert.equal(res.status, 422, `${JSON.stringify(body)}: ${res.text}`);
      assert.equal(res.body.field, field, res.text);
      assert.match(res.body.message, message);
    }
  });

  it("refuses a provider host on a private network that is not allowed", async () => {
    const res = await connect(alice, {
      provider: "gitlab",
      base_url: "http://127.0.0.1:9",
      token: "glpat-whatever-0000000000",
    });
    assert.equal(res.status, 422, res.text);
    assert.equal(res.body.field, "base_url");
    assert.match(res.body.hint ?? "", /SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS=127\.0\.0\.1:9/);

    const notGitLab = await connect(alice, {
      provider: "gitlab",
      base_url: `${forge.url}/elsewhere`,
      token: owner.token,
    });
    assert.equal(notGitLab.status, 422, notGitLab.text);
    assert.equal(notGitLab.body.field, "base_url");
    assert.match(notGitLab.body.message, /answered 404, so it is not a GitLab API/);
  });

  let connectionId = "";

  it("saves a working connection without ever returning or logging its token", async () => {
    const res = await connect(alice, {
      provider: "gitlab",
      base_url: forge.url,
      token: owner.token,
    });
    assert.equal(res.status, 201, res.text);
    connectionId = res.body.id;
    assert.match(connectionId, /^[0-9a-f]{24}$/);
    assert.equal(res.body.provider, "gitlab");
    assert.equal(res.body.base_url, forge.url);
    assert.equal(res.body.kind, "token");
    assert.equal(res.body.remote_identity, "ada");
    assert.equal(res.body.account_id, alice.accountId);

    const one = await t.api<ConnectionBody>("GET", `/git_connections/${connectionId}`, {
      token: alice.token,
    });
    assert.deepEqual(one.body, res.body);
    const list = await t.api<ConnectionBody[]>(
      "GET",
      `/git_connections?account_slug=${alice.accountSlug}`,
      { token: alice.token },
    );
    assert.deepEqual(
      list.body.map((c) => c.id),
      [connectionId],
    );
    const byId = await t.api<ConnectionBody[]>(
      "GET",
      `/git_connections?account_id=${alice.accountId}`,
      { token: alice.token },
    );
    assert.equal(byId.body.length, 1);

    const row = await t.platform.ctx.db
      .selectFrom("git_connections")
      .selectAll()
      .where("id", "=", connectionId)
      .executeTakeFirstOrThrow();
    assert.ok(!row.credential_sealed.includes(owner.token), "sealed at rest");
  });

  it("lists the repositories the connection reaches, with a search", async () => {
    const all = await t.api<{ full_path: string; ssh_url: string; id: string }[]>(
      "GET",
      `/git_connections/${connectionId}/repos`,
      { token: alice.token },
    );
    assert.equal(all.status, 200, all.text);
    assert.deepEqual(all.body.map((r) => r.full_path).sort(), ["ada/notes", "ada/recipes"]);
    const notes = all.body.find((r) => r.full_path === "ada/notes");
    assert.equal(notes?.ssh_url, project.ssh_url_to_repo);
    assert.equal(notes?.id, String(project.id));
    const found = await t.api<{ full_path: string }[]>(
      "GET",
      `/git_connections/${connectionId}/repos?search=reci`,
      { token: alice.token },
    );
    assert.deepEqual(
      found.body.map((r) => r.full_path),
      ["ada/recipes"],
    );
  });

  it("lists a repository's branches, default first, with a search", async () => {
    type Branch = { name: string; default: boolean };
    for (const ref of [encodeURIComponent("ada/notes"), String(project.id)]) {
      const all = await t.api<Branch[]>(
        "GET",
        `/git_connections/${connectionId}/repos/${ref}/branches`,
        { token: alice.token },
      );
      assert.equal(all.status, 200, all.text);
      assert.deepEqual(all.body, [
        { name: "main", default: true },
        { name: "dev", default: false },
        { name: "release/1.0", default: false },
      ]);
    }
    const found = await t.api<Branch[]>(
      "GET",
      `/git_connections/${connectionId}/repos/ada%2Fnotes/branches?search=release`,
      { token: alice.token },
    );
    assert.deepEqual(found.body, [{ name: "release/1.0", default: false }]);
    const missing = await t.api<ErrorBody>(
      "GET",
      `/git_connections/${connectionId}/repos/ada%2Fmissing/branches`,
      { token: alice.token },
    );
    assert.equal(missing.status, 422, missing.text);
    assert.equal(missing.body.field, "repo");
    assert.match(missing.body.message, /ada\/missing not found/);
    assert.ok((missing.body.hint ?? "").length > 0, "the provider's hint");
  });

  it("hides a connection from another account (404), and does not list it", async () => {
    for (const [method, path] of [
      ["GET", `/git_connections/${connectionId}`],
      ["GET", `/git_connections/${connectionId}/repos`],
      ["GET", `/git_connections/${connectionId}/repos/ada%2Fnotes/branches`],
      ["DELETE", `/git_connections/${connectionId}`],
    ] as const) {
      const res = await t.api<ErrorBody>(method, path, { token: mallory.token });
      assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
      assert.deepEqual(res.body, { code: 404, message: "Git connection not found" });
    }
    const theirs = await t.api<ConnectionBody[]>("GET", "/git_connections", {
      token: mallory.token,
    });
    assert.deepEqual(theirs.body, []);
    const foreign = await t.api<ErrorBody>(
      "GET",
      `/git_connections?account_id=${alice.accountId}`,
      { token: mallory.token },
    );
    assert.equal(foreign.status, 404);
    // Nor can another account link a site through it.
    const site = await t.api<ErrorBody>("POST", "/sites", {
      token: mallory.token,
      body: { repo: { provider: "gitlab", connection_id: connectionId, repo_path: "ada/notes" } },
    });
    assert.equal(site.status, 422, site.text);
    assert.equal(site.body.field, "repo.connection_id");
  });

  it("refuses a repository the connection cannot see before storing any site", async () => {
    const res = await t.api<ErrorBody>("POST", "/sites", {
      token: alice.token,
      body: { name: "ghost", repo: { provider: "gitlab", repo_path: "ada/missing" } },
    });
    assert.equal(res.status, 422, res.text);
    assert.equal(res.body.field, "repo.repo_path");
    assert.match(res.body.message, /project ada\/missing not found or not visible to this token/);
    assert.match(res.body.hint ?? "", /member of ada\/missing/);
    const sites = await t.api<unknown[]>("GET", "/sites?name=ghost", { token: alice.token });
    assert.deepEqual(sites.body, []);
  });

  it("says a Developer token needs the Maintainer role, and leaves nothing at the forge", async () => {
    const dev = await forge.createUser("devi");
    const member = await forge.api("POST", `/projects/${project.id}/members`, {
      token: owner.token,
      body: { user_id: dev.id, access_level: 30 },
    });
    assert.equal(member.status, 201, member.text);
    const bob = await t.createTenant("bob");
    const connection = await connect(bob, {
      provider: "gitlab",
      base_url: forge.url,
      token: dev.token,
    });
    assert.equal(connection.status, 201, connection.text);
    const site = await t.api<{
      id: string;
      build_id: string | null;
      link_broken_reason: string | null;
      link: { status: string; error: { step: string; message: string; hint: string } };
    }>("POST", "/sites", {
      token: bob.token,
      body: { name: "devi-notes", repo: { provider: "gitlab", repo_path: "ada/notes" } },
    });
    assert.equal(site.status, 201, site.text);
    assert.equal(site.body.link.status, "failed");
    assert.equal(site.body.link.error.step, "install_key");
    assert.match(site.body.link.error.hint, /at least the Maintainer role on ada\/notes/);
    assert.equal(site.body.build_id, null);
    assert.match(site.body.link_broken_reason ?? "", /Maintainer/);
    const keys = await forge.api<unknown[]>("GET", `/projects/${project.id}/deploy_keys`, {
      token: owner.token,
    });
    assert.deepEqual(keys.body, []);
    const hooks = await forge.api<unknown[]>("GET", `/projects/${project.id}/hooks`, {
      token: owner.token,
    });
    assert.deepEqual(hooks.body, []);
  });

  it("refuses to delete a connection a site is linked through, naming the site", async () => {
    const site = await t.api<{ id: string; name: string; git_connection_id: string }>(
      "POST",
      "/sites",
      {
        token: alice.token,
        body: {
          name: "notes",
          repo: { provider: "gitlab", repo_path: "ada/notes", stop_builds: true },
        },
      },
    );
    assert.equal(site.status, 201, site.text);
    assert.equal(site.body.git_connection_id, connectionId);
    const refused = await t.api<ErrorBody>("DELETE", `/git_connections/${connectionId}`, {
      token: alice.token,
    });
    assert.equal(refused.status, 422, refused.text);
    assert.match(refused.body.message, /used by site notes/);

    const unlinked = await t.api("PUT", `/sites/${site.body.id}/unlink_repo`, {
      token: alice.token,
    });
    assert.equal(unlinked.status, 200, unlinked.text);
    const removed = await t.api("DELETE", `/git_connections/${connectionId}`, {
      token: alice.token,
    });
    assert.equal(removed.status, 204, removed.text);
  });

  it("reports a token revoked at the provider as a 422 with the hint, and records it", async () => {
    const ada2 = await forge.createUser("ada2");
    const res = await connect(alice, {
      provider: "gitlab",
      base_url: forge.url,
      token: ada2.token,
    });
    assert.equal(res.status, 201, res.text);
    await forge.forge.ctx.db
      .updateTable("personal_access_tokens")
      .set({ revoked: 1 })
      .where("user_id", "=", ada2.id)
      .execute();
    const repos = await t.api<ErrorBody>("GET", `/git_connections/${res.body.id}/repos`, {
      token: alice.token,
    });
    assert.equal(repos.status, 422, repos.text);
    assert.match(repos.body.message, /token is not valid/);
    assert.match(repos.body.hint ?? "", /expired or revoked/);
    const after = await t.api<ConnectionBody>("GET", `/git_connections/${res.body.id}`, {
      token: alice.token,
    });
    assert.match(after.body.last_error ?? "", /revoked/);
  });

  it("never shows or logs a credential", () => {
    for (const token of [owner.token]) {
      assert.ok(!t.responses.some((r) => r.includes(token)), "no response carries the token");
      assert.ok(!t.logs.some((l) => l.includes(token)), "no log line carries the token");
    }
  });
});
