import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { generateEd25519KeyPair } from "../../lib/ssh-keys.ts";
import { createWorkingCopy } from "../../../test/helpers/e2e.ts";
import {
  startTestForge,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../test/helpers/forge.ts";
import { startFakeServer, type FakeReply, type FakeServer } from "../../../test/fakes/server.ts";
import { loopbackHttp, refusalCheck } from "../../../test/helpers/providers.ts";
import { systemResolver } from "../repos/host-guard.ts";
import { GitLabClient } from "./gitlab.ts";
import { createProviderHttp } from "./http.ts";
import { ProviderError, type ProviderRepo } from "./types.ts";

/**
 * The GitLab adapter against the real built-in forge (a faithful subset of GitLab's v4 API):
 * no fakes, every call is an HTTP request the forge answers as GitLab would. What every adapter
 * does is in `contract.test.ts`; here is what GitLab does its own way.
 */

interface ForgeHook {
  id: number;
  url: string;
  push_events: boolean;
  merge_requests_events: boolean;
  tag_push_events: boolean;
  alert_status: string;
}

async function rejection(work: Promise<unknown>): Promise<ProviderError> {
  try {
    await work;
  } catch (error) {
    assert.ok(error instanceof ProviderError, `expected a ProviderError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the call to fail");
}

describe("GitLab adapter against the built-in forge", () => {
  let forge: TestForge;
  let owner: TestUser;
  let developer: TestUser;
  let stranger: TestUser;
  let project: TestProject;
  let repo: ProviderRepo;
  let head = "";

  const clientFor = (token: string, baseUrl = forge.url): GitLabClient => {
    const port = new URL(baseUrl).port;
    const http = createProviderHttp({
      resolveHost: systemResolver,
      allowedPrivateHosts: [`127.0.0.1:${port}`],
    });
    return new GitLabClient(
      { provider: "gitlab", baseUrl, credential: { kind: "token", token } },
      http,
    );
  };

  before(async () => {
    forge = await startTestForge();
    owner = await forge.createUser("gina");
    developer = await forge.createUser("devon");
    stranger = await forge.createUser("stan");
    project = await forge.createProject(owner, "handbook");
    const member = await forge.api("POST", `/projects/${project.id}/members`, {
      token: owner.token,
      body: { user_id: developer.id, access_level: 30 },
    });
    assert.equal(member.status, 201, member.text);
    const work = await createWorkingCopy(forge, project, owner.token);
    try {
      head = await work.commit({ "index.html": "<h1>handbook</h1>\n" });
      await work.push("main");
      await work.push("main", "feature/x");
    } finally {
      await work.cleanup();
    }
  });
  after(() => forge?.stop());

  it("verifies a token: the user and its scopes", async () => {
    const identity = await clientFor(owner.token).verify();
    assert.equal(identity.username, "gina");
    assert.deepEqual(identity.scopes, ["api"]);
  });

  it("refuses a wrong token, and a token without the api scope, with GitLab's words", async () => {
    const wrong = await rejection(clientFor("glpat-not-a-real-token").verify());
    assert.equal(wrong.kind, "unauthorized");
    assert.equal(wrong.status, 401);
    assert.match(wrong.hint, /`api` scope/);
    assert.doesNotMatch(`${wrong.message} ${wrong.hint}`, /glpat-not-a-real-token/);

    const reader = await forge.createUser("rita", { scopes: ["read_api"] });
    const narrow = await rejection(clientFor(reader.token).verify());
    assert.equal(narrow.kind, "forbidden");
    assert.match(narrow.message, /read_api/);
    assert.match(narrow.hint, /the token needs the `api` scope/);
  });

  it("finds a project by integer id and by group/project path", async () => {
    const client = clientFor(owner.token);
    repo = await client.getRepo(String(project.id));
    assert.equal(repo.id, String(project.id));
    assert.equal(repo.fullPath, "gina/handbook");
    assert.equal(repo.sshUrl, project.ssh_url_to_repo);
    assert.equal(repo.defaultBranch, "main");
    assert.equal(repo.private, true);
    const byPath = await client.getRepo("gina/handbook");
    assert.deepEqual(byPath, repo);
    assert.deepEqual(await client.getRepo("/gina/handbook.git"), repo);

    const hidden = await rejection(clientFor(stranger.token).getRepo("gina/handbook"));
    assert.equal(hidden.kind, "not_found");
    assert.match(hidden.message, /project gina\/handbook not found or not visible to this token/);
    const bad = await rejection(client.getRepo("no-slash"));
    assert.equal(bad.kind, "invalid");
  });

  it("enables a key that already exists in another of the user's projects", async () => {
    const client = clientFor(owner.token);
    await forge.createProject(owner, "blog");
    const other = await client.getRepo("gina/blog");
    const pair = generateEd25519KeyPair("shared");
    const first = await client.addDeployKey(other, { title: "Slipway", key: pair.public });
    const second = await client.addDeployKey(repo, { title: "Slipway", key: pair.public });
    assert.equal(second.id, first.id, "GitLab keeps one key, enabled in both projects");
    assert.equal((await client.listDeployKeys(repo)).length, 1);
    await client.removeDeployKey(repo, second.id);
    await client.removeDeployKey(other, first.id);
  });

  it("says a Developer needs the Maintainer role to add keys and hooks", async () => {
    const client = clientFor(developer.token);
    const asDeveloper = await client.getRepo("gina/handbook");
    const refused = await rejection(
      client.addDeployKey(asDeveloper, { title: "x", key: generateEd25519KeyPair().public }),
    );
    assert.equal(refused.kind, "forbidden");
    assert.match(refused.hint, /at least the Maintainer role on gina\/handbook/);
    const hook = await rejection(
      client.addHook(asDeveloper, { url: "http://127.0.0.1:9/x", secret: "s", events: ["push"] }),
    );
    assert.equal(hook.kind, "forbidden");
  });

  it("creates, updates and removes a webhook with push and merge request events", async () => {
    const client = clientFor(owner.token);
    const spec = {
      url: "http://127.0.0.1:9/webhooks/sites/one",
      secret: "first-secret",
      events: ["push", "pull_request"] as const,
    };
    const hook = await client.addHook(repo, { ...spec, events: [...spec.events] });
    assert.deepEqual(hook.events, ["push", "pull_request"]);
    assert.equal(hook.active, true);
    const atForge = await forge.api<ForgeHook>("GET", `/projects/${project.id}/hooks/${hook.id}`, {
      token: owner.token,
    });
    assert.equal(atForge.body.push_events, true);
    assert.equal(atForge.body.merge_requests_events, true);
    assert.equal(atForge.body.tag_push_events, false);

    const updated = await client.updateHook(repo, hook.id, {
      url: spec.url,
      secret: "second-secret",
      events: ["push"],
    });
    assert.equal(updated.id, hook.id);
    assert.deepEqual(updated.events, ["push"]);
    assert.deepEqual(
      (await client.listHooks(repo)).map((h) => h.id),
      [hook.id],
    );
    await client.removeHook(repo, hook.id);
    await client.removeHook(repo, hook.id);
    assert.deepEqual(await client.listHooks(repo), []);
  });

  it("reports a hook GitLab disabled, and replaces it by an enabled one on update", async () => {
    const client = clientFor(owner.token);
    const spec = {
      url: "http://127.0.0.1:9/webhooks/sites/two",
      secret: "s",
      events: ["push" as const],
    };
    const hook = await client.addHook(repo, spec);
    // As after 40 failed deliveries: GitLab's permanent auto-disable.
    await forge.forge.ctx.db
      .updateTable("hooks")
      .set({ recent_failures: 40 })
      .where("id", "=", Number(hook.id))
      .execute();
    const [listed] = await client.listHooks(repo);
    assert.equal(listed?.active, false);
    assert.match(
      listed?.disabledReason ?? "",
      /GitLab disabled the webhook after repeated delivery failures/,
    );

    const repaired = await client.updateHook(repo, hook.id, spec);
    assert.equal(repaired.active, true);
    const hooks = await client.listHooks(repo);
    assert.deepEqual(
      hooks.map((h) => [h.id, h.active]),
      [[repaired.id, true]],
    );
    await client.removeHook(repo, repaired.id);
  });

  it("sets commit statuses in GitLab's states (failure and error are `failed`)", async () => {
    const client = clientFor(owner.token);
    const status = (state: "pending" | "success" | "failure" | "error", context: string) =>
      client.setCommitStatus(repo, head, {
        state,
        context,
        description: `build ${state}`,
        targetUrl: "http://deploy.example.test/1",
      });
    await status("pending", "slipway/handbook");
    await status("success", "slipway/handbook");
    await status("failure", "slipway/failing");
    await status("error", "slipway/broken");
    const listed = await forge.api<{ name: string; status: string; target_url: string }[]>(
      "GET",
      `/projects/${project.id}/repository/commits/${head}/statuses`,
      { token: owner.token },
    );
    assert.equal(listed.status, 200, listed.text);
    const byName = Object.fromEntries(listed.body.map((s) => [s.name, s.status]));
    assert.deepEqual(byName, {
      "slipway/handbook": "success",
      "slipway/failing": "failed",
      "slipway/broken": "failed",
    });
    const bad = await rejection(
      client.setCommitStatus(repo, "main", {
        state: "success",
        context: "x",
        description: "",
        targetUrl: "http://x.test",
      }),
    );
    assert.equal(bad.kind, "invalid");
  });

  it("reports an unreachable GitLab as unavailable, naming the host", async () => {
    const client = clientFor(owner.token, "http://127.0.0.1:9");
    const down = await rejection(client.verify());
    assert.equal(down.kind, "unavailable");
    assert.match(down.message, /127\.0\.0\.1:9/);
  });
});

describe("GitLab adapter against a server that is not quite the forge", () => {
  let odd: FakeServer;
  let client: GitLabClient;
  const refusal = refusalCheck(["odd-token"]);
  const project = (id: number, path: string) => ({
    id,
    path_with_namespace: path,
    ssh_url_to_repo: `git@gitlab.example:${path}.git`,
    http_url_to_repo: `https://gitlab.example/${path}.git`,
    web_url: `https://gitlab.example/${path}`,
    default_branch: "main",
    visibility: "private",
  });
  const json = (body: unknown, headers: Record<string, string> = {}): FakeReply => ({
    status: 200,
    body,
    headers,
  });

  before(async () => {
    odd = await startFakeServer({
      routes: [
        {
          // Keyset-style pages: `Link: rel="next"` only, no X-Next-Page.
          method: "GET",
          pattern: "/api/v4/projects",
          handler: (req) => {
            if (req.query.get("search") === "off-api") {
              return json([project(9, "g/off")], {
                link: '<http://127.0.0.2:1/api/v4/projects?page=2>; rel="next"',
              });
            }
            if (req.query.get("cursor") === "abc") return json([project(2, "g/two")]);
            return json([project(1, "g/one")], {
              link: `<${odd.url}/api/v4/projects?cursor=abc&per_page=100>; rel="next"`,
            });
          },
        },
        {
          // A server that always says there is a next page.
          method: "GET",
          pattern: "/api/v4/projects/:id/hooks",
          handler: (req) =>
            json([], { "x-next-page": String(Number(req.query.get("page") ?? "1") + 1) }),
        },
        {
          method: "GET",
          pattern: "/api/v4/projects/:id/deploy_keys",
          handler: () => json({ not: "a list" }),
        },
        { method: "GET", pattern: "/api/v4/projects/:id", handler: () => json({ id: "1" }) },
      ],
      notFound: () => ({ status: 404, body: { message: "404 Not Found" } }),
    });
    client = new GitLabClient(
      { provider: "gitlab", baseUrl: odd.url, credential: { kind: "token", token: "odd-token" } },
      loopbackHttp(String(odd.port)),
    );
  });
  after(() => odd?.close());

  const site = {
    id: "1",
    fullPath: "g/one",
    sshUrl: "",
    httpsUrl: "",
    webUrl: "",
    defaultBranch: "main",
    private: true,
  };

  it("follows Link: rel=next when GitLab sends no X-Next-Page, only within its API", async () => {
    assert.deepEqual(
      (await client.listRepos()).map((r) => r.fullPath),
      ["g/one", "g/two"],
    );
    const before = odd.requests.length;
    assert.deepEqual(
      (await client.listRepos("off-api")).map((r) => r.fullPath),
      ["g/off"],
    );
    assert.equal(odd.requests.length, before + 1, "the off-API link was not followed");
  });

  it("stops after the shared cap of pages", async () => {
    const before = odd.requests.length;
    assert.deepEqual(await client.listHooks(site), []);
    assert.equal(odd.requests.length - before, 10);
  });

  it("refuses answers it cannot read as unavailable, naming base_url", async () => {
    await refusal(client.getRepo("1"), "unavailable", /sent a project object/, /base_url/);
    await refusal(client.listDeployKeys(site), "unavailable", /deploy key list/, /base_url/);
  });
});
