import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startGiteaFake, type GiteaFake } from "../../../test/fakes/gitea/fake.ts";
import { cannedRoute, startFakeServer, type FakeServer } from "../../../test/fakes/server.ts";
import { generateEd25519KeyPair } from "../../lib/ssh-keys.ts";
import { GiteaClient } from "./gitea.ts";
import { providerClient } from "./index.ts";
import { loopbackHttp, refusalCheck } from "../../../test/helpers/providers.ts";
import type { ProviderCredential, ProviderRepo } from "./types.ts";

/**
 * The Gitea adapter against the strict Gitea fake, over real HTTP: what Gitea does its own way
 * (what every adapter does is in `contract.test.ts`).
 */

describe("Gitea adapter", () => {
  let gitea: GiteaFake;
  const secrets: string[] = [];
  let host: string;

  const client = (credential: ProviderCredential, baseUrl = gitea.baseUrl): GiteaClient => {
    const http = loopbackHttp(new URL(baseUrl || "http://x").port);
    const made = providerClient({ provider: "gitea", baseUrl, credential }, http);
    assert.ok(made instanceof GiteaClient);
    return made;
  };
  const token = (login: string, scopes?: Parameters<GiteaFake["token"]>[1]): GiteaClient => {
    const secret = gitea.token(login, scopes);
    secrets.push(secret);
    return client({ kind: "token", token: secret });
  };

  const refusal = refusalCheck(secrets);

  let ada: GiteaClient;
  let rex: GiteaClient;
  let wes: GiteaClient;
  let site: ProviderRepo;

  before(async () => {
    gitea = await startGiteaFake();
    host = new URL(gitea.baseUrl).host;
    for (const login of ["ada", "rex", "wes", "eve"]) gitea.addUser(login);
    gitea.addRepo("ada", { name: "site", collaborators: { rex: "read", wes: "write" } });
    ada = token("ada");
    rex = token("rex");
    wes = token("wes");
    site = await ada.getRepo("ada/site");
  });
  after(() => gitea.close());

  it("verifies tokens (also app passwords as Basic), refusing bad ones with Gitea's words", async () => {
    assert.deepEqual(await ada.verify(), { username: "ada" });
    const basicSecret = gitea.token("ada");
    secrets.push(basicSecret);
    const basic = client({ kind: "app_password", username: "ada", password: basicSecret });
    assert.deepEqual(await basic.verify(), { username: "ada" });
    // The API root may be given with or without /api/v1.
    assert.deepEqual(
      await client({ kind: "token", token: basicSecret }, `${gitea.baseUrl}/api/v1/`).verify(),
      {
        username: "ada",
      },
    );

    await refusal(
      client({ kind: "token", token: "f".repeat(40) }).verify(),
      "unauthorized",
      new RegExp(
        `${host} did not accept the connection's token \\(401: invalid username, password or token\\)`,
      ),
      /Settings → Applications → Access Tokens/,
    );
    const revoked = gitea.token("ada");
    secrets.push(revoked);
    gitea.revoke(revoked);
    await refusal(
      client({ kind: "token", token: revoked }).verify(),
      "unauthorized",
      /401/,
      /expired or deleted/,
    );
    await refusal(
      token("ada", ["read:repository"]).verify(),
      "forbidden",
      /the Gitea token lacks the read:user scope needed to read the token's user/,
      /repository permission set to Read and Write/,
    );
    const before = gitea.requests.length;
    await refusal(
      client({ kind: "token", token: "x" }, "").verify(),
      "invalid",
      /needs the instance's base_url/,
      /gitea\.example\.com/,
    );
    await refusal(
      client({ kind: "github_app", appId: 1, privateKey: "k" }).verify(),
      "invalid",
      /GitHub App credential cannot be used with Gitea/,
      /access token/,
    );
    assert.equal(gitea.requests.length, before);
  });

  it("reads a repository by owner/name or numeric id", async () => {
    assert.equal(site.fullPath, "ada/site");
    assert.match(site.id, /^\d+$/);
    assert.deepEqual(site, {
      id: site.id,
      fullPath: "ada/site",
      sshUrl: "git@gitea.example:ada/site.git",
      httpsUrl: `${gitea.baseUrl}/ada/site.git`,
      webUrl: `${gitea.baseUrl}/ada/site`,
      defaultBranch: "main",
      private: true,
    });
    assert.deepEqual(await ada.getRepo(site.id), site);
    assert.deepEqual(await ada.getRepo("ada/site.git"), site);

    const before = gitea.requests.length;
    for (const ref of ["site", "ada/site/x", "../site", "ada/..", "ada/si te", "-1", ""]) {
      await refusal(ada.getRepo(ref), "invalid", /is not a Gitea repository id/, /owner\/name/);
    }
    assert.equal(gitea.requests.length, before, "nothing was sent for a malformed id");
    const eve = token("eve");
    for (const ref of ["ada/site", site.id, "ada/missing"]) {
      await refusal(
        eve.getRepo(ref),
        "not_found",
        /was not found on .*, or this token cannot see it \(404: The target couldn't be found\.\)/,
        /collaborator/,
      );
    }
  });

  it("lets a read collaborator list the repository and read its branches", async () => {
    gitea.setBranch("ada/site", "feature/x");
    assert.deepEqual(
      (await rex.listRepos()).map((r) => r.fullPath),
      ["ada/site"],
    );
    assert.equal(await rex.branchExists(site, "feature/x"), true);
  });

  it("installs deploy keys read-only (not Gitea's default), idempotently, and removes them", async () => {
    const pair = generateEd25519KeyPair("slipway");
    const key = await ada.addDeployKey(site, { title: "Slipway: site", key: pair.public });
    assert.match(key.id, /^\d+$/);
    assert.equal(key.readOnly, true);
    assert.equal(gitea.deployKeys("ada/site")[0]!.readOnly, true);
    assert.deepEqual(
      await ada.addDeployKey(site, { title: "Slipway: site", key: pair.public }),
      key,
    );
    assert.equal(gitea.deployKeys("ada/site").length, 1);
    assert.deepEqual(await ada.listDeployKeys(site), [key]);

    // The same key added by hand with write access is not silently accepted as read-only.
    gitea.addRepo("ada", { name: "rw" });
    const rw = await ada.getRepo("ada/rw");
    const raw = await fetch(`${gitea.baseUrl}/api/v1/repos/ada/rw/keys`, {
      method: "POST",
      headers: { authorization: `token ${secrets[0]!}`, "content-type": "application/json" },
      body: JSON.stringify({ title: "by hand", key: pair.public }),
    });
    assert.equal(raw.status, 201);
    await refusal(
      ada.addDeployKey(rw, { title: "Slipway: rw", key: pair.public }),
      "conflict",
      /already a deploy key of ada\/rw with write access/,
      /Remove it in Repository Settings → Deploy Keys/,
    );
    await refusal(
      ada.addDeployKey(site, { title: "Slipway: site", key: generateEd25519KeyPair().public }),
      "invalid",
      /Key title has been used/,
      /title not used by another deploy key/,
    );
    await refusal(
      ada.addDeployKey(site, { title: "t", key: "ssh-rsa nope" }),
      "invalid",
      /Invalid key content/,
      /OpenSSH public key/,
    );
    for (const [who, role] of [
      [rex, "read"],
      [wes, "write"],
    ] as const) {
      await refusal(
        who.addDeployKey(site, { title: role, key: generateEd25519KeyPair().public }),
        "forbidden",
        /refused to let this token add a deploy key to ada\/site \(403: user should be an owner or a collaborator with admin write/,
        /administrator access to ada\/site.*Repository Settings → Deploy Keys.*Settings → Collaborators/,
      );
    }
    await refusal(
      token("ada", ["read:user", "read:repository"]).addDeployKey(site, {
        title: "s",
        key: pair.public,
      }),
      "forbidden",
      /lacks the write:repository scope needed to add a deploy key to ada\/site/,
      /Access Tokens/,
    );

    await ada.removeDeployKey(site, key.id);
    assert.equal(gitea.deployKeys("ada/site").length, 0);
    await ada.removeDeployKey(site, key.id); // already gone: not an error
    await refusal(
      ada.removeDeployKey(site, "../1"),
      "invalid",
      /not a Gitea deploy key id/,
      /integers/,
    );
  });

  it("installs, lists, repairs and removes the webhook, with its secret", async () => {
    const spec = { url: "https://slipway.example/webhooks/sites/s1", secret: "gitea-secret-1" };
    const hook = await ada.addHook(site, { ...spec, events: ["push", "pull_request"] });
    assert.match(hook.id, /^\d+$/);
    assert.deepEqual(hook.events, ["push", "pull_request"]);
    assert.equal(hook.active, true, "asked for: Gitea's default is inactive");
    const [stored] = gitea.hooks("ada/site");
    assert.equal(stored!.type, "gitea");
    assert.equal(stored!.contentType, "json");
    assert.equal(stored!.secret, "gitea-secret-1");
    assert.deepEqual(stored!.events, ["push", "pull_request"]);
    assert.deepEqual(await ada.listHooks(site), [hook]);

    gitea.editHookByHand("ada/site", Number(hook.id), {
      active: false,
      contentType: "form",
      url: "https://x.example/",
    });
    const repaired = await ada.updateHook(site, hook.id, {
      ...spec,
      secret: "gitea-secret-2",
      events: ["push"],
    });
    assert.deepEqual(repaired, { ...hook, events: ["push"] });
    const [after] = gitea.hooks("ada/site");
    assert.equal(after!.contentType, "json");
    assert.equal(after!.secret, "gitea-secret-2");
    assert.equal(after!.url, spec.url);

    await refusal(
      wes.addHook(site, { ...spec, events: ["push"] }),
      "forbidden",
      /add a webhook to ada\/site/,
      /administrator access to ada\/site.*Repository Settings → Webhooks/,
    );
    await refusal(
      ada.addHook(site, { ...spec, url: "ftp://nope.example/", events: ["push"] }),
      "invalid",
      /Invalid url/,
      /ALLOWED_HOST_LIST/,
    );
    await refusal(
      ada.updateHook(site, "999", { ...spec, events: ["push"] }),
      "not_found",
      /404/,
      /.+/,
    );
    await ada.removeHook(site, hook.id);
    assert.deepEqual(gitea.hooks("ada/site"), []);
    await ada.removeHook(site, hook.id); // already gone: not an error
  });

  it("reports commit statuses as Gitea's states", async () => {
    const sha = gitea.setBranch("ada/site", "main");
    for (const state of ["pending", "success", "failure", "error"] as const) {
      await wes.setCommitStatus(site, sha, {
        state,
        context: "slipway/site",
        description: `build ${state}`,
        targetUrl: "https://slipway.example/deploys/1",
      });
    }
    assert.deepEqual(
      gitea.statuses("ada/site", sha).map((s) => [s.state, s.context, s.targetUrl]),
      ["pending", "success", "failure", "error"].map((s) => [
        s,
        "slipway/site",
        "https://slipway.example/deploys/1",
      ]),
    );
    const status = {
      state: "success" as const,
      context: "c",
      description: "d",
      targetUrl: "https://s.example/",
    };
    await refusal(
      rex.setCommitStatus(site, sha, status),
      "forbidden",
      /report a commit status/,
      /write access to ada\/site/,
    );
    await refusal(
      ada.setCommitStatus(site, "a".repeat(40), status),
      "not_found",
      /object does not exist/,
      /.+/,
    );
    await refusal(ada.setCommitStatus(site, "main", status), "invalid", /not a commit id/, /hash/);
  });

  describe("against a misbehaving server", () => {
    let odd: FakeServer;
    before(async () => {
      odd = await startFakeServer({
        routes: [
          cannedRoute("GET", "/api/v1/user", {
            status: 502,
            body: "Bad Gateway",
            headers: { "content-type": "text/plain" },
          }),
          cannedRoute("GET", "/api/v1/repos/:o/:r", { status: 200, body: { id: "1" } }),
          cannedRoute("GET", "/api/v1/repos/search", { status: 200, body: [] }),
        ],
        notFound: () => ({
          status: 404,
          body: "404 page not found",
          headers: { "content-type": "text/plain" },
        }),
      });
    });
    after(() => odd.close());

    it("maps 5xx and unreadable answers to unavailable, and a non-Gitea 404 to not_found", async () => {
      const c = client({ kind: "token", token: "odd-token-1" }, odd.url);
      secrets.push("odd-token-1");
      await refusal(
        c.verify(),
        "unavailable",
        /could not read the token's user .*\(502: Bad Gateway\)/,
        /try again later/,
      );
      await refusal(
        c.getRepo("a/b"),
        "unavailable",
        /sent a repository object Slipway cannot read/,
        /Gitea or Forgejo/,
      );
      await refusal(c.listRepos(), "unavailable", /search result/, /base_url/);
      await refusal(c.listHooks(site), "not_found", /404 page not found/, /.+/);
    });
  });
});
