import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { startGitHubFake, type GitHubFake } from "../../../test/fakes/github/fake.ts";
import { GitHubClient } from "./github.ts";
import { parseRepoRef } from "./github-refs.ts";
import { InstallationTokenCache } from "./github-app.ts";
import { providerClient } from "./index.ts";
import { loopbackHttp, refusalCheck } from "../../../test/helpers/providers.ts";
import type { ProviderCredential, ProviderRepo } from "./types.ts";

/**
 * The GitHub adapter against the strict fake: every refusal mapped onto a `ProviderError` whose
 * hint says what to do in GitHub's terms, App credentials, and what else GitHub does its own way
 * (what every adapter does is in `contract.test.ts`).
 */

const http = loopbackHttp();
const refusal = refusalCheck();

const edKey = (): string => {
  const { publicKey } = generateKeyPairSync("ed25519");
  const der = publicKey.export({ format: "der", type: "spki" });
  // SPKI for Ed25519 is a 12-byte header followed by the 32-byte key.
  const raw = der.subarray(der.length - 32);
  const type = Buffer.from("ssh-ed25519");
  const blob = Buffer.concat([
    Buffer.from([0, 0, 0, type.length]),
    type,
    Buffer.from([0, 0, 0, raw.length]),
    raw,
  ]);
  return `ssh-ed25519 ${blob.toString("base64")} slipway-test`;
};

