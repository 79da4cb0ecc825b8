import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { githubSignature, type GitHubFake } from "../fakes/github/fake.ts";
import { COPY_TO_DIST, edgeGet } from "../helpers/e2e.ts";
import { addInstalledApp, connectGitHubApp, startGitHubAndPlatform } from "../helpers/github.ts";
import type { Tenant, TestPlatform } from "../helpers/platform.ts";
import { waitForBuild, type BuildBody as Build } from "../helpers/sites.ts";

/**
 * GitHub end to end, against the strict fake and a real platform (builds in the sandbox, the
 * edge serving the result):
 *
 * - GitHub App installations: a site cloned over HTTPS through an installation of the account's
 *   own App goes live; an installation of another account's App is refused with 403 (the seed's
 *   unrelated account that kept building someone else's repository); builds stop, with the
 *   reason, when the installation loses the repository; no one else ever sees the id.
 * - webhook signatures at `/webhooks/sites/:id` with GitHub's documented test vector.
 *
 * Linking through a token connection (deploy key + webhook) is in `github-link.test.ts`.
 */

interface Site {
  id: string;
  name: string;
  build_id: string | null;
  git_webhook: { url: string; secret: string } | null;
  build_settings: { installation_id: number | null; repo_url: string | null };
}

/** Every `installation_id` anywhere in a JSON value. */
function installationIds(value: unknown): unknown[] {
  if (Array.isArray(value)) return value.flatMap(installationIds);
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    key === "installation_id" ? [inner] : installationIds(inner),
  );
}

