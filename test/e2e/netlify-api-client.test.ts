import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { NetlifyAPI } from "@netlify/api";
import { sha1 } from "../helpers/digests.ts";
import { edgeGet } from "../helpers/e2e.ts";
import { assertSpecResponse } from "../helpers/open-api.ts";
import { startTestPlatform, type Tenant, type TestPlatform } from "../helpers/platform.ts";
import { logMark, onlyRequestSince, requestsSince } from "../helpers/request-log.ts";
import { poll } from "../helpers/wait.ts";

/**
 * Netlify's own JavaScript client, `@netlify/api` (pinned in package.json), pointed at a running
 * Slipway with `{scheme, host, pathPrefix}`: sites, accounts, deploy keys, builds, the env API
 * and the file-digest deploy protocol. Every answer is checked against `@netlify/open-api`'s
 * schema for the operation and the status the platform sent (read from its request log).
 */

interface Site {
  id: string;
  name: string;
  account_slug: string;
  use_envelope: boolean;
  published_deploy: { id: string; locked: boolean } | null;
}
interface Deploy {
  id: string;
  site_id: string;
  state: string;
  required: string[];
  locked: boolean;
  draft: boolean;
  deploy_url: string;
  error_message: string | null;
}
interface Build {
  id: string;
  deploy_id: string;
  done: boolean;
}
interface EnvVar {
  key: string;
  values: { id: string; value?: string; context: string }[];
}
interface ClientError {
  status: number;
  json: { code: number; message: string };
}

/** A rejection of `@netlify/api` with a JSON error body (`JSONHTTPError`). */
function clientError(error: unknown): ClientError {
  assert.ok(error instanceof Error, "an Error");
  const e = error as Error & Partial<ClientError>;
  assert.equal(typeof e.status, "number", `no status on ${e.name}: ${e.message}`);
  assert.equal(e.name, "JSONHTTPError", "errors are JSON");
  return e as unknown as ClientError;
}

