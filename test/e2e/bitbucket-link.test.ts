import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sshdSkipReason, TestRepo, TestSshd } from "../helpers/sshd.ts";
import { startBitbucketFake, type BitbucketFake } from "../fakes/bitbucket/fake.ts";
import { startTestPlatform, type Tenant, type TestPlatform } from "../helpers/platform.ts";

/**
 * Linking a site through a Bitbucket connection, end to end: the platform against the strict
 * Bitbucket Cloud fake (API) and a real OpenSSH server standing in for bitbucket.org's git
 * over SSH — the fake hands each repository's access keys to it, as Bitbucket grants them SSH
 * read access. The repository is named in Bitbucket's native form, `workspace/repo_slug`
 * (the seed's last exchange), or by its `{uuid}`. Linking installs the key and the hook once,
 * linking again leaves one of each, and unlinking (or deleting the site) removes them.
 */

interface SiteBody {
  id: string;
  name: string;
  git_webhook: { url: string; secret: string } | null;
  git_connection_id: string | null;
  build_settings: {
    provider: string | null;
    repo_url: string | null;
    repo_path: string | null;
    id: string | number | null;
    deploy_key_id: string | null;
  };
}
interface LinkStep {
  step: string;
  status: string;
  message: string;
}
interface LinkView {
  provider: string;
  repository: { ref: string; id: string; path: string; branch: string } | null;
  steps: LinkStep[];
}

const skip = sshdSkipReason();

