import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startBitbucketFake, type BitbucketFake } from "../../../test/fakes/bitbucket/fake.ts";
import { cannedRoute, startFakeServer, type FakeServer } from "../../../test/fakes/server.ts";
import { generateEd25519KeyPair } from "../../lib/ssh-keys.ts";
import { BitbucketClient } from "./bitbucket.ts";
import { providerClient } from "./index.ts";
import { loopbackHttp, refusalCheck } from "../../../test/helpers/providers.ts";
import type { ProviderCredential, ProviderRepo } from "./types.ts";

/**
 * The Bitbucket adapter against the strict Bitbucket Cloud fake, over real HTTP: what Bitbucket
 * does its own way (what every adapter does is in `contract.test.ts`).
 */

describe("Bitbucket adapter", () => {
  let bb: BitbucketFake;
  const secrets: string[] = [];
  let alicePassword: string;

  const client = (credential: ProviderCredential, baseUrl = bb.apiUrl): BitbucketClient => {
    const http = loopbackHttp(new URL(baseUrl).port);
    const made = providerClient({ provider: "bitbucket", baseUrl, credential }, http);
    assert.ok(made instanceof BitbucketClient);
    return made;
  };
  const appPassword = (username: string, password: string): ProviderCredential => {
    secrets.push(password);
    return { kind: "app_password", username, password };
  };
  let alice: BitbucketClient;
  let rita: BitbucketClient;

  const refusal = refusalCheck(secrets);

  let site: ProviderRepo;

  before(async () => {
    bb = await startBitbucketFake();
    bb.addUser("alice");
    bb.addUser("rita");
    bb.addUser("wes");
    // The workspace is not the user name: the seed's `workspaceName/project`.
    bb.addRepo("alice", {
      workspace: "acme-web",
      slug: "site",
      members: { rita: "read", wes: "write" },
    });
    alicePassword = bb.appPassword("alice");
    alice = client(appPassword("alice", alicePassword));
    rita = client(appPassword("rita", bb.appPassword("rita")));
    site = await alice.getRepo("acme-web/site");
  });
  after(() => bb.close());

  it("verifies app passwords and access tokens, with their scopes", async () => {
    const me = await alice.verify();
    assert.equal(me.username, "alice");
    assert.deepEqual(me.scopes?.slice().sort(), [
      "account",
      "pullrequest",
      "repository",
      "repository:admin",
      "webhook",
    ]);
    const token = bb.accessToken("alice", ["account", "repository"]);
    secrets.push(token);
    const viaToken = await client({ kind: "token", token }).verify();
    assert.deepEqual(viaToken, { username: "alice", scopes: ["account", "repository"] });

    await refusal(
      client(appPassword("alice", `${alicePassword}x`)).verify(),
      "unauthorized",
      /Bitbucket did not accept the connection's credential \(HTTP 401\)/,
      /App passwords.*Repositories: Read and Admin, Webhooks: Read and write/,
    );
    const revoked = bb.accessToken("alice");
    secrets.push(revoked);
    bb.revoke(revoked);
    await refusal(
      client({ kind: "token", token: revoked }).verify(),
      "unauthorized",
      /Token is invalid, expired/,
      /revoked/,
    );
    const noAccount = bb.appPassword("alice", ["repository"]);
    await refusal(
      client(appPassword("alice", noAccount)).verify(),
      "forbidden",
      /lacks the Bitbucket permission Account: Read/,
      /App passwords/,
    );
    await refusal(
      client({ kind: "github_app", appId: 1, privateKey: "x" }).verify(),
      "invalid",
      /GitHub App credential cannot be used with Bitbucket/,
      /app password/,
    );
  });

  it("reads a repository by workspace/repo_slug or {uuid}; the id is workspace/repo_slug", async () => {
    assert.deepEqual(site, {
      id: "acme-web/site",
      fullPath: "acme-web/site",
      sshUrl: "git@bitbucket.org:acme-web/site.git",
      httpsUrl: "https://bitbucket.org/acme-web/site.git",
      webUrl: "https://bitbucket.org/acme-web/site",
      defaultBranch: "main",
      private: true,
    });
    const raw = (await (
      await fetch(`${bb.apiUrl}/repositories/acme-web/site`, {
        headers: {
          authorization: `Basic ${Buffer.from(`alice:${alicePassword}`).toString("base64")}`,
        },
      })
    ).json()) as { uuid: string };
    for (const ref of [raw.uuid, `acme-web/${raw.uuid}`, " acme-web/site.git "]) {
      assert.deepEqual(await alice.getRepo(ref), site, ref);
    }
    // Readers can read it too (linking fails later, at the key).
    assert.equal((await rita.getRepo("acme-web/site")).id, "acme-web/site");

    const before = bb.requests.length;
    for (const ref of [
      "site",
      "acme-web/site/extra",
      "../site",
      "acme-web/..",
      "./.",
      "acme web/site",
      "a/b?x=1",
      "",
    ]) {
      await refusal(
        alice.getRepo(ref),
        "invalid",
        /is not a Bitbucket repository id/,
        /workspace\/repo_slug.*\{uuid\}/,
      );
    }
    assert.equal(bb.requests.length, before, "nothing was sent for a malformed id");
    await refusal(
      alice.getRepo("acme-web/missing"),
      "not_found",
      /repository acme-web\/missing was not found on Bitbucket, or this credential cannot see it/,
      /bitbucket\.org\/\{workspace\}\/\{repo_slug\}.*User and group access/,
    );
    bb.addUser("eve");
    const eve = client(appPassword("eve", bb.appPassword("eve")));
    await refusal(eve.getRepo("acme-web/site"), "not_found", /cannot see it/, /access/);
  });

  it("lists the repositories it administers, all pages, filtered by name", async () => {
    for (let i = 0; i < 105; i++) {
      bb.addRepo("alice", { workspace: "many", slug: `repo-${String(i).padStart(3, "0")}` });
    }
    bb.addRepo("alice", { workspace: "many", slug: "quote", name: 'say "hi"' });
    const all = await alice.listRepos();
    assert.equal(all.length, 107, "followed next beyond the first 100");
    assert.ok(all.some((r) => r.id === "acme-web/site"));
    const filtered = await alice.listRepos("repo-10");
    assert.deepEqual(
      filtered.map((r) => r.id),
      ["many/repo-100", "many/repo-101", "many/repo-102", "many/repo-103", "many/repo-104"],
    );
    assert.deepEqual(
      (await alice.listRepos('"hi"')).map((r) => r.id),
      ["many/quote"],
      "quotes are escaped in the BBQL string",
    );
    assert.deepEqual(await alice.listRepos('\\" OR name ~ "'), []);
    assert.deepEqual(await rita.listRepos(), [], "a reader administers nothing");
  });

  it("installs access keys read-only, idempotently, and removes them", async () => {
    const pair = generateEd25519KeyPair("slipway site");
    const key = await alice.addDeployKey(site, { title: "Slipway: site", key: pair.public });
    assert.match(key.id, /^\d+$/);
    assert.equal(key.title, "Slipway: site");
    assert.equal(key.readOnly, true);
    assert.equal(key.key, pair.public.split(" ").slice(0, 2).join(" "));
    // A retry finds the key already there and returns it: still one key.
    const again = await alice.addDeployKey(site, { title: "Slipway: site", key: pair.public });
    assert.deepEqual(again, key);
    assert.equal(bb.deployKeys("acme-web/site").length, 1);
    assert.deepEqual(await alice.listDeployKeys(site), [key]);

    await refusal(
      rita.addDeployKey(site, { title: "x", key: generateEd25519KeyPair().public }),
      "forbidden",
      /Bitbucket refused to let this credential add an access key to acme-web\/site \(403: You must be an administrator/,
      /admin permission on the repository acme-web\/site.*Repository settings → Access keys/,
    );
    await refusal(
      rita.listDeployKeys(site),
      "forbidden",
      /list the access keys/,
      /admin permission/,
    );
    const noAdmin = client(
      appPassword("alice", bb.appPassword("alice", ["account", "repository", "webhook"])),
    );
    await refusal(
      noAdmin.addDeployKey(site, { title: "x", key: pair.public }),
      "forbidden",
      /lacks the Bitbucket permission Repositories: Admin needed to add an access key to acme-web\/site/,
      /Repositories: Read and Admin/,
    );
    await refusal(
      alice.addDeployKey(site, { title: "x", key: "ssh-ed25519 AAAAnotakey" }),
      "invalid",
      /Bitbucket refused to add an access key to acme-web\/site \(400: key: Invalid SSH key/,
      /OpenSSH public key/,
    );

    await alice.removeDeployKey(site, key.id);
    assert.equal(bb.deployKeys("acme-web/site").length, 0);
    await alice.removeDeployKey(site, key.id); // already gone: not an error
    await refusal(
      alice.removeDeployKey(site, "{abc}"),
      "invalid",
      /not a Bitbucket access key id/,
      /integers/,
    );
  });

  it("installs, lists, repairs and removes the webhook, with its secret", async () => {
    const spec = {
      url: "https://slipway.example/webhooks/sites/abc",
      secret: "hook-secret-1",
      events: ["push", "pull_request"] as const,
    };
    const hook = await alice.addHook(site, { ...spec, events: [...spec.events] });
    assert.match(hook.id, /^\{[0-9a-f-]{36}\}$/);
    assert.deepEqual(hook.events, ["push", "pull_request"]);
    assert.equal(hook.active, true);
    assert.equal(hook.url, spec.url);
    const [stored] = bb.hooks("acme-web/site");
    assert.equal(stored!.secret, "hook-secret-1");
    assert.equal(stored!.description, "Slipway");
    assert.deepEqual(stored!.events.slice().sort(), [
      "pullrequest:created",
      "pullrequest:fulfilled",
      "pullrequest:rejected",
      "pullrequest:updated",
      "repo:push",
    ]);
    assert.deepEqual(await alice.listHooks(site), [hook]);

    // Someone disabled it and changed its URL by hand: update puts it back, with a new secret.
    bb.editHookByHand("acme-web/site", hook.id, {
      active: false,
      url: "https://elsewhere.example/",
    });
    assert.equal((await alice.listHooks(site))[0]!.active, false);
    const repaired = await alice.updateHook(site, hook.id, {
      url: spec.url,
      secret: "hook-secret-2",
      events: ["push"],
    });
    assert.deepEqual(repaired, { ...hook, events: ["push"] });
    assert.equal(bb.hooks("acme-web/site")[0]!.secret, "hook-secret-2");
    // Bitbucket's ids without braces work as well.
    assert.equal(
      (await alice.updateHook(site, hook.id.slice(1, -1), { ...spec, events: ["push"] })).id,
      hook.id,
    );

    await refusal(
      rita.addHook(site, { ...spec, events: ["push"] }),
      "forbidden",
      /add a webhook to acme-web\/site/,
      /admin permission on the repository acme-web\/site.*Repository settings → Webhooks/,
    );
    const noWebhook = client(
      appPassword("alice", bb.appPassword("alice", ["account", "repository", "repository:admin"])),
    );
    await refusal(
      noWebhook.listHooks(site),
      "forbidden",
      /lacks the Bitbucket permission Webhooks: Read and write needed to list the webhooks of acme-web\/site/,
      /App passwords/,
    );
    await refusal(
      alice.addHook(site, { ...spec, url: "not a url", events: ["push"] }),
      "invalid",
      /url: Enter a valid URL/,
      /Repository settings → Webhooks/,
    );
    await refusal(
      alice.updateHook(site, "{00000000-0000-4000-8000-000000000000}", {
        ...spec,
        events: ["push"],
      }),
      "not_found",
      /Webhook not found/,
      /.+/,
    );

    await alice.removeHook(site, hook.id);
    assert.deepEqual(bb.hooks("acme-web/site"), []);
    await alice.removeHook(site, hook.id); // already gone: not an error
  });

  it("reports build statuses in Bitbucket's states, keyed by context", async () => {
    const sha = bb.setBranch("acme-web/site", "main");
    const states = {
      pending: "INPROGRESS",
      success: "SUCCESSFUL",
      failure: "FAILED",
      error: "FAILED",
    } as const;
    for (const [state, expected] of Object.entries(states)) {
      await alice.setCommitStatus(site, sha, {
        state: state as keyof typeof states,
        context: "slipway/site",
        description: `build ${state}`,
        targetUrl: "https://slipway.example/deploys/1",
      });
      const [status] = bb.buildStatuses("acme-web/site", sha);
      assert.equal(status!.state, expected);
      assert.equal(status!.key, "slipway/site");
      assert.equal(status!.url, "https://slipway.example/deploys/1");
      assert.equal(status!.description, `build ${state}`);
    }
    const long = `slipway/${"a-very-long-site-name-".repeat(4)}`;
    const status = {
      state: "success" as const,
      context: long,
      description: "ok",
      targetUrl: "https://s.example/",
    };
    await alice.setCommitStatus(site, sha, status);
    await alice.setCommitStatus(site, sha, status);
    const keys = bb.buildStatuses("acme-web/site", sha).map((s) => s.key);
    assert.equal(keys.length, 2, "a long context maps to one stable key");
    assert.ok(keys[1]!.length <= 40);

    const wes = client(appPassword("wes", bb.appPassword("wes")));
    await wes.setCommitStatus(site, sha, status);
    await refusal(
      rita.setCommitStatus(site, sha, status),
      "forbidden",
      /report a build status on acme-web\/site/,
      /write permission on the repository acme-web\/site/,
    );
    await refusal(
      alice.setCommitStatus(site, "f".repeat(40), status),
      "not_found",
      /Commit not found/,
      /.+/,
    );
    await refusal(
      alice.setCommitStatus(site, "HEAD; rm -rf", status),
      "invalid",
      /not a commit id/,
      /hash/,
    );
  });

  describe("against a misbehaving server", () => {
    let odd: FakeServer;
    const reached: string[] = [];
    before(async () => {
      odd = await startFakeServer({
        routes: [
          cannedRoute("GET", "/2.0/repositories", {
            status: 200,
            body: {
              values: [],
              pagelen: 100,
              page: 1,
              next: "http://127.0.0.2:1/2.0/repositories?page=2",
            },
          }),
          cannedRoute("GET", "/2.0/user", {
            status: 503,
            body: "<html>down</html>",
            headers: { "content-type": "text/html" },
          }),
          cannedRoute("GET", "/2.0/repositories/:w/:s", {
            status: 200,
            body: { type: "repository" },
          }),
          cannedRoute("GET", "/2.0/repositories/:w/:s/hooks", {
            status: 429,
            body: { type: "error", error: { message: "Rate limit" } },
          }),
        ],
        notFound: (req) => {
          reached.push(req.path);
          return { status: 404 };
        },
      });
    });
    after(() => odd.close());

    it("never follows a next link off the API, and maps 5xx, 429 and odd bodies to unavailable", async () => {
      const c = client(appPassword("alice", "p4ss-odd"), `${odd.url}/2.0`);
      await refusal(c.listRepos(), "unavailable", /next-page link outside its API/, /base_url/);
      await refusal(
        c.verify(),
        "unavailable",
        /Bitbucket could not read the connection's user \(GET \/user\) \(503: <html>down<\/html>\)/,
        /try again later/,
      );
      await refusal(
        c.getRepo("a/b"),
        "unavailable",
        /sent a repository object Slipway cannot read/,
        /api\.bitbucket\.org/,
      );
      await refusal(c.listHooks(site), "unavailable", /429: Rate limit/, /rate limiting/);
      assert.deepEqual(reached, []);
    });
  });
});