describe("GitHub end to end: App installations and signatures (fake GitHub, real platform)", () => {
  let gh: GitHubFake;
  let t: TestPlatform;
  let alice: Tenant;
  let bob: Tenant;
  let carol: Tenant;
  let aliceInstallation = 0;
  let bobInstallation = 0;

  before(async () => {
    ({ gh, t } = await startGitHubAndPlatform());
    [alice, bob, carol] = await Promise.all([
      t.createTenant("alice"),
      t.createTenant("bob"),
      t.createTenant("carol"),
    ]);
    await gh.addRepo("octo", "site", { private: true });
    await gh.addRepo("octo", "linked", { private: true });
    await gh.commit("octo/site", {
      "index.html": "<h1>through the App</h1>\n",
      "build.sh": COPY_TO_DIST,
    });

    // Alice's and Bob's own Apps, each installed on octo's account.
    const aliceApp = addInstalledApp(gh, {
      slug: "alice-deploys",
      owner: "octo",
      account: "octo",
      repositories: ["octo/site"],
    });
    const bobApp = addInstalledApp(gh, { slug: "bob-deploys", owner: "bob", account: "octo" });
    aliceInstallation = aliceApp.installationId;
    bobInstallation = bobApp.installationId;
    for (const [tenant, app] of [
      [alice, aliceApp],
      [bob, bobApp],
    ] as const) {
      const made = await connectGitHubApp(t, gh, app, tenant.token);
      assert.doesNotMatch(made.text, /PRIVATE KEY/);
    }
  });
  after(async () => {
    await t?.stop();
    await gh?.close();
  });

  const appRepo = (installationId: number, extra: Record<string, unknown> = {}) => ({
    repo: {
      provider: "github",
      repo_url: `${gh.gitUrl}/octo/site.git`,
      repo_branch: "main",
      cmd: "sh build.sh",
      dir: "dist",
      installation_id: installationId,
      ...extra,
    },
  });

  describe("GitHub App installations", () => {
    let siteId = "";
    let siteName = "";

    it("refuses an installation of another account's App with 403, and stores nothing", async () => {
      for (const [tenant, installationId, why] of [
        [bob, aliceInstallation, /GitHub says it is not an installation of this account's App/],
        [alice, bobInstallation, /GitHub says it is not an installation of this account's App/],
        [carol, aliceInstallation, /the account has no GitHub App connection/],
      ] as const) {
        const res = await t.api<{ code: number; message: string }>("POST", "/sites", {
          token: tenant.token,
          body: appRepo(installationId),
        });
        assert.equal(res.status, 403, res.text);
        assert.equal(res.body.code, 403);
        assert.match(
          res.body.message,
          new RegExp(`installation ${installationId} does not belong to this account's GitHub App`),
        );
        assert.match(res.body.message, why);
        const sites = await t.api<unknown[]>("GET", "/sites", { token: tenant.token });
        assert.deepEqual(sites.body, []);
      }
    });

    it("refuses bad installation settings with a 4xx naming the field", async () => {
      const cases: Array<[Record<string, unknown>, number, RegExp]> = [
        [{ installation_id: "abc" }, 422, /installation_id/],
        [{ installation_id: -1 }, 422, /installation_id/],
        [{ repo_url: "ssh://git@localhost:22/octo/site.git" }, 422, /https clone URL/],
        [{ repo_url: `${gh.gitUrl}/octo/linked.git` }, 403, /has no access to octo\/linked/],
        [
          { repo_url: "https://localhost:1/octo/site.git" },
          422,
          /must be the clone URL GitHub reports/,
        ],
      ];
      for (const [extra, status, message] of cases) {
        const res = await t.api<{ code: number; message: string }>("POST", "/sites", {
          token: alice.token,
          body: appRepo(aliceInstallation, extra),
        });
        assert.equal(res.status, status, `${JSON.stringify(extra)}: ${res.text}`);
        assert.match(res.body.message, message);
      }
    });

    it("clones through the account's own installation over HTTPS and goes live", async () => {
      const res = await t.api<Site>("POST", "/sites", {
        token: alice.token,
        body: appRepo(aliceInstallation),
      });
      assert.equal(res.status, 201, res.text);
      siteId = res.body.id;
      siteName = res.body.name;
      assert.equal(res.body.build_settings.installation_id, aliceInstallation);
      const build = await waitForBuild(t, res.body.build_id!, alice.token);
      assert.equal(build.state, "done", build.error ?? "");
      const page = await edgeGet(t.url, `${siteName}.localhost`);
      assert.equal(page.status, 200);
      assert.equal(page.body, "<h1>through the App</h1>\n");
      assert.ok(
        gh.gitRequests.some((r) => r.path === "/octo/site.git/git-upload-pack" && r.authorized),
      );

      const log = await t.api<Array<{ message: string }>>("GET", `/builds/${build.id}/log`, {
        token: alice.token,
      });
      assert.match(log.text, /Using HTTPS credentials for localhost \(x-access-token\)/);
      // No installation token anywhere: logs, responses, build log.
      for (const text of [log.text, ...t.logs, ...t.responses]) assert.doesNotMatch(text, /ghs_/);
    });

    it("shows the installation id to the site's account only", async () => {
      const own = await t.api<Site>("GET", `/sites/${siteId}`, { token: alice.token });
      assert.deepEqual(installationIds(own.body), [aliceInstallation]);
      const seen: unknown[] = [];
      for (const path of [
        "/sites",
        `/sites/${siteId}`,
        `/sites/${siteId}/builds`,
        "/git_connections",
      ]) {
        const res = await t.api("GET", path, { token: bob.token });
        assert.ok(res.status === 200 || res.status === 404, `${path}: ${res.status}`);
        seen.push(...installationIds(res.body));
      }
      assert.deepEqual(seen, []);
    });

    it("refuses switching to another account's installation, and keeps the settings", async () => {
      const res = await t.api("PATCH", `/sites/${siteId}`, {
        token: alice.token,
        body: { repo: { installation_id: bobInstallation } },
      });
      assert.equal(res.status, 403, res.text);
      const site = await t.api<Site>("GET", `/sites/${siteId}`, { token: alice.token });
      assert.equal(site.body.build_settings.installation_id, aliceInstallation);
    });

    it("stops building, with the reason, when the installation loses the repository", async () => {
      gh.setInstallationRepositories(aliceInstallation, ["octo/linked"]);
      try {
        const started = await t.api<Build>("POST", `/sites/${siteId}/builds`, {
          token: alice.token,
        });
        assert.equal(started.status, 200, started.text);
        const build = await waitForBuild(t, started.body.id, alice.token);
        assert.equal(build.state, "error");
        assert.match(
          build.error ?? "",
          new RegExp(`installation ${aliceInstallation} no longer has access to the repository`),
        );
        assert.match(build.error ?? "", /octo\/site/);
      } finally {
        gh.setInstallationRepositories(aliceInstallation, ["octo/site"]);
      }
      const sha = await gh.commit("octo/site", { "index.html": "<h1>back again</h1>\n" });
      const again = await t.api<Build>("POST", `/sites/${siteId}/builds`, { token: alice.token });
      const build = await waitForBuild(t, again.body.id, alice.token);
      assert.equal(build.state, "done", build.error ?? "");
      assert.equal(build.sha, sha);
      assert.equal((await edgeGet(t.url, `${siteName}.localhost`)).body, "<h1>back again</h1>\n");
    });
  });

  describe("webhook signatures at /webhooks/sites/:id (GitHub's documented test vector)", () => {
    const SECRET = "It's a Secret to Everybody";
    const BODY = "Hello, World!";
    const SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let url = "";

    before(async () => {
      const res = await t.api<Site>("POST", "/sites", {
        token: carol.token,
        body: {
          repo: {
            provider: "github",
            repo_url: "https://github.com/octo/vector.git",
            repo_branch: "main",
            stop_builds: true,
          },
        },
      });
      assert.equal(res.status, 201, res.text);
      url = res.body.git_webhook!.url;
      // The vector's secret, sealed as the platform seals a site's webhook secret.
      const ctx = t.platform.ctx;
      await ctx.db
        .updateTable("sites")
        .set({ webhook_secret_sealed: ctx.secrets.seal(SECRET, `site_webhook:${res.body.id}`) })
        .where("id", "=", res.body.id)
        .execute();
    });

    const deliver = async (headers: Record<string, string>, body = BODY) => {
      const res = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "GitHub-Hookshot/test",
          ...headers,
        },
        body,
      });
      return { status: res.status, text: await res.text() };
    };

    it("accepts the vector's signature, and refuses invalid, missing and malformed ones, never with 5xx", async () => {
      assert.equal(githubSignature(SECRET, BODY), SIGNATURE);
      const valid = await deliver({ "x-github-event": "ping", "x-hub-signature-256": SIGNATURE });
      assert.equal(valid.status, 200, valid.text);
      assert.match(valid.text, /ignored: ping/);
      // Authentic, but not a push payload: the signature passed, the payload did not.
      const push = await deliver({ "x-github-event": "push", "x-hub-signature-256": SIGNATURE });
      assert.equal(push.status, 400, push.text);
      assert.match(push.text, /malformed payload/);

      const flipped = `${SIGNATURE.slice(0, -1)}6`;
      const refused: Array<[string, Record<string, string>, string?]> = [
        ["one flipped digit", { "x-hub-signature-256": flipped }],
        ["one flipped body byte", { "x-hub-signature-256": SIGNATURE }, "Hello, World?"],
        ["missing", {}],
        ["empty", { "x-hub-signature-256": "" }],
        ["SHA-1 only", { "x-hub-signature": "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59" }],
        ["no prefix", { "x-hub-signature-256": SIGNATURE.slice(7) }],
        ["too short", { "x-hub-signature-256": "sha256=ab" }],
        ["not hex", { "x-hub-signature-256": `sha256=${"z".repeat(64)}` }],
        ["wrong algorithm", { "x-hub-signature-256": SIGNATURE.replace("sha256", "sha512") }],
        ["huge", { "x-hub-signature-256": `sha256=${"a".repeat(8_000)}` }],
        ["Bitbucket's header", { "x-hub-signature": SIGNATURE }],
      ];
      for (const [what, headers, body] of refused) {
        const res = await deliver({ "x-github-event": "ping", ...headers }, body);
        assert.equal(res.status, 401, `${what}: ${res.status} ${res.text}`);
      }
      // Garbage beyond signatures: still 4xx, never 5xx.
      for (const [headers, body] of [
        [{ "x-github-event": "push", "content-type": "text/plain" }, "\u0000\u0001"],
        [{ "x-github-event": "push", "x-hub-signature-256": "sha256=\u00e9" }, BODY],
        [{ "x-github-event": "", "x-hub-signature-256": SIGNATURE }, BODY],
      ] as Array<[Record<string, string>, string]>) {
        const res = await deliver(headers, body).catch(() => ({
          status: 400,
          text: "refused by the client",
        }));
        assert.ok(
          res.status >= 400 && res.status < 500,
          `${JSON.stringify(headers)}: ${res.status} ${res.text}`,
        );
      }
    });
  });
});
