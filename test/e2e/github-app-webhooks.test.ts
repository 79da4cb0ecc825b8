import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { githubSignature, type GitHubFake } from "../fakes/github/fake.ts";
import { COPY_TO_DIST, edgeGet } from "../helpers/e2e.ts";
import { addInstalledApp, connectGitHubApp, startGitHubAndPlatform } from "../helpers/github.ts";
import type { Tenant, TestPlatform } from "../helpers/platform.ts";
import {
  createSite,
  waitForBuild,
  webhookDeliveries,
  type BuildBody as Build,
} from "../helpers/sites.ts";

/**
 * GitHub App webhooks end to end (fake GitHub, real platform): GitHub sends every event of an
 * App to the one webhook URL of the App — here the connection's `webhook_url` — and Slipway
 * routes it to the sites of that connection's account built through the installation.
 */

interface Connection {
  id: string;
  webhook_url?: string;
  webhook_secret_set?: boolean;
}
interface Site {
  id: string;
  name: string;
  build_id: string | null;
  link_broken_reason: string | null;
}

const SECRET = "alice's App webhook secret";

describe("GitHub App webhooks reach the sites built through an installation", () => {
  let gh: GitHubFake;
  let t: TestPlatform;
  let alice: Tenant;
  let bob: Tenant;
  let aliceApp: Connection;
  let aliceInstallation = 0;
  let bobInstallation = 0;
  let aliceSite: Site;
  let bobSite: Site;
  let siteRepoId = 0;

  const appRepo = (fullName: string, installationId: number, id?: number) => ({
    repo: {
      provider: "github",
      repo_url: `${gh.gitUrl}/${fullName}.git`,
      repo_branch: "main",
      cmd: "sh build.sh",
      dir: "dist",
      installation_id: installationId,
      ...(id === undefined ? {} : { id }),
    },
  });

  before(async () => {
    ({ gh, t } = await startGitHubAndPlatform());
    [alice, bob] = await Promise.all([t.createTenant("alice"), t.createTenant("bob")]);
    siteRepoId = (await gh.addRepo("octo", "site", { private: true })).id;
    await gh.addRepo("bobco", "blog", { private: true });
    for (const name of ["octo/site", "bobco/blog"]) {
      await gh.commit(name, {
        "index.html": `<h1>${name}</h1>\n`,
        "build.sh": COPY_TO_DIST,
      });
    }
    const aliceGitHubApp = addInstalledApp(gh, {
      slug: "alice-deploys",
      owner: "octo",
      account: "octo",
      repositories: ["octo/site"],
    });
    const bobGitHubApp = addInstalledApp(gh, {
      slug: "bob-deploys",
      owner: "bobco",
      account: "bobco",
      repositories: ["bobco/blog"],
    });
    aliceInstallation = aliceGitHubApp.installationId;
    bobInstallation = bobGitHubApp.installationId;

    const made = await connectGitHubApp<Connection>(t, gh, aliceGitHubApp, alice.token, {
      webhook_secret: SECRET,
    });
    aliceApp = made.body;
    // Bob's App has no webhook secret (yet).
    const bobMade = await connectGitHubApp<Connection>(t, gh, bobGitHubApp, bob.token);
    assert.equal(bobMade.body.webhook_secret_set, false);
    // The App's settings point at the platform: what the README tells users to paste.
    gh.setAppWebhook(aliceGitHubApp.appId, { url: aliceApp.webhook_url!, secret: SECRET });
    gh.setAppWebhook(bobGitHubApp.appId, {
      url: bobMade.body.webhook_url!,
      secret: "bob's secret",
    });

    aliceSite = await createSite(
      t,
      alice.token,
      appRepo("octo/site", aliceInstallation, siteRepoId),
    );
    // Bob's site is linked without a repository id: matched by its clone URL.
    bobSite = await createSite(t, bob.token, appRepo("bobco/blog", bobInstallation));
    for (const [site, tenant] of [
      [aliceSite, alice],
      [bobSite, bob],
    ] as const) {
      const build = await waitForBuild(t, site.build_id!, tenant.token);
      assert.equal(build.state, "done", build.error ?? "");
    }
  });
  after(async () => {
    await t?.stop();
    await gh?.close();
  });

  it("shows the App's webhook URL and whether a secret is set, never the secret", async () => {
    assert.equal(aliceApp.webhook_url, `${t.url}/webhooks/github-app/${aliceApp.id}`);
    assert.equal(aliceApp.webhook_secret_set, true);
    const listed = await t.api<Connection[]>("GET", "/git_connections", { token: alice.token });
    assert.equal(listed.body[0]?.webhook_url, aliceApp.webhook_url);
    assert.ok(!t.responses.some((r) => r.includes(SECRET)));

    const token = gh.addClassicToken("octo", ["repo"]);
    const notApp = await t.api<{ message: string }>("POST", "/git_connections", {
      token: alice.token,
      body: { provider: "github", base_url: gh.url, token, webhook_secret: "x" },
    });
    assert.equal(notApp.status, 422, notApp.text);
    assert.match(notApp.body.message, /webhook_secret: only a GitHub App connection/);
  });

  it("builds a push on the installed repository through the App webhook, and it goes live", async () => {
    const before = (await webhookDeliveries(t, aliceSite.id, alice.token)).length;
    const { sha, deliveries } = await gh.push("octo/site", "main", {
      "index.html": "<h1>pushed through the App</h1>\n",
    });
    const appDelivery = deliveries.find((d) => d.url === aliceApp.webhook_url);
    assert.equal(appDelivery?.status, 202, JSON.stringify(deliveries));

    const recorded = await webhookDeliveries(t, aliceSite.id, alice.token);
    assert.equal(recorded.length, before + 1);
    const delivery = recorded[0]!;
    assert.equal(delivery.event, "push");
    assert.equal(delivery.outcome, "built");
    assert.equal(delivery.sha, sha);
    const build = await waitForBuild(t, delivery.build_id!, alice.token);
    assert.equal(build.state, "done", build.error ?? "");
    assert.equal(build.sha, sha);
    const page = await edgeGet(t.url, `${aliceSite.name}.localhost`);
    assert.equal(page.body, "<h1>pushed through the App</h1>\n");
    // Bob's site, on another installation, heard nothing of it.
    assert.ok((await webhookDeliveries(t, bobSite.id, bob.token)).every((d) => d.event !== "push"));
  });

  it("refuses and records wrong or missing signatures, and never answers 5xx", async () => {
    const payload = {
      ref: "refs/heads/main",
      before: "0".repeat(40),
      after: "1".repeat(40),
      repository: { id: siteRepoId, full_name: "octo/site" },
      installation: { id: aliceInstallation },
    };
    const url = aliceApp.webhook_url!;
    const wrong = await gh.sendWebhook(url, "push", payload, { secret: "not the secret" });
    assert.equal(wrong.status, 401);
    const missing = await gh.sendWebhook(url, "push", payload);
    assert.equal(missing.status, 401);
    const recorded = await webhookDeliveries(t, aliceSite.id, alice.token);
    assert.match(recorded[0]!.reason, /^rejected: missing signature: no X-Hub-Signature-256/);
    assert.match(recorded[1]!.reason, /^rejected: bad signature: .*App's webhook secret/);
    assert.deepEqual(
      recorded.slice(0, 2).map((d) => [d.outcome, d.status_code, d.build_id]),
      [
        ["rejected", 401, null],
        ["rejected", 401, null],
      ],
    );

    // Bob's App has no secret: every delivery is refused, with the reason.
    const bobConnection = (
      await t.api<Connection[]>("GET", "/git_connections", { token: bob.token })
    ).body[0]!;
    const noSecret = await fetch(bobConnection.webhook_url!, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": "push" },
      body: "{}",
    });
    assert.equal(noSecret.status, 401);
    assert.match(await noSecret.text(), /has no webhook secret/);

    const post = async (path: string, headers: Record<string, string>, body: string) => {
      const res = await fetch(`${t.url}${path}`, { method: "POST", headers, body });
      return { status: res.status, text: await res.text() };
    };
    const sign = (event: string, body: string) => ({
      "content-type": "application/json",
      "x-github-event": event,
      "x-hub-signature-256": githubSignature(SECRET, body),
    });
    const path = `/webhooks/github-app/${aliceApp.id}`;
    const cases: Array<[string, string, Record<string, string>, string, number]> = [
      [
        "unknown connection",
        "/webhooks/github-app/0123456789abcdef01234567",
        sign("push", "{}"),
        "{}",
        404,
      ],
      ["malformed id", "/webhooks/github-app/..%2F..", sign("push", "{}"), "{}", 404],
      ["malformed JSON", path, sign("push", "{nope"), "{nope", 400],
      ["no installation", path, sign("push", "{}"), "{}", 400],
      [
        "no event header",
        path,
        { "x-hub-signature-256": githubSignature(SECRET, "{}") },
        "{}",
        400,
      ],
      ["ping", path, sign("ping", '{"zen":"hi"}'), '{"zen":"hi"}', 200],
    ];
    for (const [what, at, headers, body, status] of cases) {
      const res = await post(at, headers, body);
      assert.equal(res.status, status, `${what}: ${res.text}`);
    }
  });

  it("builds nothing for an installation that is not one of this account's sites", async () => {
    const bobBefore = await webhookDeliveries(t, bobSite.id, bob.token);
    const aliceBefore = await webhookDeliveries(t, aliceSite.id, alice.token);
    // Signed with Alice's secret at Alice's URL, but naming Bob's installation and repository.
    const delivery = await gh.sendWebhook(
      aliceApp.webhook_url!,
      "push",
      {
        ref: "refs/heads/main",
        before: "0".repeat(40),
        after: "2".repeat(40),
        repository: { id: gh.repo("bobco/blog").id, full_name: "bobco/blog" },
        installation: { id: bobInstallation },
      },
      { secret: SECRET },
    );
    assert.equal(delivery.status, 200);
    assert.deepEqual(await webhookDeliveries(t, bobSite.id, bob.token), bobBefore);
    assert.deepEqual(await webhookDeliveries(t, aliceSite.id, alice.token), aliceBefore);
    assert.ok(
      t.logs.some((l) =>
        l.includes(`no site of this account builds installation ${bobInstallation} / repository`),
      ),
    );
    const builds = await t.api<Build[]>("GET", `/sites/${bobSite.id}/builds`, { token: bob.token });
    assert.equal(builds.body.length, 1, "only Bob's initial build");
  });

  it("stops builds with the reason when the App is uninstalled", async () => {
    const delivery = await gh.uninstallApp(aliceInstallation);
    assert.equal(delivery?.status, 200);
    const reason = `the GitHub App installation ${aliceInstallation} was removed`;
    const site = await t.api<Site>("GET", `/sites/${aliceSite.id}`, { token: alice.token });
    assert.equal(site.body.link_broken_reason, reason);
    const recorded = await webhookDeliveries(t, aliceSite.id, alice.token);
    assert.equal(recorded[0]?.event, "installation");
    assert.equal(recorded[0]?.reason, `ignored: builds stop: ${reason}`);

    const started = await t.api<Build>("POST", `/sites/${aliceSite.id}/builds`, {
      token: alice.token,
    });
    assert.equal(started.status, 200, started.text);
    const build = await waitForBuild(t, started.body.id, alice.token);
    assert.equal(build.state, "error");
    assert.match(build.error ?? "", new RegExp(`Builds stop: ${reason}`));
  });

  it("marks a site whose repository was removed from the installation, and clears it when added back", async () => {
    const removed = await gh.changeInstallationRepositories(bobInstallation, []);
    assert.deepEqual(
      removed.map((d) => [d.event, d.status]),
      [["installation_repositories", 401]],
      "Bob's App has no secret yet",
    );
    const bobConnection = (
      await t.api<Connection[]>("GET", "/git_connections", { token: bob.token })
    ).body[0]!;
    const patched = await t.api<Connection>("PATCH", `/git_connections/${bobConnection.id}`, {
      token: bob.token,
      body: { webhook_secret: "bob's secret" },
    });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.webhook_secret_set, true);

    await gh.changeInstallationRepositories(bobInstallation, ["bobco/blog"]);
    const again = await gh.changeInstallationRepositories(bobInstallation, []);
    assert.deepEqual(
      again.map((d) => d.status),
      [200],
    );
    const reason = `the GitHub App installation ${bobInstallation} lost access to bobco/blog`;
    let site = await t.api<Site>("GET", `/sites/${bobSite.id}`, { token: bob.token });
    assert.equal(site.body.link_broken_reason, reason);

    await gh.changeInstallationRepositories(bobInstallation, ["bobco/blog"]);
    site = await t.api<Site>("GET", `/sites/${bobSite.id}`, { token: bob.token });
    assert.equal(site.body.link_broken_reason, null);
  });
});