describe("GitHub adapter against the fake", () => {
  let gh: GitHubFake;
  let token: string;
  let client: GitHubClient;
  let site: ProviderRepo;

  const clientWith = (credential: ProviderCredential): GitHubClient =>
    new GitHubClient(
      { provider: "github", baseUrl: gh.url, credential },
      http,
      new InstallationTokenCache(),
    );

  before(async () => {
    gh = await startGitHubFake();
    gh.addUser("octo");
    gh.addUser("reader");
    await gh.addRepo("octo", "site", { private: true, readers: ["reader"] });
    await gh.addRepo("octo", "other", { private: true });
    await gh.addRepo("octo", "public-docs", { private: false });
    await gh.addRepo("someone", "secret", { private: true });
    await gh.commit("octo/site", { "index.html": "<h1>hi</h1>\n" });
    await gh.commit("octo/site", { "dev.txt": "dev\n" }, "feature/x");
    token = gh.addClassicToken("octo", ["repo", "admin:repo_hook"]);
    client = clientWith({ kind: "token", token });
    site = await client.getRepo("octo/site");
  });
  after(() => gh?.close());

  it("is what providerClient gives for github", () => {
    const made = providerClient(
      { provider: "github", baseUrl: gh.url, credential: { kind: "token", token } },
      http,
    );
    assert.ok(made instanceof GitHubClient);
    assert.equal(made.provider, "github");
  });

  it("verifies a classic token: its user and scopes, with GitHub's headers", async () => {
    const identity = await client.verify();
    assert.equal(identity.username, "octo");
    assert.deepEqual(identity.scopes, ["repo", "admin:repo_hook"]);
    assert.equal(gh.authorizations.at(-1), `Bearer ${token}`);
  });

  it("refuses a classic token without the repo scope, naming the scopes to add", async () => {
    const weak = clientWith({ kind: "token", token: gh.addClassicToken("octo", ["read:user"]) });
    const error = await refusal(weak.verify(), "forbidden");
    assert.match(error.message, /only read:user/);
    assert.match(error.hint, /`repo`/);
    assert.match(error.hint, /admin:repo_hook/);
    assert.match(error.hint, /\/settings\/tokens/);
  });

  it("verifies a fine-grained token and says which permissions it needs", async () => {
    const fine = clientWith({
      kind: "token",
      token: gh.addFineGrainedToken("octo", ["octo/site"], { contents: "read" }),
    });
    const identity = await fine.verify();
    assert.equal(identity.username, "octo");
    assert.equal(identity.scopes, undefined);
    for (const permission of ["Administration", "Webhooks", "Commit statuses", "Contents"]) {
      assert.ok(identity.hint?.includes(permission), `${permission} missing from ${identity.hint}`);
    }
  });

  it("maps Bad credentials to unauthorized with a hint", async () => {
    const revoked = gh.addClassicToken("octo", ["repo"]);
    gh.revokeToken(revoked);
    const error = await refusal(
      clientWith({ kind: "token", token: revoked }).verify(),
      "unauthorized",
    );
    assert.equal(error.status, 401);
    assert.match(error.message, /Bad credentials/);
    assert.match(error.hint, /revoked|expired/);
  });

  it("reads a repository by owner/name, numeric id or URL, in the provider's terms", async () => {
    assert.equal(site.fullPath, "octo/site");
    assert.match(site.id, /^\d+$/);
    assert.equal(site.private, true);
    assert.equal(site.defaultBranch, "main");
    assert.equal(site.httpsUrl, `${gh.gitUrl}/octo/site.git`);
    assert.equal(site.sshUrl, `ssh://git@localhost:${gh.sshPort}/octo/site.git`);
    assert.equal(site.webUrl, `${gh.gitUrl}/octo/site`);
    assert.deepEqual(await client.getRepo(site.id), site);
    assert.deepEqual(await client.getRepo(`${gh.gitUrl}/octo/site.git`), site);
    assert.deepEqual(await client.getRepo("git@github.com:octo/site.git"), site);
  });

  it("explains GitHub's 404 for a private repository the token cannot see", async () => {
    const error = await refusal(client.getRepo("someone/secret"), "not_found");
    assert.equal(error.status, 404);
    assert.match(error.message, /404 rather than 403/);
    assert.match(error.hint, /`repo` scope/);
    // The same repository is invisible to a token without the repo scope.
    const publicOnly = clientWith({
      kind: "token",
      token: gh.addClassicToken("octo", ["public_repo"]),
    });
    await refusal(publicOnly.getRepo("octo/site"), "not_found");
    assert.equal((await publicOnly.getRepo("octo/public-docs")).private, false);
  });

  it("refuses malformed repository references before calling GitHub", async () => {
    const before = gh.requests.length;
    for (const ref of ["", "octo", "a/b/c", "../x", "octo/..", "-x/y", "octo/si te"]) {
      await refusal(client.getRepo(ref), "invalid");
    }
    assert.equal(gh.requests.length, before);
    assert.deepEqual(parseRepoRef("1296269"), { kind: "id", id: 1296269 });
  });

  it("refuses a branch check on a repository GitHub hides with 404", async () => {
    await refusal(
      client.branchExists({ ...site, fullPath: "someone/secret" }, "main"),
      "not_found",
    );
  });

  it("installs a read-only deploy key once, reusing it when GitHub says it is in use", async () => {
    const key = edKey();
    const added = await client.addDeployKey(site, { title: "slipway", key });
    assert.equal(added.readOnly, true);
    assert.equal(added.title, "slipway");
    assert.equal(gh.repo("octo/site").keys.length, 1);
    assert.equal(gh.repo("octo/site").keys[0]!.readOnly, true);
    // A retry (after a crash, say): GitHub answers 422 "key is already in use"; ours is reused.
    const again = await client.addDeployKey(site, { title: "slipway", key });
    assert.equal(again.id, added.id);
    assert.equal(gh.repo("octo/site").keys.length, 1);
    const listed = await client.listDeployKeys(site);
    assert.deepEqual(
      listed.map((k) => k.id),
      [added.id],
    );
    assert.equal(listed[0]!.key, key.split(" ").slice(0, 2).join(" "));

    // The same key on another repository: GitHub refuses, and the hint says why.
    const other = await client.getRepo("octo/other");
    const error = await refusal(client.addDeployKey(other, { title: "slipway", key }), "conflict");
    assert.match(error.hint, /one repository only/);

    await client.removeDeployKey(site, added.id);
    assert.equal(gh.repo("octo/site").keys.length, 0);
    await client.removeDeployKey(site, added.id); // already gone: fine
  });

  it("passes GitHub's validation messages on", async () => {
    const error = await refusal(
      client.addDeployKey(site, { title: "x", key: "ssh-rsa nope" }),
      "invalid",
    );
    assert.equal(error.status, 422);
    assert.match(error.message, /OpenSSH public key format/);
    await refusal(client.removeDeployKey(site, "../1"), "invalid");
  });

  it("creates the push and pull_request webhook once, and updates it instead of duplicating", async () => {
    const spec = {
      url: "https://slipway.example/webhooks/sites/1",
      secret: "s3cret",
      events: ["push", "pull_request"] as const,
    };
    const hook = await client.addHook(site, { ...spec, events: [...spec.events] });
    assert.deepEqual(hook.events, ["push", "pull_request"]);
    assert.equal(hook.active, true);
    assert.equal(hook.url, spec.url);
    const stored = gh.repo("octo/site").hooks;
    assert.equal(stored.length, 1);
    assert.deepEqual(stored[0]!.config, {
      url: spec.url,
      content_type: "json",
      insecure_ssl: "0",
      secret: "s3cret",
    });
    // Switched off by someone at GitHub, with another secret: adding again re-enables and updates it.
    stored[0]!.active = false;
    const again = await client.addHook(site, { ...spec, events: [...spec.events], secret: "new" });
    assert.equal(again.id, hook.id);
    assert.equal(again.active, true);
    assert.equal(gh.repo("octo/site").hooks.length, 1);
    assert.equal(gh.repo("octo/site").hooks[0]!.config.secret, "new");

    const updated = await client.updateHook(site, hook.id, {
      url: `${spec.url}?v=2`,
      secret: "x",
      events: ["push"],
    });
    assert.equal(updated.url, `${spec.url}?v=2`);
    assert.deepEqual(updated.events, ["push"]);
    assert.deepEqual(
      (await client.listHooks(site)).map((h) => h.id),
      [hook.id],
    );
    await client.removeHook(site, hook.id);
    await client.removeHook(site, hook.id);
    assert.equal(gh.repo("octo/site").hooks.length, 0);
    await refusal(client.updateHook(site, hook.id, { ...spec, events: ["push"] }), "not_found");
  });

  it("sets commit statuses, and refuses what is not a commit", async () => {
    const sha = await gh.commit("octo/site", { "v2.txt": "2\n" });
    await client.setCommitStatus(site, sha, {
      state: "success",
      context: "slipway/site",
      description: "Deploy is live ".repeat(20),
      targetUrl: "https://site.example/",
    });
    const [status] = gh.repo("octo/site").statuses;
    assert.equal(status?.state, "success");
    assert.equal(status?.context, "slipway/site");
    assert.ok((status?.description?.length ?? 0) <= 140);
    await refusal(
      client.setCommitStatus(site, "not-a-sha", {
        state: "pending",
        context: "c",
        description: "",
        targetUrl: "https://x.example/",
      }),
      "invalid",
    );
    const error = await refusal(
      client.setCommitStatus(site, "f".repeat(40), {
        state: "pending",
        context: "c",
        description: "",
        targetUrl: "https://x.example/",
      }),
      "invalid",
    );
    assert.match(error.message, /No commit found/);
  });

  it("follows GitHub's Link pagination", async () => {
    const repo = gh.repo("octo/other");
    for (let i = 0; i < 130; i++) {
      repo.keys.push({
        id: 50_000 + i,
        title: `k${i}`,
        key: `ssh-ed25519 AAAA${i}`,
        readOnly: true,
        createdAt: "2024-01-01T00:00:00Z",
      });
    }
    const other = await client.getRepo("octo/other");
    const keys = await client.listDeployKeys(other);
    assert.equal(keys.length, 130);
    assert.equal(new Set(keys.map((k) => k.id)).size, 130);
    repo.keys.length = 0;
  });

  it("says when a collaborator is not an admin of the repository", async () => {
    const reader = clientWith({ kind: "token", token: gh.addClassicToken("reader", ["repo"]) });
    const readable = await reader.getRepo("octo/site");
    const error = await refusal(
      reader.addDeployKey(readable, { title: "x", key: edKey() }),
      "forbidden",
    );
    assert.equal(error.status, 403);
    assert.match(error.hint, /admin of the repository/);
  });

  it("names the missing scope of a classic token (GitHub hides the resource with 404)", async () => {
    const statusOnly = clientWith({
      kind: "token",
      token: gh.addClassicToken("octo", ["repo:status"]),
    });
    const error = await refusal(
      statusOnly.listHooks({ ...site, fullPath: "octo/public-docs" }),
      "not_found",
    );
    assert.match(error.hint, /admin:repo_hook/);
  });

  it("names the missing permission of a fine-grained token", async () => {
    const fine = clientWith({
      kind: "token",
      token: gh.addFineGrainedToken("octo", ["octo/site"], { contents: "read", statuses: "write" }),
    });
    assert.equal((await fine.getRepo("octo/site")).fullPath, "octo/site");
    const keys = await refusal(fine.addDeployKey(site, { title: "x", key: edKey() }), "forbidden");
    assert.match(keys.hint, /Administration: Read and write/);
    const hooks = await refusal(fine.listHooks(site), "forbidden");
    assert.match(hooks.hint, /Webhooks: Read and write/);
    // Not among the token's repositories: GitHub's 404.
    await refusal(fine.getRepo("octo/other"), "not_found");
  });

  it("tells a rate limit from a refusal, with the time it resets", async () => {
    gh.exhaustRateLimit(true);
    try {
      const error = await refusal(client.getRepo("octo/site"), "unavailable");
      assert.equal(error.status, 403);
      assert.match(error.message, /rate limit/);
      assert.match(error.hint, /try again at \d{4}-\d\d-\d\dT/);
    } finally {
      gh.exhaustRateLimit(false);
    }
  });

  it("maps GitHub's server errors to unavailable and never sends the token elsewhere", async () => {
    const broken = new GitHubClient(
      {
        provider: "github",
        baseUrl: `${gh.url}/nothing-here`,
        credential: { kind: "token", token },
      },
      http,
    );
    const error = await refusal(broken.verify(), "not_found");
    assert.doesNotMatch(`${error.message} ${error.hint}`, new RegExp(token));
  });

  describe("with a GitHub App", () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ format: "pem", type: "pkcs1" }).toString();
    let app: GitHubClient;
    let appId = 0;

    before(async () => {
      const made = gh.addApp({
        slug: "slipway-test",
        owner: "octo",
        publicKey,
        permissions: {
          contents: "read",
          metadata: "read",
          statuses: "write",
          administration: "write",
          repository_hooks: "write",
        },
      });
      appId = made.id;
      gh.installApp(appId, "octo", { repositories: ["octo/site"] });
      app = clientWith({ kind: "github_app", appId, privateKey: pem });
      await Promise.resolve();
    });

    it("verifies the App with its JWT", async () => {
      const identity = await app.verify();
      assert.equal(identity.username, "slipway-test");
      assert.equal(identity.hint, undefined);
      assert.match(gh.authorizations.at(-1) ?? "", /^Bearer ey[\w-]+\.[\w-]+\.[\w-]+$/);
    });

    it("reads, lists and changes repositories through the installation that covers them", async () => {
      const repo = await app.getRepo("octo/site");
      assert.equal(repo.fullPath, "octo/site");
      assert.deepEqual(
        (await app.listRepos()).map((r) => r.fullPath),
        ["octo/site"],
      );
      assert.deepEqual(await app.getRepo(repo.id), repo);
      const key = await app.addDeployKey(repo, { title: "slipway", key: edKey() });
      await app.removeDeployKey(repo, key.id);
      assert.match(gh.authorizations.at(-1) ?? "", /^Bearer ghs_/);
      const error = await refusal(app.getRepo("octo/other"), "not_found");
      assert.match(error.message, /not installed on octo\/other/);
    });

    it("refuses an App key that is not the App's", async () => {
      const wrong = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
      const impostor = clientWith({
        kind: "github_app",
        appId,
        privateKey: wrong.export({ format: "pem", type: "pkcs8" }).toString(),
      });
      const error = await refusal(impostor.verify(), "unauthorized");
      assert.match(error.hint, /private key/);
      const garbage = clientWith({ kind: "github_app", appId, privateKey: "not a key" });
      await refusal(garbage.verify(), "invalid");
    });
  });
});
