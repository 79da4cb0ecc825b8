import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync, sign } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { after, before, describe, it } from "node:test";
import { appJwt } from "../../../src/platform/providers/github-app.ts";
import { startReceiver } from "../../helpers/fakes.ts";
import { githubSignature, startGitHubFake, type GitHubFake } from "./fake.ts";

/**
 * The fake itself: it must refuse what GitHub refuses, in GitHub's words and status codes,
 * or the adapter tests prove nothing.
 */

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });

describe("the GitHub fake is strict", () => {
  let gh: GitHubFake;
  let token = "";
  let appId = 0;
  let installationId = 0;

  before(async () => {
    gh = await startGitHubFake();
    await gh.addRepo("octo", "site", { private: true });
    await gh.commit("octo/site", { "a.txt": "a\n" });
    token = gh.addClassicToken("octo", ["repo"]);
    appId = gh.addApp({ slug: "app", owner: "octo", publicKey }).id;
    installationId = gh.installApp(appId, "octo").id;
  });
  after(() => gh?.close());

  const call = async (
    method: string,
    path: string,
    options: { auth?: string; body?: unknown; headers?: Record<string, string> } = {},
  ) => {
    const res = await fetch(`${gh.url}${path}`, {
      method,
      headers: {
        "user-agent": "fake-test",
        accept: "application/vnd.github+json",
        ...(options.auth !== undefined ? { authorization: options.auth } : {}),
        ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
        ...options.headers,
      },
      ...(options.body !== undefined
        ? { body: typeof options.body === "string" ? options.body : JSON.stringify(options.body) }
        : {}),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: (text === "" ? null : JSON.parse(text)) as Record<string, unknown>,
    };
  };

  it("answers GitHub's shapes: integer ids, full_name, clone and ssh URLs", async () => {
    const res = await call("GET", "/repos/octo/site", { auth: `Bearer ${token}` });
    assert.equal(res.status, 200);
    assert.equal(typeof res.body.id, "number");
    assert.equal(res.body.full_name, "octo/site");
    assert.equal(res.body.private, true);
    assert.equal(res.body.default_branch, "main");
    assert.equal(res.body.clone_url, `${gh.gitUrl}/octo/site.git`);
    assert.match(String(res.body.ssh_url), /^ssh:\/\/git@localhost:\d+\/octo\/site\.git$/);
    assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
  });

  it("lists branches by name, paged with a Link header", async () => {
    await gh.addBranches("octo/site", ["feature/a", "feature/b"]);
    const first = await call("GET", "/repos/octo/site/branches?per_page=2", {
      auth: `Bearer ${token}`,
    });
    assert.equal(first.status, 200);
    const names = (first.body as unknown as { name: string }[]).map((b) => b.name);
    assert.deepEqual(names, ["feature/a", "feature/b"]);
    assert.match(first.headers.get("link") ?? "", /[?&]page=2>; rel="next"/);
    const hidden = await call("GET", "/repos/octo/site/branches", { auth: "Bearer ghp_nope" });
    assert.equal(hidden.status, 401);
  });

  it("refuses bad credentials, unknown routes and requests without a User-Agent as GitHub does", async () => {
    const bad = await call("GET", "/user", { auth: "Bearer ghp_nope" });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.message, "Bad credentials");
    assert.match(String(bad.body.documentation_url), /^https:\/\/docs\.github\.com/);
    const unknown = await call("GET", "/nope", { auth: `Bearer ${token}` });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.message, "Not Found");
    const noAgent = await fetch(`${gh.url}/user`, {
      headers: { authorization: `Bearer ${token}`, "user-agent": "" },
    });
    assert.equal(noAgent.status, 403);
    const version = await call("GET", "/user", {
      auth: `Bearer ${token}`,
      headers: { "x-github-api-version": "1999-01-01" },
    });
    assert.equal(version.status, 400);
    const scopes = await call("GET", "/user", { auth: `Bearer ${token}` });
    assert.equal(scopes.headers.get("x-oauth-scopes"), "repo");
  });

  it("hides a private repository from those who may not see it (404, not 403)", async () => {
    const other = gh.addUser("mallory");
    const mallory = gh.addClassicToken(other.login, ["repo"]);
    for (const auth of [`Bearer ${mallory}`, undefined]) {
      const res = await call("GET", "/repos/octo/site", auth === undefined ? {} : { auth });
      assert.equal(res.status, 404);
      assert.equal(res.body.message, "Not Found");
    }
  });

  it("validates with 422 Validation Failed and errors[], creates with 201 and deletes with 204", async () => {
    const auth = `Bearer ${token}`;
    const missing = await call("POST", "/repos/octo/site/keys", { auth, body: { title: "x" } });
    assert.equal(missing.status, 422);
    assert.equal(missing.body.message, "Validation Failed");
    assert.deepEqual(missing.body.errors, [
      { resource: "PublicKey", code: "missing_field", field: "key" },
    ]);
    const hook = await call("POST", "/repos/octo/site/hooks", { auth, body: { config: {} } });
    assert.equal(hook.status, 422);
    const parse = await call("POST", "/repos/octo/site/hooks", { auth, body: "{not json" });
    assert.equal(parse.status, 400);
    assert.equal(parse.body.message, "Problems parsing JSON");

    const created = await call("POST", "/repos/octo/site/hooks", {
      auth,
      body: {
        config: { url: "https://example.test/h", content_type: "json", secret: "s" },
        events: ["push"],
      },
    });
    assert.equal(created.status, 201);
    assert.equal((created.body.config as Record<string, unknown>).secret, "********");
    assert.deepEqual(created.body.last_response, { code: null, status: "unused", message: null });
    const twice = await call("POST", "/repos/octo/site/hooks", {
      auth,
      body: { config: { url: "https://example.test/h" } },
    });
    assert.equal(twice.status, 422);
    assert.match(JSON.stringify(twice.body.errors), /Hook already exists on this repository/);
    const removed = await fetch(`${gh.url}/repos/octo/site/hooks/${String(created.body.id)}`, {
      method: "DELETE",
      headers: { authorization: auth, "user-agent": "t" },
    });
    assert.equal(removed.status, 204);
  });

  it("checks App JWTs: signature with the App's public key, iat and exp", async () => {
    const good = await call("GET", "/app", { auth: `Bearer ${appJwt(appId, privateKey)}` });
    assert.equal(good.status, 200);
    assert.equal(good.body.id, appId);

    const jwt = (claims: Record<string, unknown>, key = privateKey) => {
      const head = Buffer.from(JSON.stringify({ alg: "RS256", typ: "JWT" })).toString("base64url");
      const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
      return `${head}.${body}.${sign("sha256", Buffer.from(`${head}.${body}`), key).toString("base64url")}`;
    };
    const now = Math.floor(Date.now() / 1000);
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const cases: Array<[string, string, RegExp]> = [
      [
        "another key",
        jwt({ iat: now - 60, exp: now + 500, iss: appId }, other),
        /could not be decoded/,
      ],
      ["expired", jwt({ iat: now - 700, exp: now - 100, iss: appId }), /'Expiration time' claim/],
      ["too long", jwt({ iat: now - 60, exp: now + 3600, iss: appId }), /too far in the future/],
      [
        "issued in the future",
        jwt({ iat: now + 300, exp: now + 500, iss: appId }),
        /'Issued at' claim/,
      ],
      ["unknown App", jwt({ iat: now - 60, exp: now + 500, iss: 1 }), /Integration not found/],
    ];
    for (const [what, value, message] of cases) {
      const res = await call("GET", "/app", { auth: `Bearer ${value}` });
      assert.equal(res.status, 401, what);
      assert.match(String(res.body.message), message, what);
    }
  });

  it("keeps JWTs, installation tokens and PATs to their own endpoints", async () => {
    const jwt = `Bearer ${appJwt(appId, privateKey)}`;
    assert.equal((await call("GET", "/repos/octo/site", { auth: jwt })).status, 403);
    assert.equal((await call("GET", "/app", { auth: `Bearer ${token}` })).status, 401);
    const minted = await call("POST", `/app/installations/${installationId}/access_tokens`, {
      auth: jwt,
      body: { permissions: { contents: "read" } },
    });
    assert.equal(minted.status, 201);
    assert.match(String(minted.body.token), /^ghs_/);
    assert.match(String(minted.body.expires_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const installation = `Bearer ${String(minted.body.token)}`;
    assert.equal((await call("GET", "/app", { auth: installation })).status, 401);
    assert.equal((await call("GET", "/repos/octo/site", { auth: installation })).status, 200);
    const hooks = await call("GET", "/repos/octo/site/hooks", { auth: installation });
    assert.equal(hooks.status, 403);
    assert.equal(hooks.body.message, "Resource not accessible by integration");
    const more = await call("POST", `/app/installations/${installationId}/access_tokens`, {
      auth: jwt,
      body: { permissions: { administration: "write" } },
    });
    assert.equal(more.status, 422);
  });

  it("serves git over HTTPS only with a token that may read the repository", async () => {
    const infoRefs = `${gh.gitUrl}/octo/site.git/info/refs?service=git-upload-pack`;
    const ca = await readFile(gh.caFile);
    const get = (authorization?: string) =>
      new Promise<{ status: number; header: string | undefined }>((resolve, reject) => {
        const req = httpsRequest(
          infoRefs,
          { ca, headers: authorization ? { authorization } : {} },
          (res: IncomingMessage) => {
            res.resume();
            res.on("end", () =>
              resolve({ status: res.statusCode ?? 0, header: res.headers["www-authenticate"] }),
            );
          },
        );
        req.on("error", reject);
        req.end();
      });
    const anonymous = await get();
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.header, 'Basic realm="GitHub"');
    const basic = (password: string) =>
      `Basic ${Buffer.from(`x-access-token:${password}`).toString("base64")}`;
    assert.equal((await get(basic("ghs_wrong"))).status, 401);
    assert.equal((await get(basic(token))).status, 200);
  });

  it("signs webhooks with X-Hub-Signature-256 over the raw body (GitHub's test vector)", async () => {
    assert.equal(
      githubSignature("It's a Secret to Everybody", "Hello, World!"),
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    );
    const receiver = await startReceiver([], 204);
    try {
      const delivery = await gh.sendWebhook(
        receiver.url,
        "push",
        { ref: "refs/heads/main" },
        { secret: "s3cret", hookId: 7 },
      );
      assert.equal(delivery.status, 204);
      const [got] = receiver.received;
      assert.equal(got?.headers["x-github-event"], "push");
      assert.equal(got?.headers["x-github-delivery"], delivery.deliveryId);
      assert.equal(got?.headers["x-github-hook-id"], "7");
      assert.equal(
        got?.headers["x-hub-signature-256"],
        `sha256=${createHmac("sha256", "s3cret").update(got!.body).digest("hex")}`,
      );
    } finally {
      await receiver.close();
    }
  });
});