describe("@netlify/api against Slipway", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let bob: Tenant;
  let api: NetlifyAPI;
  let port: string;

  before(async () => {
    t = await startTestPlatform({
      // A linked site's builds fail at once (nothing listens on port 1), and fail cheaply.
      config: { allowedPrivateRepoHosts: ["127.0.0.1:1"] },
    });
    alice = await t.createTenant("alice");
    bob = await t.createTenant("bob");
    port = new URL(t.url).port;
    api = new NetlifyAPI(alice.token, {
      scheme: "http",
      host: `127.0.0.1:${port}`,
      pathPrefix: "/api/v1",
    });
  });
  after(() => t.stop());

  /** Runs one client call and checks its answer against the spec for the status it got. */
  async function call<T>(operationId: string, run: () => Promise<unknown>): Promise<T> {
    const mark = logMark(t);
    const body = await run();
    const { status } = await onlyRequestSince(t, mark);
    assertSpecResponse(operationId, status!, body);
    return body as T;
  }

  /** Runs one client call that must fail with `status`; checks the error body too. */
  async function refused(
    operationId: string,
    status: number,
    run: () => Promise<unknown>,
  ): Promise<ClientError> {
    const error = clientError(
      await run().then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    assert.equal(error.status, status, error.json.message);
    assertSpecResponse(operationId, status, error.json);
    return error;
  }

  async function waitForState(siteId: string, deployId: string, state: string): Promise<Deploy> {
    return poll(async () => {
      const deploy = await call<Deploy>("getSiteDeploy", () =>
        api.getSiteDeploy({ site_id: siteId, deploy_id: deployId }),
      );
      if (deploy.state === "error") throw new Error(`deploy failed: ${deploy.error_message}`);
      return deploy.state === state ? deploy : undefined;
    }, `deploy ${deployId} ${state}`);
  }

  const served = async (host: string, path = "/"): Promise<string> => {
    const res = await edgeGet(t.url, host, path);
    return `${res.status} ${res.body}`;
  };

  let site: Site;

  it("accounts: listAccountsForUser (minimal) gives slug and default", async () => {
    const accounts = await call<{ slug: string; default: boolean }[]>("listAccountsForUser", () =>
      api.listAccountsForUser({ minimal: true } as never),
    );
    assert.deepEqual(
      accounts.map((a) => [a.slug, a.default]),
      [[alice.accountSlug, true]],
    );
    const full = await call<{ slug: string }[]>("listAccountsForUser", () =>
      api.listAccountsForUser(),
    );
    assert.equal(full[0]!.slug, alice.accountSlug);
  });

  it("sites: createSiteInTeam (201, 422 when the name is taken), listSites, getSite, updateSite", async () => {
    site = await call<Site>("createSiteInTeam", () =>
      api.createSiteInTeam({ account_slug: alice.accountSlug, body: { name: "api-site" } }),
    );
    assert.equal(site.name, "api-site");
    assert.equal(site.account_slug, alice.accountSlug);
    assert.equal(site.use_envelope, true);
    assert.equal(site.published_deploy, null);

    const taken = await refused("createSiteInTeam", 422, () =>
      api.createSiteInTeam({ account_slug: alice.accountSlug, body: { name: "api-site" } }),
    );
    assert.match(taken.json.message, /already taken/);
    // Another tenant's slug is not there at all.
    await refused("createSiteInTeam", 404, () =>
      api.createSiteInTeam({ account_slug: bob.accountSlug, body: { name: "intruder" } }),
    );

    const listed = await call<Site[]>("listSites", () =>
      api.listSites({ filter: "all", name: "api-site" }),
    );
    assert.deepEqual(
      listed.map((s) => s.id),
      [site.id],
    );
    const one = await call<Site>("getSite", () =>
      api.getSite({ site_id: site.id, feature_flags: "cli" } as never),
    );
    assert.equal(one.id, site.id);
    const renamed = await call<Site>("updateSite", () =>
      api.updateSite({ site_id: site.id, body: { name: "api-site-2" } }),
    );
    assert.equal(renamed.name, "api-site-2");
    site = renamed;
    await refused("getSite", 404, () => api.getSite({ site_id: "no-such-site" }));
  });

  it("deploy keys: createDeployKey (no body), listDeployKeys, getDeployKey, deleteDeployKey", async () => {
    const key = await call<{ id: string; public_key: string }>("createDeployKey", () =>
      api.createDeployKey(),
    );
    assert.match(key.public_key, /^ssh-ed25519 /);
    const keys = await call<{ id: string }[]>("listDeployKeys", () => api.listDeployKeys());
    assert.ok(keys.some((k) => k.id === key.id));
    const one = await call<{ id: string }>("getDeployKey", () =>
      api.getDeployKey({ key_id: key.id }),
    );
    assert.equal(one.id, key.id);
    await call("deleteDeployKey", () => api.deleteDeployKey({ key_id: key.id }));
    await refused("getDeployKey", 404, () => api.getDeployKey({ key_id: key.id }));
  });

  it("builds: createSiteBuild on a site without a repository is a clear 4xx; listSiteBuilds is empty", async () => {
    const error = await refused("createSiteBuild", 422, () =>
      api.createSiteBuild({ site_id: site.id }),
    );
    assert.match(error.json.message, /not linked to a repository/);
    const builds = await call<Build[]>("listSiteBuilds", () =>
      api.listSiteBuilds({ site_id: site.id }),
    );
    assert.deepEqual(builds, []);
  });

  it("builds: a linked site's builds are listed and fetched; createSiteBuild starts one", async () => {
    const linked = await call<Site & { build_id: string }>("createSiteInTeam", () =>
      api.createSiteInTeam({
        account_slug: alice.accountSlug,
        body: {
          name: "api-linked",
          repo: {
            provider: "manual",
            repo_url: "ssh://git@127.0.0.1:1/a/b.git",
            repo_branch: "main",
          },
        } as never,
      }),
    );
    const manual = await call<Build>("createSiteBuild", () =>
      api.createSiteBuild({ site_id: linked.id, branch: "main" } as never),
    );
    const builds = await call<Build[]>("listSiteBuilds", () =>
      api.listSiteBuilds({ site_id: linked.id }),
    );
    assert.ok(builds.some((b) => b.id === linked.build_id));
    assert.ok(builds.some((b) => b.id === manual.id));
    const done = await poll(async () => {
      const build = await call<Build & { error: string | null }>("getSiteBuild", () =>
        api.getSiteBuild({ build_id: linked.build_id }),
      );
      return build.done ? build : undefined;
    }, "the linked site's first build to finish");
    assert.match(done.error ?? "", /deploy key|SSH/i, "it failed, and says why");
  });

  it("env: createEnvVars, getEnvVars (account slug), getEnvVar, updateEnvVar, setEnvVarValue, getSiteEnvVars, deleteEnvVarValue, deleteEnvVar", async () => {
    const created = await call<EnvVar[]>("createEnvVars", () =>
      api.createEnvVars({
        account_id: alice.accountSlug,
        body: [{ key: "GREETING", scopes: ["builds"], values: [{ context: "all", value: "hi" }] }],
      }),
    );
    assert.equal(created[0]!.key, "GREETING");
    await call("createEnvVars", () =>
      api.createEnvVars({
        account_id: alice.accountId,
        site_id: site.id,
        body: [{ key: "SITE_ONLY", values: [{ context: "production", value: "yes" }] }],
      }),
    );
    const all = await call<EnvVar[]>("getEnvVars", () =>
      api.getEnvVars({ account_id: alice.accountSlug, context_name: "dev" }),
    );
    assert.deepEqual(
      all.map((v) => v.key),
      ["GREETING"],
    );
    const one = await call<EnvVar>("getEnvVar", () =>
      api.getEnvVar({ account_id: alice.accountSlug, key: "GREETING" }),
    );
    assert.equal(one.values[0]!.value, "hi");
    await call("updateEnvVar", () =>
      api.updateEnvVar({
        account_id: alice.accountSlug,
        key: "GREETING",
        body: { key: "GREETING", values: [{ context: "all", value: "hello" }] },
      }),
    );
    const patched = await call<EnvVar>("setEnvVarValue", () =>
      api.setEnvVarValue({
        account_id: alice.accountSlug,
        key: "GREETING",
        body: { context: "production", value: "good day" },
      }),
    );
    assert.deepEqual(
      patched.values.map((v) => v.value),
      ["hello", "good day"],
    );
    // The spec's doubled path (`/api/v1/api/v1/sites/{id}/env`) is served.
    const siteVars = await call<EnvVar[]>("getSiteEnvVars", () =>
      api.getSiteEnvVars({ site_id: site.id }),
    );
    assert.deepEqual(
      siteVars.map((v) => v.key),
      ["SITE_ONLY"],
    );
    await call("deleteEnvVarValue", () =>
      api.deleteEnvVarValue({
        account_id: alice.accountSlug,
        key: "GREETING",
        id: patched.values[1]!.id,
      }),
    );
    await call("deleteEnvVar", () =>
      api.deleteEnvVar({ account_id: alice.accountSlug, key: "GREETING" }),
    );
    await refused("getEnvVar", 404, () =>
      api.getEnvVar({ account_id: alice.accountSlug, key: "GREETING" }),
    );
  });

  const v1 = { "index.html": "<h1>one</h1>\n", "about.html": "<p>about</p>\n" };
  const v2 = { ...v1, "index.html": "<h1>two</h1>\n" };
  const digests = (files: Record<string, string>) =>
    Object.fromEntries(Object.entries(files).map(([path, text]) => [path, sha1(text)]));

  /** Uploads each required file (found by its SHA-1) of `files`. */
  async function upload(deploy: Deploy, files: Record<string, string>): Promise<void> {
    for (const sha of deploy.required) {
      const [path, text] = Object.entries(files).find(([, content]) => sha1(content) === sha)!;
      await call("uploadDeployFile", () =>
        api.uploadDeployFile({ deploy_id: deploy.id, path, body: Buffer.from(text) } as never),
      );
    }
  }

  let first: Deploy;
  let second: Deploy;

  it("deploys: createSiteDeploy with files, uploadDeployFile of each required SHA-1, ready and published", async () => {
    first = await call<Deploy>("createSiteDeploy", () =>
      api.createSiteDeploy({ site_id: site.id, body: { files: digests(v1) } }),
    );
    assert.deepEqual([...first.required].sort(), Object.values(digests(v1)).sort());
    // A body that is not the declared file is refused, and nothing is published.
    const wrong = await refused("uploadDeployFile", 422, () =>
      api.uploadDeployFile({
        deploy_id: first.id,
        path: "index.html",
        body: Buffer.from("not it"),
      } as never),
    );
    assert.match(wrong.json.message, /sha|digest/i);
    await upload(first, v1);
    await waitForState(site.id, first.id, "ready");
    assert.equal(await served(`${site.name}.localhost`), `200 ${v1["index.html"]}`);
    assert.equal(await served(`${site.name}.localhost`, "/about.html"), `200 ${v1["about.html"]}`);
  });

  it("deploys: createSiteDeploy then updateSiteDeploy; only the changed file is required", async () => {
    const created = await call<Deploy>("createSiteDeploy", () =>
      api.createSiteDeploy({ site_id: site.id, body: { draft: false } }),
    );
    second = await call<Deploy>("updateSiteDeploy", () =>
      api.updateSiteDeploy({
        site_id: site.id,
        deploy_id: created.id,
        body: { files: digests(v2), draft: false },
      }),
    );
    assert.equal(second.id, created.id);
    assert.deepEqual(second.required, [sha1(v2["index.html"])], "about.html is already held");
    const mark = logMark(t);
    await upload(second, v2);
    assert.equal(
      requestsSince(t, mark).filter((r) => r.method === "PUT" && r.url.includes("/files/")).length,
      1,
    );
    await waitForState(site.id, second.id, "ready");
    assert.equal(await served(`${site.name}.localhost`), `200 ${v2["index.html"]}`);
  });

  it("deploys: getSiteDeploy, listSiteDeploys; restoreSiteDeploy rolls back at once", async () => {
    const listed = await call<Deploy[]>("listSiteDeploys", () =>
      api.listSiteDeploys({ site_id: site.id }),
    );
    assert.deepEqual(
      listed.map((d) => d.id),
      [second.id, first.id],
      "newest first",
    );
    const restored = await call<Deploy>("restoreSiteDeploy", () =>
      api.restoreSiteDeploy({ site_id: site.id, deploy_id: first.id }),
    );
    assert.equal(restored.id, first.id);
    assert.equal(await served(`${site.name}.localhost`), `200 ${v1["index.html"]}`);
    const now = await call<Site>("getSite", () => api.getSite({ site_id: site.id }));
    assert.equal(now.published_deploy?.id, first.id);
  });

  it("deploys: lockDeploy keeps the published deploy live through a new deploy; unlockDeploy", async () => {
    const locked = await call<Deploy>("lockDeploy", () => api.lockDeploy({ deploy_id: first.id }));
    assert.equal(locked.locked, true);
    const v3 = { ...v1, "index.html": "<h1>three</h1>\n" };
    const third = await call<Deploy>("createSiteDeploy", () =>
      api.createSiteDeploy({ site_id: site.id, body: { files: digests(v3) } }),
    );
    await upload(third, v3);
    await waitForState(site.id, third.id, "ready");
    assert.equal(await served(`${site.name}.localhost`), `200 ${v1["index.html"]}`, "still v1");
    assert.equal(
      await served(`${third.id}--${site.name}.localhost`),
      `200 ${v3["index.html"]}`,
      "the new deploy is at its permalink",
    );
    const unlocked = await call<Deploy>("unlockDeploy", () =>
      api.unlockDeploy({ deploy_id: first.id }),
    );
    assert.equal(unlocked.locked, false);
  });

  it("deploys of another tenant's site are not there", async () => {
    const bobs = new NetlifyAPI(bob.token, {
      scheme: "http",
      host: `127.0.0.1:${port}`,
      pathPrefix: "/api/v1",
    });
    const error = clientError(
      await bobs.getSiteDeploy({ site_id: site.id, deploy_id: first.id }).then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    assert.equal(error.status, 404);
    const upload = clientError(
      await bobs
        .uploadDeployFile({ deploy_id: first.id, path: "x.html", body: Buffer.from("x") } as never)
        .then(
          () => undefined,
          (e: unknown) => e,
        ),
    );
    assert.equal(upload.status, 404);
  });

  it("sites: deleteSite (204), then it is gone", async () => {
    await call("deleteSite", () => api.deleteSite({ site_id: site.id }));
    await refused("getSite", 404, () => api.getSite({ site_id: site.id }));
  });
});