describe("link a site through a Bitbucket connection (fake API + real sshd)", { skip }, () => {
  let sshd: TestSshd;
  let bb: BitbucketFake;
  let t: TestPlatform;
  let tenant: Tenant;
  let connectionId: string;
  let site: SiteBody;

  before(async () => {
    sshd = await TestSshd.start([]);
    const repo = await TestRepo.create(sshd, "site.git");
    await repo.commit({ "index.html": "<h1>on bitbucket</h1>\n" });
    bb = await startBitbucketFake({
      // An access key of acme-web/site may read it over SSH; nothing else may.
      onDeployKeysChanged: (fullName, keys) =>
        fullName === "acme-web/site" ? sshd.setAuthorizedKeys(keys.map((k) => k.key)) : undefined,
    });
    bb.addUser("alice");
    bb.addRepo("alice", { workspace: "acme-web", slug: "site", sshUrl: sshd.url("site.git") });
    t = await startTestPlatform({
      platform: { buildWorkers: false },
      config: {
        allowedPrivateRepoHosts: [`127.0.0.1:${bb.port}`, `127.0.0.1:${sshd.port}`],
      },
    });
    tenant = await t.createTenant("alice");
    const connection = await t.api<{ id: string; remote_identity: string }>(
      "POST",
      "/git_connections",
      {
        token: tenant.token,
        body: {
          provider: "bitbucket",
          base_url: bb.apiUrl,
          username: "alice",
          app_password: bb.appPassword("alice"),
        },
      },
    );
    assert.equal(connection.status, 201, connection.text);
    assert.equal(connection.body.remote_identity, "alice");
    connectionId = connection.body.id;
  });

  after(async () => {
    await t?.stop();
    await bb?.close();
    await sshd?.dispose();
  });

  const api = <T>(method: string, path: string, body?: unknown) =>
    t.api<T>(method, path, { token: tenant.token, ...(body === undefined ? {} : { body }) });

  const publicKeyOf = async (target: SiteBody): Promise<string> => {
    const key = await api<{ public_key: string }>(
      "GET",
      `/deploy_keys/${target.build_settings.deploy_key_id!}`,
    );
    assert.equal(key.status, 200, key.text);
    return key.body.public_key.split(" ").slice(0, 2).join(" ");
  };

  /** The site's key and hook at Bitbucket: exactly one of each, with the site's secret. */
  const assertInstalledOnce = async (target: SiteBody): Promise<void> => {
    const keys = bb.deployKeys("acme-web/site");
    const publicKey = await publicKeyOf(target);
    assert.equal(keys.filter((k) => k.key === publicKey).length, 1, JSON.stringify(keys));
    const hooks = bb.hooks("acme-web/site").filter((h) => h.url === target.git_webhook!.url);
    assert.equal(hooks.length, 1, JSON.stringify(bb.hooks("acme-web/site")));
    assert.equal(hooks[0]!.secret, target.git_webhook!.secret);
    assert.equal(hooks[0]!.active, true);
    assert.ok(hooks[0]!.events.includes("repo:push"));
    assert.ok(hooks[0]!.events.includes("pullrequest:created"));
  };

  it("links workspace/repo_slug: key and hook installed, the branch read over SSH with the key", async () => {
    const created = await api<SiteBody & { build_id?: string }>("POST", "/sites", {
      name: "bb-site",
      repo: {
        provider: "bitbucket",
        repo_path: "acme-web/site",
        repo_branch: "main",
        cmd: "mkdir -p dist && cp index.html dist/",
        dir: "dist",
      },
    });
    assert.equal(created.status, 201, created.text);
    site = created.body;
    assert.equal(site.build_settings.repo_url, sshd.url("site.git"));
    assert.equal(site.build_settings.id, "acme-web/site", "Bitbucket's id is workspace/repo_slug");
    assert.equal(site.git_connection_id, connectionId);
    assert.ok(created.body.build_id, "the single initial build started after linking");

    const link = await api<LinkView>("GET", `/sites/${site.id}/link`);
    assert.equal(link.status, 200, link.text);
    assert.equal(link.body.provider, "bitbucket");
    assert.equal(link.body.repository?.id, "acme-web/site");
    assert.equal(link.body.repository.path, "acme-web/site");
    const steps = Object.fromEntries(link.body.steps.map((s) => [s.step, s]));
    for (const name of ["repository", "install_key", "webhook", "branch", "clone_access"]) {
      assert.equal(steps[name]?.status, "ok", `${name}: ${JSON.stringify(link.body.steps)}`);
    }
    const [key] = bb.deployKeys("acme-web/site");
    assert.match(
      steps.install_key!.message,
      new RegExp(`installed on bitbucket\\.org acme-web/site as id ${key!.id}`),
    );
    assert.match(steps.clone_access!.message, /git ls-remote: branch main found/);
    await assertInstalledOnce(site);

    // The hook works: a push Bitbucket signs with the installed secret is accepted.
    const [delivery] = await bb.push("acme-web/site", "main");
    assert.ok(delivery && delivery.status < 300, delivery?.responseBody);
  });

  it("links again (PATCH, repair) without a second key or hook, and drops duplicate hooks", async () => {
    const relinked = await api<SiteBody>("PATCH", `/sites/${site.id}`, {
      repo: { repo_path: "acme-web/site", repo_branch: "main" },
    });
    assert.equal(relinked.status, 200, relinked.text);
    await assertInstalledOnce(site);

    // Someone added the same hook by hand, twice (peers leave five behind).
    const token = bb.accessToken("alice");
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${bb.apiUrl}/repositories/acme-web/site/hooks`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({
          description: "by hand",
          url: site.git_webhook!.url,
          events: ["repo:push"],
        }),
      });
      assert.equal(res.status, 201);
    }
    assert.equal(bb.hooks("acme-web/site").length, 3);
    const repaired = await api<{ repair: { status: string } }>(
      "POST",
      `/sites/${site.id}/link/repair`,
    );
    assert.equal(repaired.status, 200, repaired.text);
    assert.equal(repaired.body.repair.status, "linked", repaired.text);
    await assertInstalledOnce(site);
    assert.equal(bb.deployKeys("acme-web/site").length, 1);
  });

  it("links a second site by the repository's {uuid}, and deleting it removes its key and hook", async () => {
    const raw = await fetch(`${bb.apiUrl}/repositories/acme-web/site`, {
      headers: { authorization: `Bearer ${bb.accessToken("alice")}` },
    });
    const { uuid } = (await raw.json()) as { uuid: string };
    const created = await api<SiteBody>("POST", "/sites", {
      name: "bb-by-uuid",
      repo: { provider: "bitbucket", connection_id: connectionId, id: uuid, repo_branch: "main" },
    });
    assert.equal(created.status, 201, created.text);
    const link = await api<LinkView>("GET", `/sites/${created.body.id}/link`);
    assert.equal(link.body.repository?.id, "acme-web/site", "stored as workspace/repo_slug");
    assert.equal(bb.deployKeys("acme-web/site").length, 2);
    assert.equal(bb.hooks("acme-web/site").length, 2);
    await assertInstalledOnce(created.body);

    const deleted = await api("DELETE", `/sites/${created.body.id}`);
    assert.equal(deleted.status, 204, deleted.text);
    assert.equal(bb.deployKeys("acme-web/site").length, 1);
    assert.deepEqual(
      bb.hooks("acme-web/site").map((h) => h.url),
      [site.git_webhook!.url],
    );
  });

  it("unlinks: the key and the hook are removed at Bitbucket, and reported", async () => {
    const unlinked = await api<{ link: { removed: Array<{ kind: string; message: string }> } }>(
      "PUT",
      `/sites/${site.id}/unlink_repo`,
    );
    assert.equal(unlinked.status, 200, unlinked.text);
    assert.deepEqual(unlinked.body.link.removed.map((r) => r.kind).sort(), [
      "deploy_key",
      "webhook",
    ]);
    assert.ok(unlinked.body.link.removed.every((r) => /acme-web\/site/.test(r.message)));
    assert.deepEqual(bb.deployKeys("acme-web/site"), []);
    assert.deepEqual(bb.hooks("acme-web/site"), []);
  });
});
