import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { GitHubFake } from "../fakes/github/fake.ts";
import { edgeGet, waitForPage } from "../helpers/e2e.ts";
import { startGitHubAndPlatform } from "../helpers/github.ts";
import type { Tenant, TestPlatform } from "../helpers/platform.ts";
import { waitForBuild, type SiteBody as Site } from "../helpers/sites.ts";

/**
 * Linking a site through a GitHub token connection, end to end against the strict fake and a
 * real platform: the deploy key (read-only) and the webhook (push + pull_request, the site's
 * secret) appear at GitHub once; the first build fetches over SSH with that key; a push that
 * GitHub delivers, signed, goes live; linking again leaves one of each; unlinking removes both.
 */

describe("GitHub end to end: linking through a token connection (fake GitHub, real platform)", () => {
  let gh: GitHubFake;
  let t: TestPlatform;
  let carol: Tenant;

  before(async () => {
    ({ gh, t } = await startGitHubAndPlatform());
    carol = await t.createTenant("carol");
    await gh.addRepo("octo", "linked", { private: true });
    await gh.commit("octo/linked", { "index.html": "<h1>linked v1</h1>\n" });
  });
  after(async () => {
    await t?.stop();
    await gh?.close();
  });

  describe("linking through a GitHub token connection", () => {
    let connectionId = "";
    let siteId = "";
    let siteName = "";

    before(async () => {
      const token = gh.addClassicToken("octo", ["repo", "admin:repo_hook"]);
      const made = await t.api<{ id: string }>("POST", "/git_connections", {
        token: carol.token,
        body: { provider: "github", base_url: gh.url, token },
      });
      assert.equal(made.status, 201, made.text);
      connectionId = made.body.id;
    });

    it("installs the deploy key and the webhook once, builds over SSH with the key, and a signed push goes live", async () => {
      const res = await t.api<Site>("POST", "/sites", {
        token: carol.token,
        body: {
          repo: {
            provider: "github",
            connection_id: connectionId,
            repo_path: "octo/linked",
            repo_branch: "main",
            cmd: "mkdir -p dist && cp index.html dist/",
            dir: "dist",
          },
        },
      });
      assert.equal(res.status, 201, res.text);
      siteId = res.body.id;
      siteName = res.body.name;
      const repo = gh.repo("octo/linked");
      assert.equal(repo.keys.length, 1);
      assert.equal(repo.keys[0]!.readOnly, true);
      assert.equal(repo.hooks.length, 1);
      assert.deepEqual([...repo.hooks[0]!.events].sort(), ["pull_request", "push"]);
      assert.equal(repo.hooks[0]!.config.url, res.body.git_webhook?.url);
      assert.equal(repo.hooks[0]!.config.secret, res.body.git_webhook?.secret);
      assert.equal(repo.hooks[0]!.config.content_type, "json");

      const first = await waitForBuild(t, res.body.build_id!, carol.token);
      assert.equal(first.state, "done", first.error ?? "");
      assert.equal((await edgeGet(t.url, `${siteName}.localhost`)).body, "<h1>linked v1</h1>\n");
      assert.ok(
        gh.sshRequests.some((r) => r.allowed),
        "the build fetched over SSH with the deploy key",
      );

      const pushed = await gh.push("octo/linked", "main", { "index.html": "<h1>linked v2</h1>\n" });
      assert.equal(pushed.deliveries.length, 1);
      assert.ok((pushed.deliveries[0]!.status ?? 0) < 300, JSON.stringify(pushed.deliveries));
      await waitForPage(
        t.url,
        `${siteName}.localhost`,
        (page) => page.body === "<h1>linked v2</h1>\n",
        "the pushed commit to go live",
        60_000,
      );
      assert.equal(repo.hooks[0]!.lastResponse.status, "active");
    });

    it("linking again leaves one key and one hook", async () => {
      const res = await t.api("PATCH", `/sites/${siteId}`, {
        token: carol.token,
        body: {
          repo: { connection_id: connectionId, repo_path: "octo/linked", repo_branch: "main" },
        },
      });
      assert.equal(res.status, 200, res.text);
      const repo = gh.repo("octo/linked");
      assert.equal(repo.keys.length, 1);
      assert.equal(repo.hooks.length, 1);
    });

    it("unlinking removes the key and the hook at GitHub", async () => {
      const res = await t.api("PUT", `/sites/${siteId}/unlink_repo`, { token: carol.token });
      assert.equal(res.status, 200, res.text);
      const repo = gh.repo("octo/linked");
      assert.equal(repo.keys.length, 0);
      assert.equal(repo.hooks.length, 0);
    });
  });
});
