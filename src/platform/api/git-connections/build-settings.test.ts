import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createPushedProject, startForgeAndPlatform } from "../../../../test/helpers/e2e.ts";
import type { TestForge } from "../../../../test/helpers/forge.ts";
import type { Tenant, TestPlatform } from "../../../../test/helpers/platform.ts";

/**
 * `GET /git_connections/:id/repos/:repo/build_settings` against the real forge: the link form's
 * prefill read from the repository's files through GitLab's raw file API.
 */

interface Prefill {
  framework: { id: string; name: string } | null;
  cmd: string | null;
  dir: string | null;
  base: string | null;
  source: string | null;
}

describe("build settings prefill API", () => {
  let forge: TestForge;
  let t: TestPlatform;
  let alice: Tenant;
  let mallory: Tenant;
  let connectionId: string;

  before(async () => {
    ({ forge, platform: t } = await startForgeAndPlatform({ forgeApi: true }));
    const app = await createPushedProject(forge, "ada", "app", {
      "package.json": JSON.stringify({
        scripts: { dev: "vite", build: "vite build" },
        devDependencies: { vite: "^5.4.0" },
      }),
      "package-lock.json": "{}\n",
      "index.html": "<h1>app</h1>\n",
    });
    // A branch whose netlify.toml says otherwise, in a base directory.
    await app.repo.checkout("docs", true);
    await app.repo.commit({
      "netlify.toml": '[build]\n  base = "site"\n  publish = "public"\n  command = "make site"\n',
      "site/hugo.toml": "title = 'docs'\n",
    });
    await app.repo.push("docs");
    await app.repo.cleanup();
    await forge.createProject(app.owner, "plain");
    alice = await t.createTenant("alice");
    mallory = await t.createTenant("mallory");
    const connection = await t.api<{ id: string }>("POST", "/git_connections", {
      token: alice.token,
      body: { provider: "gitlab", base_url: forge.url, token: app.owner.token },
    });
    assert.equal(connection.status, 201, connection.text);
    connectionId = connection.body.id;
  });
  after(async () => {
    await t?.stop();
    await forge?.stop();
  });

  const prefill = (repo: string, query = "", token = alice.token) =>
    t.api<Prefill & { field?: string; message?: string }>(
      "GET",
      `/git_connections/${connectionId}/repos/${repo}/build_settings${query}`,
      { token },
    );

  it("a Vite app on its default branch: Vite, npm run build, dist, from the framework", async () => {
    const res = await prefill("ada%2Fapp");
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, {
      framework: { id: "vite", name: "Vite" },
      cmd: "npm run build",
      dir: "dist",
      base: null,
      source: "framework",
    });
  });

  it("a branch's netlify.toml wins, and sets the base directory detection looks in", async () => {
    const res = await prefill("ada%2Fapp", "?branch=docs");
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, {
      framework: { id: "hugo", name: "Hugo" },
      cmd: "make site",
      dir: "public",
      base: "site",
      source: "netlify.toml",
    });
  });

  it("an empty repository: nothing to prefill", async () => {
    const res = await prefill("ada%2Fplain");
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { framework: null, cmd: null, dir: null, base: null, source: null });
  });

  it("refuses a bad branch name (422) and a missing repository (422, field repo)", async () => {
    const bad = await prefill("ada%2Fapp", "?branch=-x");
    assert.equal(bad.status, 422, bad.text);
    assert.equal(bad.body.field, "branch");
    const missing = await prefill("ada%2Fmissing");
    assert.equal(missing.status, 422, missing.text);
    assert.equal(missing.body.field, "repo");
  });

  it("another account's connection does not exist for the caller", async () => {
    const res = await prefill("ada%2Fapp", "", mallory.token);
    assert.equal(res.status, 404, res.text);
    assert.deepEqual(res.body, { code: 404, message: "Git connection not found" });
  });
});
