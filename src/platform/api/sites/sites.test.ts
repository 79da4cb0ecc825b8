import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { objectId } from "../../../lib/ids.ts";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";

interface SiteBody {
  id: string;
  site_id: string;
  name: string;
  url: string;
  ssl_url: string;
  admin_url: string;
  state: string;
  account_id: string;
  account_slug: string;
  account_name: string;
  created_at: string;
  updated_at: string;
  deploy_hook: string | null;
  git_provider: string | null;
  use_envelope: boolean;
  published_deploy: null | { id: string; state: string; deploy_url: string; url: string };
  deploy_url: string | null;
  git_webhook: { url: string; secret: string } | null;
  build_settings: {
    provider: string | null;
    repo_url: string | null;
    repo_path: string | null;
    id: number | string | null;
    repo_branch: string | null;
    cmd: string | null;
    dir: string | null;
    base: string | null;
    deploy_key_id: string | null;
    allowed_branches: string[];
    env_keys: string[];
    stop_builds: boolean;
    env?: unknown;
  };
}
interface ErrorBody {
  code: number;
  message: string;
  field?: string;
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("sites API", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let keyId: string;

  before(async () => {
    t = await startTestPlatform();
    alice = await t.createTenant("alice");
    keyId = (await t.api<{ id: string }>("POST", "/deploy_keys", { token: alice.token })).body.id;
  });
  after(() => t.stop());

  const countSites = async (): Promise<number> =>
    Number(
      (
        await t.platform.ctx.db
          .selectFrom("sites")
          .select((eb) => eb.fn.countAll<number>().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );

  describe("creating", () => {
    it("creates an unlinked site with a generated name from an empty body, in the default account", async () => {
      for (const body of [undefined, {}]) {
        const res = await t.api<SiteBody>("POST", "/sites", { token: alice.token, body });
        assert.equal(res.status, 201);
        assert.match(res.body.id, UUID_V4);
        assert.equal(res.body.site_id, res.body.id);
        assert.match(res.body.name, /^[a-z]+-[a-z]+-[0-9a-f]{6}$/);
        assert.equal(res.body.account_id, alice.accountId);
        assert.equal(res.body.account_slug, "alice");
        assert.equal(res.body.state, "current");
        assert.equal(res.body.url, `http://${res.body.name}.localhost:${new URL(t.url).port}`);
        assert.equal(res.body.admin_url, `${t.url}/sites/${res.body.name}`);
        assert.equal(res.body.git_webhook, null);
        assert.equal(res.body.deploy_hook, null);
        assert.equal(res.body.build_settings.repo_url, null);
        assert.deepEqual(res.body.build_settings.allowed_branches, []);
        assert.equal(res.body.published_deploy, null);
        assert.equal(res.body.use_envelope, true);
      }
    });

    it("links a repository: Netlify's fields, git_webhook with a fresh secret, env names only", async () => {
      const before = await countSites();
      const res = await t.api<SiteBody>("POST", "/sites", {
        token: alice.token,
        body: {
          name: "linked",
          plugins: [],
          repo: {
            provider: "gitlab",
            repo_type: "git",
            repo_url: "https://gitlab.com/alice/site.git",
            repo_path: "alice/site",
            id: 4242,
            repo_branch: "main",
            cmd: "npm run build",
            dir: "dist",
            base: "web",
            deploy_key_id: keyId,
            allowed_branches: ["main", "release/v1"],
            env: { NODE_ENV: "production", API_TOKEN: "s3cr3t-value" },
            stop_builds: false,
          },
        },
      });
      assert.equal(res.status, 201, res.text);
      assert.equal(await countSites(), before + 1);
      assert.equal(res.body.name, "linked");
      assert.equal(res.body.git_provider, "gitlab");
      assert.deepEqual(res.body.build_settings, {
        provider: "gitlab",
        repo_url: "https://gitlab.com/alice/site.git",
        repo_path: "alice/site",
        id: 4242,
        repo_branch: "main",
        cmd: "npm run build",
        dir: "dist",
        base: "web",
        deploy_key_id: keyId,
        installation_id: null,
        allowed_branches: ["main", "release/v1"],
        env_keys: ["API_TOKEN", "NODE_ENV"],
        stop_builds: false,
        build_network: true,
        deploy_previews: true,
      });
      assert.doesNotMatch(res.text, /s3cr3t-value/, "env values are never returned");
      const webhook = res.body.git_webhook;
      assert.ok(webhook);
      assert.equal(webhook.url, `${t.url}/webhooks/sites/${res.body.id}`);
      assert.match(webhook.secret, /^[0-9a-f]{64}$/);
      assert.equal(res.body.deploy_hook, webhook.url);

      const row = await t.platform.ctx.db
        .selectFrom("sites")
        .selectAll()
        .where("id", "=", res.body.id)
        .executeTakeFirstOrThrow();
      assert.ok(row.webhook_secret_sealed && !row.webhook_secret_sealed.includes(webhook.secret));
      assert.ok(row.env_sealed && !row.env_sealed.includes("s3cr3t-value"));
    });

    it("keeps the provider's own repository id form (Bitbucket's workspace/repo)", async () => {
      const res = await t.api<SiteBody>("POST", "/sites", {
        token: alice.token,
        body: {
          repo: {
            provider: "bitbucket",
            repo_url: "git@bitbucket.org:team/site.git",
            id: "team/site",
          },
        },
      });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.build_settings.id, "team/site");
      assert.deepEqual(res.body.build_settings.allowed_branches, ["main"]);
      assert.equal(res.body.build_settings.repo_branch, "main");
    });

    it("takes the URL from repo_path for netlify-cli's manual provider", async () => {
      const res = await t.api<SiteBody>("POST", "/sites", {
        token: alice.token,
        body: {
          repo: {
            provider: "manual",
            repo_path: "git@github.com:alice/manual.git",
            repo_branch: "trunk",
          },
        },
      });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.build_settings.repo_url, "git@github.com:alice/manual.git");
      assert.equal(res.body.build_settings.provider, "manual");
      assert.deepEqual(res.body.build_settings.allowed_branches, ["trunk"]);
    });

    it("POST /{account_slug}/sites creates in that account; a taken name is a 422", async () => {
      const res = await t.api<SiteBody>("POST", `/${alice.accountSlug}/sites`, {
        token: alice.token,
        body: { name: "team-site" },
      });
      assert.equal(res.status, 201);
      assert.equal(res.body.account_id, alice.accountId);
      for (const path of ["/sites", `/${alice.accountSlug}/sites`]) {
        const taken = await t.api<ErrorBody>("POST", path, {
          token: alice.token,
          body: { name: "team-site" },
        });
        assert.equal(taken.status, 422);
        assert.equal(taken.body.field, "name");
        assert.match(taken.body.message, /already taken/);
      }
      const unknown = await t.api("POST", "/no-such-account/sites", {
        token: alice.token,
        body: {},
      });
      assert.equal(unknown.status, 404);
    });

    it("refuses names that cannot be host names", async () => {
      for (const name of [
        "Hello",
        "-a",
        "a-",
        "a--b",
        "a.b",
        "a_b",
        "x".repeat(64),
        "c0ffee00-0000-4000-8000-000000000000",
      ]) {
        const res = await t.api<ErrorBody>("POST", "/sites", {
          token: alice.token,
          body: { name },
        });
        assert.equal(res.status, 422, name);
        assert.equal(res.body.field, "name");
      }
    });
  });

  describe("repository validation, before anything is stored", () => {
    /** A repository URL that passes, with `settings` that are refused. */
    const onGitHub = (settings: Record<string, unknown>) => ({
      repo_url: "https://github.com/a/b.git",
      ...settings,
    });
    const refusals: Array<[string, Record<string, unknown>, string, RegExp]> = [
      [
        "option as URL",
        { repo_url: "-oProxyCommand=touch /tmp/pwn" },
        "repo.repo_url",
        /must not start with "-"/,
      ],
      ["ext:: helper", { repo_url: "ext::sh -c touch% /tmp/pwn" }, "repo.repo_url", /ext::/],
      ["file://", { repo_url: "file:///etc" }, "repo.repo_url", /file:\/\//],
      ["local path", { repo_url: "/srv/repo" }, "repo.repo_url", /local paths/],
      [
        "option as host (scp)",
        { repo_url: "git@-oProxy:x" },
        "repo.repo_url",
        /host "-oProxy" must not start with "-"/,
      ],
      [
        "option as host (ssh)",
        { repo_url: "ssh://-oProxyCommand=x/y" },
        "repo.repo_url",
        /must not start with "-"/,
      ],
      [
        "loopback",
        { repo_url: "ssh://127.0.0.1/x" },
        "repo.repo_url",
        /127\.0\.0\.1 is a loopback address/,
      ],
      [
        "localhost",
        { repo_url: "ssh://git@localhost/x.git" },
        "repo.repo_url",
        /resolves to 127\.0\.0\.1/,
      ],
      ["IPv6 loopback", { repo_url: "ssh://git@[::1]/x.git" }, "repo.repo_url", /loopback/],
      [
        "private name",
        { repo_url: "https://rebind.example/a.git" },
        "repo.repo_url",
        /10\.1\.2\.3, a private address/,
      ],
      ["metadata", { repo_url: "https://metadata.example/a.git" }, "repo.repo_url", /link-local/],
      [
        "credentials",
        { repo_url: "https://u:pw@github.com/a/b.git" },
        "repo.repo_url",
        /user name or password/,
      ],
      ["http", { repo_url: "http://github.com/a/b.git" }, "repo.repo_url", /plain http/],
      ["missing URL", { provider: "github", repo_branch: "main" }, "repo.repo_url", /is required/],
      ["bad provider", onGitHub({ provider: "svn" }), "repo.provider", /must be one of/],
      [
        "branch option",
        onGitHub({ repo_branch: "--upload-pack=x" }),
        "repo.repo_branch",
        /must not start with "-"/,
      ],
      [
        "branch with ..",
        onGitHub({ repo_branch: "a..b" }),
        "repo.repo_branch",
        /not a valid git branch name/,
      ],
      [
        "branch with space",
        onGitHub({ repo_branch: "main branch" }),
        "repo.repo_branch",
        /not a valid git branch name/,
      ],
      ["branch .lock", onGitHub({ repo_branch: "x.lock" }), "repo.repo_branch", /not a valid/],
      [
        "allowed branch",
        onGitHub({ allowed_branches: ["main", "$(id)~1"] }),
        "repo.allowed_branches.1",
        /not a valid git branch name/,
      ],
      ["dir ..", onGitHub({ dir: "../../etc" }), "repo.dir", /\.\./],
      ["dir inner ..", onGitHub({ dir: "dist/../../x" }), "repo.dir", /\.\./],
      ["dir absolute", onGitHub({ dir: "/etc" }), "repo.dir", /not an absolute path/],
      ["base absolute", onGitHub({ base: "/srv" }), "repo.base", /not an absolute path/],
      ["base ~", onGitHub({ base: "~/x" }), "repo.base", /not an absolute path/],
      ["base option", onGitHub({ base: "-rf" }), "repo.base", /must not start with "-"/],
      [
        "unknown key",
        onGitHub({ deploy_key_id: "0123456789abcdef01234567" }),
        "repo.deploy_key_id",
        /no deploy key/,
      ],
      [
        "env name",
        onGitHub({ env: { "BAD-NAME": "x" } }),
        "repo.env.BAD-NAME",
        /not a valid environment variable name/,
      ],
      ["env type", onGitHub({ env: { A: { nested: 1 } } }), "repo.env.A", /must be a string/],
      [
        "branches type",
        onGitHub({ allowed_branches: "main" }),
        "repo.allowed_branches",
        /must be an array/,
      ],
    ];

    for (const [label, repo, field, message] of refusals) {
      it(`refuses ${label} with a 422 naming ${field}`, async () => {
        const before = await countSites();
        const res = await t.api<ErrorBody>("POST", "/sites", {
          token: alice.token,
          body: { name: "refused-site", repo },
        });
        assert.equal(res.status, 422, res.text);
        assert.equal(res.body.code, 422);
        assert.equal(res.body.field, field);
        assert.match(res.body.message, message);
        assert.ok(res.body.message.startsWith(field), res.body.message);
        assert.equal(await countSites(), before, "nothing is stored");
      });
    }

    it("accepts https://github.com/a/b.git and ssh, scp-style URLs to public hosts", async () => {
      for (const repo_url of [
        "https://github.com/a/b.git",
        "ssh://git@gitlab.com/group/site.git",
        "git@github.com:owner/repo.git",
      ]) {
        const res = await t.api<SiteBody>("POST", "/sites", {
          token: alice.token,
          body: { repo: { repo_url } },
        });
        assert.equal(res.status, 201, `${repo_url}: ${res.text}`);
        assert.equal(res.body.build_settings.repo_url, repo_url);
      }
    });

    it("accepts a private host the administrator allowed", async () => {
      const allowed = await startTestPlatform({
        config: { allowedPrivateRepoHosts: ["127.0.0.1:2222", "localhost"] },
      });
      try {
        const ok = await allowed.api<SiteBody>("POST", "/sites", {
          body: { repo: { repo_url: "ssh://git@127.0.0.1:2222/alice/site.git" } },
        });
        assert.equal(ok.status, 201, ok.text);
        const byName = await allowed.api("POST", "/sites", {
          body: { repo: { repo_url: "git@localhost:x.git" } },
        });
        assert.equal(byName.status, 201, byName.text);
        const otherPort = await allowed.api<ErrorBody>("POST", "/sites", {
          body: { repo: { repo_url: "ssh://git@127.0.0.1:22/alice/site.git" } },
        });
        assert.equal(otherPort.status, 422);
      } finally {
        await allowed.stop();
      }
    });

    it("refuses a deploy key from another of the caller's accounts, saying where to create one", async () => {
      const db = t.platform.ctx.db;
      const now = new Date().toISOString();
      const teamId = objectId();
      await db
        .insertInto("accounts")
        .values({
          id: teamId,
          slug: "alice-team",
          name: "Team",
          type: "team",
          created_at: now,
          updated_at: now,
        })
        .execute();
      await db
        .insertInto("account_memberships")
        .values({
          account_id: teamId,
          user_id: alice.userId,
          role: "Owner",
          is_default: 0,
          created_at: now,
        })
        .execute();
      const teamKey = await t.api<{ id: string; account_id: string }>(
        "POST",
        "/deploy_keys?account_slug=alice-team",
        { token: alice.token },
      );
      assert.equal(teamKey.body.account_id, teamId);
      const res = await t.api<ErrorBody>("POST", "/sites", {
        token: alice.token,
        body: { repo: { repo_url: "https://github.com/a/b.git", deploy_key_id: teamKey.body.id } },
      });
      assert.equal(res.status, 422);
      assert.equal(res.body.field, "repo.deploy_key_id");
      assert.match(res.body.message, /belongs to another of your accounts/);
      const inTeam = await t.api<SiteBody>("POST", "/alice-team/sites", {
        token: alice.token,
        body: { repo: { repo_url: "https://github.com/a/b.git", deploy_key_id: teamKey.body.id } },
      });
      assert.equal(inTeam.status, 201, inTeam.text);
      assert.equal(inTeam.body.account_slug, "alice-team");
    });
  });

  describe("reading, changing, unlinking and deleting", () => {
    let site: SiteBody;

    before(async () => {
      site = (
        await t.api<SiteBody>("POST", "/sites", {
          token: alice.token,
          body: {
            name: "changeable",
            repo: {
              provider: "github",
              repo_url: "https://github.com/alice/c.git",
              repo_branch: "main",
              env: { A: "1" },
            },
          },
        })
      ).body;
    });

    it("GET /sites/:id finds a site by id or by name (with the CLI's ?feature_flags=cli)", async () => {
      for (const key of [site.id, site.name, `${site.id}?feature_flags=cli`]) {
        const res = await t.api<SiteBody>("GET", `/sites/${key}`, { token: alice.token });
        assert.equal(res.status, 200);
        assert.equal(res.body.id, site.id);
        assert.deepEqual(
          res.body.git_webhook,
          site.git_webhook,
          "the owner can retrieve the webhook later",
        );
      }
      const missing = await t.api<ErrorBody>("GET", "/sites/no-such-site", { token: alice.token });
      assert.equal(missing.status, 404);
      assert.deepEqual(missing.body, { code: 404, message: "Site not found" });
    });

    it("PATCH merges repository settings; allowed_branches follows the production branch", async () => {
      const res = await t.api<SiteBody>("PATCH", `/sites/${site.id}`, {
        token: alice.token,
        body: { repo: { repo_branch: "production", cmd: "make", deploy_key_id: keyId } },
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.build_settings.repo_url, "https://github.com/alice/c.git");
      assert.equal(res.body.build_settings.repo_branch, "production");
      assert.deepEqual(res.body.build_settings.allowed_branches, ["production"]);
      assert.equal(res.body.build_settings.cmd, "make");
      assert.equal(res.body.build_settings.deploy_key_id, keyId);
      assert.deepEqual(res.body.build_settings.env_keys, ["A"], "env kept when not sent");
      assert.deepEqual(res.body.git_webhook, site.git_webhook, "the secret survives an update");

      const viaBuildSettings = await t.api<SiteBody>("PATCH", `/sites/${site.id}`, {
        token: alice.token,
        body: { build_settings: { dir: "public", cmd: "", env: { B: "2", C: "3" } } },
      });
      assert.equal(viaBuildSettings.status, 200);
      assert.equal(viaBuildSettings.body.build_settings.dir, "public");
      assert.equal(viaBuildSettings.body.build_settings.cmd, null, "an empty string clears");
      assert.deepEqual(viaBuildSettings.body.build_settings.env_keys, ["B", "C"]);
    });

    it("PATCH refuses bad settings and changes nothing", async () => {
      const before = await t.api<SiteBody>("GET", `/sites/${site.id}`, { token: alice.token });
      const res = await t.api<ErrorBody>("PATCH", `/sites/${site.id}`, {
        token: alice.token,
        body: { name: "renamed-too", repo: { repo_url: "file:///etc/passwd" } },
      });
      assert.equal(res.status, 422);
      assert.equal(res.body.field, "repo.repo_url");
      const afterwards = await t.api<SiteBody>("GET", `/sites/${site.id}`, { token: alice.token });
      assert.deepEqual(afterwards.body, before.body);
    });

    it("PATCH renames; a taken or invalid name is a 422", async () => {
      const renamed = await t.api<SiteBody>("PATCH", `/sites/${site.id}`, {
        token: alice.token,
        body: { name: "changed" },
      });
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.name, "changed");
      assert.equal(renamed.body.url, `http://changed.localhost:${new URL(t.url).port}`);
      await t.api("POST", "/sites", { token: alice.token, body: { name: "occupied" } });
      for (const name of ["occupied", "", "Bad Name"]) {
        const res = await t.api<ErrorBody>("PATCH", `/sites/${site.id}`, {
          token: alice.token,
          body: { name },
        });
        assert.equal(res.status, 422, name);
        assert.equal(res.body.field, "name");
      }
    });

    it("PATCH links an unlinked site (and generates its webhook secret)", async () => {
      const plain = await t.api<SiteBody>("POST", "/sites", {
        token: alice.token,
        body: { name: "link-later" },
      });
      const linked = await t.api<SiteBody>("PATCH", `/sites/${plain.body.id}`, {
        token: alice.token,
        body: {
          repo: {
            provider: "gitea",
            repo_url: "ssh://git@gitlab.com/x/y.git",
            deploy_key_id: keyId,
          },
        },
      });
      assert.equal(linked.status, 200, linked.text);
      assert.equal(linked.body.build_settings.provider, "gitea");
      assert.match(linked.body.git_webhook?.secret ?? "", /^[0-9a-f]{64}$/);
      const missingUrl = await t.api<ErrorBody>("PATCH", "/sites/team-site", {
        token: alice.token,
        body: { repo: { repo_branch: "main" } },
      });
      assert.equal(missingUrl.status, 422);
      assert.equal(missingUrl.body.field, "repo.repo_url");
    });

    it("POST /sites/:id/git_webhook/rotate replaces the secret", async () => {
      const rotated = await t.api<{ url: string; secret: string }>(
        "POST",
        `/sites/${site.id}/git_webhook/rotate`,
        {
          token: alice.token,
        },
      );
      assert.equal(rotated.status, 200);
      assert.equal(rotated.body.url, site.git_webhook?.url);
      assert.match(rotated.body.secret, /^[0-9a-f]{64}$/);
      assert.notEqual(rotated.body.secret, site.git_webhook?.secret);
      const now = await t.api<SiteBody>("GET", `/sites/${site.id}`, { token: alice.token });
      assert.equal(now.body.git_webhook?.secret, rotated.body.secret);
    });

    it("PUT /sites/:id/unlink_repo removes the link, the webhook secret and the build hooks", async () => {
      const now = new Date().toISOString();
      await t.platform.ctx.db
        .insertInto("build_hooks")
        .values({
          id: objectId(),
          site_id: site.id,
          title: "cms",
          branch: "main",
          created_at: now,
          updated_at: now,
        })
        .execute();
      const res = await t.api<SiteBody>("PUT", `/sites/${site.id}/unlink_repo`, {
        token: alice.token,
      });
      assert.equal(res.status, 200);
      assert.equal(res.body.git_webhook, null);
      assert.equal(res.body.build_settings.repo_url, null);
      assert.equal(res.body.build_settings.deploy_key_id, null);
      assert.deepEqual(res.body.build_settings.env_keys, ["B", "C"], "the environment stays");
      const hooks = await t.platform.ctx.db
        .selectFrom("build_hooks")
        .select("id")
        .where("site_id", "=", site.id)
        .execute();
      assert.equal(hooks.length, 0);
      const rotate = await t.api<ErrorBody>("POST", `/sites/${site.id}/git_webhook/rotate`, {
        token: alice.token,
      });
      assert.equal(rotate.status, 422);
      assert.match(rotate.body.message, /not linked/);
    });

    it("shows the published deploy with its permalink", async () => {
      const db = t.platform.ctx.db;
      const now = new Date().toISOString();
      const deployId = objectId();
      await db
        .insertInto("deploys")
        .values({
          id: deployId,
          site_id: site.id,
          build_id: null,
          state: "ready",
          context: "production",
          branch: "main",
          commit_ref: "a".repeat(40),
          title: null,
          draft: 0,
          locked: 0,
          error_message: null,
          required: "[]",
          file_count: 1,
          size_bytes: 10,
          created_at: now,
          updated_at: now,
          published_at: now,
        })
        .execute();
      await db
        .updateTable("sites")
        .set({ published_deploy_id: deployId })
        .where("id", "=", site.id)
        .execute();
      const res = await t.api<SiteBody>("GET", `/sites/${site.id}`, { token: alice.token });
      const port = new URL(t.url).port;
      assert.equal(res.body.published_deploy?.id, deployId);
      assert.equal(res.body.published_deploy?.state, "ready");
      assert.equal(
        res.body.published_deploy?.deploy_url,
        `http://${deployId}--changed.localhost:${port}`,
      );
      assert.equal(res.body.deploy_url, `http://${deployId}--changed.localhost:${port}`);
    });

    it("DELETE /sites/:id removes the site with its deploys", async () => {
      const res = await t.api("DELETE", "/sites/changed", { token: alice.token });
      assert.equal(res.status, 204);
      assert.equal((await t.api("GET", `/sites/${site.id}`, { token: alice.token })).status, 404);
      const deploys = await t.platform.ctx.db
        .selectFrom("deploys")
        .select("id")
        .where("site_id", "=", site.id)
        .execute();
      assert.equal(deploys.length, 0);
      assert.equal(
        (await t.api("DELETE", `/sites/${site.id}`, { token: alice.token })).status,
        404,
      );
    });
  });

  describe("listing", () => {
    let bob: Tenant;

    before(async () => {
      bob = await t.createTenant("bob");
      for (const name of ["bob-a", "bob-b", "bob-c", "other-d", "other-e"]) {
        const res = await t.api("POST", "/sites", { token: bob.token, body: { name } });
        assert.equal(res.status, 201);
      }
    });

    it("pages with per_page and Link headers, sorted by name", async () => {
      const first = await t.api<SiteBody[]>("GET", "/sites?per_page=2", { token: bob.token });
      assert.equal(first.status, 200);
      assert.deepEqual(
        first.body.map((s) => s.name),
        ["bob-a", "bob-b"],
      );
      assert.equal(first.headers.get("x-total-count"), "5");
      const link = first.headers.get("link") ?? "";
      assert.ok(link.includes(`<${t.url}/api/v1/sites?per_page=2&page=2>; rel="next"`), link);
      assert.ok(link.includes(`<${t.url}/api/v1/sites?per_page=2&page=3>; rel="last"`), link);
      assert.ok(!link.includes('rel="prev"'));
      const last = await t.api<SiteBody[]>("GET", "/sites?per_page=2&page=3", { token: bob.token });
      assert.deepEqual(
        last.body.map((s) => s.name),
        ["other-e"],
      );
      assert.ok((last.headers.get("link") ?? "").includes('rel="prev"'));
      assert.ok(!(last.headers.get("link") ?? "").includes('rel="next"'));
      const beyond = await t.api<SiteBody[]>("GET", "/sites?per_page=2&page=9", {
        token: bob.token,
      });
      assert.deepEqual(beyond.body, []);
    });

    it("filters by part of the name, and by filter=all|owner|guest (as netlify link does)", async () => {
      const named = await t.api<SiteBody[]>(
        "GET",
        "/sites?name=other&filter=all&page=1&per_page=100",
        { token: bob.token },
      );
      assert.deepEqual(
        named.body.map((s) => s.name),
        ["other-d", "other-e"],
      );
      const exact = await t.api<SiteBody[]>("GET", "/sites?name=bob-b", { token: bob.token });
      assert.deepEqual(
        exact.body.map((s) => s.name),
        ["bob-b"],
      );
      const wildcard = await t.api<SiteBody[]>("GET", "/sites?name=%25", { token: bob.token });
      assert.deepEqual(wildcard.body, []);
      const owner = await t.api<SiteBody[]>("GET", "/sites?filter=owner", { token: bob.token });
      assert.equal(owner.body.length, 5);
      const guest = await t.api<SiteBody[]>("GET", "/sites?filter=guest", { token: bob.token });
      assert.deepEqual(guest.body, []);
    });

    it("puts the site of exactly that name first, where netlify-cli looks for it", async () => {
      // `netlify deploy --site <name>` and `netlify link --name` read the first page only.
      const carol = await t.createTenant("carol");
      for (const name of ["a-docs", "docs-old", "docs"]) {
        const res = await t.api("POST", "/sites", { token: carol.token, body: { name } });
        assert.equal(res.status, 201);
      }
      const pages = [];
      for (const page of [1, 2, 3]) {
        const res = await t.api<SiteBody[]>("GET", `/sites?name=docs&per_page=1&page=${page}`, {
          token: carol.token,
        });
        assert.equal(res.headers.get("x-total-count"), "3");
        pages.push(...res.body.map((s) => s.name));
      }
      assert.deepEqual(pages, ["docs", "a-docs", "docs-old"]);
    });

    it("GET /{account_slug}/sites lists one account's sites", async () => {
      const res = await t.api<SiteBody[]>("GET", `/${bob.accountSlug}/sites?per_page=100`, {
        token: bob.token,
      });
      assert.equal(res.body.length, 5);
      assert.ok(res.body.every((s) => s.account_slug === bob.accountSlug));
    });

    it("refuses bad query parameters with a 422 naming them", async () => {
      for (const [query, field] of [
        ["per_page=0", "per_page"],
        ["per_page=abc", "per_page"],
        ["page=-1", "page"],
        ["filter=everyone", "filter"],
      ]) {
        const res = await t.api<ErrorBody>("GET", `/sites?${query}`, { token: bob.token });
        assert.equal(res.status, 422, query);
        assert.equal(res.body.field, field);
      }
    });
  });

  describe("site_id: the site's id, name or domain, on every route that takes one", () => {
    /**
     * Every API route with a `:site_id` (the sources are checked against this list below), with
     * a request that reaches the site lookup: a body its schema accepts, other ids naming nothing.
     * On Netlify, too, "whenever the API requires a :site_id, you can either use the id of a
     * site or its domain" (`hello.netlify.app`, `www.example.com`), and the CLI passes names.
     */
    const ROUTES: readonly (readonly [method: string, path: string, body?: unknown])[] = [
      ["GET", "/sites/:site_id"],
      ["PATCH", "/sites/:site_id", {}],
      ["PUT", "/sites/:site_id/unlink_repo"],
      ["POST", "/sites/:site_id/git_webhook/rotate"],
      ["GET", "/sites/:site_id/builds"],
      ["POST", "/sites/:site_id/builds"],
      ["GET", "/sites/:site_id/deploys"],
      ["POST", "/sites/:site_id/deploys", { files: {} }],
      ["GET", "/sites/:site_id/deploys/:deploy_id"],
      ["PUT", "/sites/:site_id/deploys/:deploy_id", { files: {} }],
      ["DELETE", "/sites/:site_id/deploys/:deploy_id"],
      ["POST", "/sites/:site_id/deploys/:deploy_id/restore"],
      ["PUT", "/sites/:site_id/rollback"],
      ["GET", "/sites/:site_id/deployed-branches"],
      ["GET", "/sites/:site_id/env"],
      ["GET", "/api/v1/sites/:site_id/env"],
      ["GET", "/sites/:site_id/build_hooks"],
      ["POST", "/sites/:site_id/build_hooks", { title: "key check", branch: "main" }],
      ["GET", "/sites/:site_id/build_hooks/:id"],
      ["PUT", "/sites/:site_id/build_hooks/:id", { title: "key check" }],
      ["DELETE", "/sites/:site_id/build_hooks/:id"],
      ["GET", "/sites/:site_id/webhook_deliveries"],
      ["GET", "/sites/:site_id/webhook_deliveries/:delivery_id"],
      ["GET", "/sites/:site_id/link"],
      ["POST", "/sites/:site_id/link/check"],
      ["POST", "/sites/:site_id/link/repair"],
      ["GET", "/sites/:site_id/domains"],
      ["GET", "/sites/:site_id/ssl"],
      ["POST", "/sites/:site_id/ssl"],
      ["POST", "/sites/:site_id/ssl/renew"],
      ["DELETE", "/sites/:site_id/ssl"],
      // a query parameter, not a path one
      ["GET", "/accounts/:account_slug/env?site_id=:site_id"],
    ];
    /** Routes that look nothing up by their `site_id` (they answer the same for any id). */
    const NOT_LOOKED_UP = [
      "/team/:account_id/integrations/installations/meta/:site_id",
      "/site/:site_id/integrations/safe",
    ];

    let site: SiteBody;
    before(async () => {
      const created = await t.api<SiteBody>("POST", "/sites", {
        token: alice.token,
        body: { name: "keyed", custom_domain: "www.keyed.test", domain_aliases: ["keyed.example"] },
      });
      assert.equal(created.status, 201, created.text);
      site = created.body;
    });

    it("lists every route with a :site_id in the API's sources", () => {
      const api = join(import.meta.dirname, "..");
      const declared = new Set<string>();
      for (const folder of readdirSync(api)) {
        const routes = join(api, folder, "routes.ts");
        let source: string;
        try {
          source = readFileSync(routes, "utf8");
        } catch {
          continue;
        }
        for (const match of source.matchAll(/"(\/[^"]*:site_id[^"]*)"/g)) declared.add(match[1]!);
      }
      const listed = new Set([...ROUTES.map(([, path]) => path), ...NOT_LOOKED_UP]);
      const missing = [...declared].filter((path) => !listed.has(path));
      assert.deepEqual(missing, [], "add these routes to ROUTES (or to NOT_LOOKED_UP, saying why)");
    });

    it("finds the site by its id, its name, its own host, its custom domain and an alias", async () => {
      const request = (method: string, path: string, key: string, body: unknown) =>
        t.api<unknown>(
          method,
          path
            .replace(":site_id", encodeURIComponent(key))
            .replace(":account_slug", alice.accountSlug)
            .replace(/:(deploy_id|id|delivery_id)\b/, objectId()),
          { token: alice.token, ...(body === undefined ? {} : { body }) },
        );
      const keys = [site.name, "KEYED", "keyed.localhost", "www.keyed.test", "keyed.example"];
      for (const [method, path, body] of ROUTES) {
        const route = `${method} ${path}`;
        const unknown = await request(method, path, "no-such-site.localhost", body);
        assert.deepEqual(
          [unknown.status, unknown.body],
          [404, { code: 404, message: "Site not found" }],
          `${route} must reach the site lookup`,
        );
        const byId = await request(method, path, site.id, body);
        assert.notDeepEqual(byId.body, unknown.body, route);
        for (const key of keys) {
          const res = await request(method, path, key, body);
          assert.equal(res.status, byId.status, `${route} with ${key}: ${res.text}`);
          if (method === "GET") assert.deepEqual(res.body, byId.body, `${route} with ${key}`);
        }
      }
    });

    it("refuses another account's site whichever way it is named", async () => {
      const mallory = await t.createTenant("mallory");
      for (const key of [site.id, site.name, "keyed.localhost", "www.keyed.test"]) {
        const res = await t.api<ErrorBody>("GET", `/sites/${key}`, { token: mallory.token });
        assert.deepEqual([res.status, res.body], [404, { code: 404, message: "Site not found" }]);
      }
    });

    it("names no site with a host that is not exactly one (a deploy's permalink, a subdomain)", async () => {
      for (const key of [
        "x.keyed.localhost",
        "0123456789abcdef01234567--keyed.localhost",
        "localhost",
      ]) {
        const res = await t.api<ErrorBody>("GET", `/sites/${key}`, { token: alice.token });
        assert.equal(res.status, 404, key);
      }
    });
  });

  describe("bad requests", () => {
    it("answers malformed JSON with 400, wrong types with 422, unknown routes with a JSON 404", async () => {
      const malformed = await t.api<ErrorBody>("POST", "/sites", {
        token: alice.token,
        body: '{"name": "x",',
      });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.code, 400);
      assert.match(malformed.body.message, /not valid JSON/);

      const array = await t.api<ErrorBody>("POST", "/sites", { token: alice.token, body: "[1,2]" });
      assert.equal(array.status, 422);
      assert.match(array.body.message, /must be an object/);

      const nested = await t.api<ErrorBody>("POST", "/sites", {
        token: alice.token,
        body: { repo: "github" },
      });
      assert.equal(nested.status, 422);
      assert.equal(nested.body.field, "repo");

      const route = await t.api<ErrorBody>("GET", "/no/such/route", { token: alice.token });
      assert.equal(route.status, 404);
      assert.equal(route.body.code, 404);
      assert.match(route.headers.get("content-type") ?? "", /application\/json/);

      const form = await t.api<ErrorBody>("POST", "/sites", {
        token: alice.token,
        body: "name=x",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      assert.equal(form.status, 415);
      assert.match(form.body.message, /application\/json/);

      const huge = await t.api<ErrorBody>("POST", "/sites", {
        token: alice.token,
        body: JSON.stringify({ name: "x".repeat(2 * 1024 * 1024) }),
      });
      assert.equal(huge.status, 413);
      assert.equal(huge.body.code, 413);
    });
  });
});
