import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { generateEd25519KeyPair } from "../../../src/lib/ssh-keys.ts";
import { callFake, startReceiver, type FakeAnswer } from "../../helpers/fakes.ts";
import { startBitbucketFake, type BitbucketFake } from "./fake.ts";

/** The fake answers as Bitbucket Cloud does, refusals included: checked over plain HTTP. */

type Answer = FakeAnswer & { body: Record<string, unknown> };

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("the Bitbucket Cloud fake", () => {
  let bb: BitbucketFake;
  let ownerAuth: string;
  let readerAuth: string;
  let tokenAuth: string;
  const key = generateEd25519KeyPair("deploy@slipway").public;

  const call = async (
    method: string,
    path: string,
    options: { auth?: string | null; body?: unknown; contentType?: string } = {},
  ): Promise<Answer> => {
    const auth = options.auth === undefined ? ownerAuth : options.auth;
    const answer = await callFake(method, `${bb.apiUrl}${path}`, {
      authorization: auth ?? undefined,
      body: options.body,
      contentType: options.contentType,
    });
    return { ...answer, body: (answer.json ?? {}) as Record<string, unknown> };
  };

  const errorOf = (a: Answer) =>
    a.body.error as { message: string; fields?: Record<string, string[]> };

  before(async () => {
    bb = await startBitbucketFake();
    bb.addUser("alice", "Alice");
    bb.addUser("rita", "Rita Reader");
    bb.addUser("mallory");
    ownerAuth = basic("alice", bb.appPassword("alice"));
    readerAuth = basic("rita", bb.appPassword("rita"));
    tokenAuth = `Bearer ${bb.accessToken("alice")}`;
    bb.addRepo("alice", { workspace: "acme", slug: "site", members: { rita: "read" } });
    bb.addRepo("alice", { workspace: "acme", slug: "blog", private: false });
    for (let i = 0; i < 3; i++) bb.addRepo("alice", { workspace: "acme", slug: `extra-${i}` });
  });
  after(() => bb.close());

  it("authenticates app passwords (Basic) and access tokens (Bearer), and names the scopes", async () => {
    const me = await call("GET", "/user");
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body.type, "user");
    assert.equal(me.body.username, "alice");
    assert.match(String(me.body.uuid), /^\{[0-9a-f-]{36}\}$/);
    assert.match(me.headers.get("x-oauth-scopes") ?? "", /repository:admin/);
    assert.equal(me.headers.get("x-accepted-oauth-scopes"), "account");
    assert.equal((await call("GET", "/user", { auth: tokenAuth })).body.username, "alice");

    const wrong = await call("GET", "/user", { auth: basic("alice", "not-the-password") });
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get("www-authenticate") ?? "", /^Basic /);
    const otherUser = await call("GET", "/user", {
      auth: basic("mallory", ownerAuth.slice(6)),
    });
    assert.equal(otherUser.status, 401, "a password is bound to its user");
    const badToken = await call("GET", "/user", { auth: "Bearer nope" });
    assert.equal(badToken.status, 401);
    assert.equal(
      errorOf(badToken).message,
      "Token is invalid, expired, or not supported for this endpoint.",
    );
    assert.equal((await call("GET", "/user", { auth: null })).status, 401);

    const revoked = bb.appPassword("alice");
    bb.revoke(revoked);
    assert.equal((await call("GET", "/user", { auth: basic("alice", revoked) })).status, 401);
  });

  it("refuses a credential without the scope an endpoint needs, naming it", async () => {
    const narrow = basic("alice", bb.appPassword("alice", ["repository"]));
    const user = await call("GET", "/user", { auth: narrow });
    assert.equal(user.status, 403);
    assert.equal(
      errorOf(user).message,
      "Your credentials lack one or more required privilege scopes.",
    );
    assert.deepEqual((user.body.error as { detail: unknown }).detail, {
      granted: ["repository"],
      required: ["account"],
    });
    const keys = await call("GET", "/repositories/acme/site/deploy-keys", { auth: narrow });
    assert.equal(keys.status, 403);
    const hooks = await call("GET", "/repositories/acme/site/hooks", { auth: narrow });
    assert.equal(hooks.status, 403);
    assert.deepEqual((hooks.body.error as { detail: { required: string[] } }).detail.required, [
      "webhook",
    ]);
    // repository:write implies repository.
    const writer = basic("alice", bb.appPassword("alice", ["repository:write"]));
    assert.equal((await call("GET", "/repositories/acme/site", { auth: writer })).status, 200);
  });

  it("serves repositories by workspace/repo_slug and {uuid}, hiding private ones", async () => {
    const repo = await call("GET", "/repositories/acme/site");
    assert.equal(repo.status, 200, repo.text);
    assert.equal(repo.body.type, "repository");
    assert.equal(repo.body.full_name, "acme/site");
    assert.equal(repo.body.is_private, true);
    assert.deepEqual(repo.body.mainbranch, { type: "branch", name: "main" });
    const links = repo.body.links as { clone: Array<{ name: string; href: string }> };
    assert.deepEqual(
      links.clone.map((c) => c.name),
      ["https", "ssh"],
    );
    assert.equal(links.clone[1]!.href, "git@bitbucket.org:acme/site.git");
    const uuid = String(repo.body.uuid);
    assert.match(uuid, /^\{[0-9a-f-]{36}\}$/);

    for (const path of [
      `/repositories/%7B%7D/${encodeURIComponent(uuid)}`,
      `/repositories/acme/${encodeURIComponent(uuid)}`,
      `/repositories/ACME/Site`,
    ]) {
      const same = await call("GET", path);
      assert.equal(same.status, 200, path);
      assert.equal(same.body.uuid, uuid);
    }
    const missing = await call("GET", "/repositories/acme/nope");
    assert.equal(missing.status, 404);
    assert.equal(errorOf(missing).message.startsWith("You may not have access"), true);
    const stranger = basic("mallory", bb.appPassword("mallory"));
    assert.equal((await call("GET", "/repositories/acme/site", { auth: stranger })).status, 404);
    assert.equal((await call("GET", "/repositories/acme/site", { auth: null })).status, 404);
    assert.equal((await call("GET", "/repositories/acme/blog", { auth: null })).status, 200);
    assert.equal((await call("GET", "/repositories/%7B%7D/site")).status, 404);
  });

  it("lists repositories by role with BBQL, paginated with next links", async () => {
    const all = await call("GET", "/repositories?role=admin&pagelen=2");
    assert.equal(all.status, 200, all.text);
    assert.equal(all.body.size, 5);
    assert.equal(all.body.pagelen, 2);
    assert.equal(all.body.page, 1);
    assert.equal((all.body.values as unknown[]).length, 2);
    const next = String(all.body.next);
    assert.ok(next.startsWith(`${bb.apiUrl}/repositories?`), next);
    const second = await fetch(next, { headers: { authorization: ownerAuth } });
    const page2 = (await second.json()) as { page: number; previous: string };
    assert.equal(page2.page, 2);
    assert.ok(page2.previous);

    const q = encodeURIComponent('name ~ "extra" AND is_private = true');
    const filtered = await call("GET", `/repositories?role=admin&q=${q}`);
    assert.deepEqual(
      (filtered.body.values as Array<{ full_name: string }>).map((r) => r.full_name),
      ["acme/extra-0", "acme/extra-1", "acme/extra-2"],
    );
    // Rita reads acme/site but administers nothing.
    const rita = await call("GET", "/repositories?role=admin", { auth: readerAuth });
    assert.equal(rita.body.size, 0);
    const member = await call("GET", "/repositories?role=member", { auth: readerAuth });
    assert.deepEqual(
      (member.body.values as Array<{ full_name: string }>).map((r) => r.full_name),
      ["acme/site"],
    );

    for (const bad of [
      "?role=boss",
      `?role=admin&q=${encodeURIComponent('color ~ "x"')}`,
      `?role=admin&q=${encodeURIComponent('name ~ "unterminated')}`,
      "?role=admin&pagelen=101",
      "?role=admin&pagelen=0",
      "?role=admin&page=x",
    ]) {
      const res = await call("GET", `/repositories${bad}`);
      assert.equal(res.status, 400, bad);
      assert.equal(res.body.type, "error", bad);
    }
    assert.equal((await call("GET", "/repositories?role=admin", { auth: null })).status, 401);
  });

  it("manages access keys: admins only, validated, 200 on create, 204 on delete", async () => {
    const path = "/repositories/acme/site/deploy-keys";
    const refusals: Array<[unknown, string]> = [
      [{ label: "x" }, "key"],
      [{ key: "ssh-ed25519 AAAAnotakey", label: "x" }, "key"],
      [{ key: 42 }, "key"],
      [{ key, label: 7 }, "label"],
    ];
    for (const [body, field] of refusals) {
      const res = await call("POST", path, { body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.ok(errorOf(res).fields?.[field], JSON.stringify(res.body));
    }
    assert.equal((await call("POST", path, { body: "[1]" })).status, 400);
    assert.equal(
      (await call("POST", path, { body: JSON.stringify({ key }), contentType: "text/plain" }))
        .status,
      400,
    );
    const denied = await call("POST", path, { auth: readerAuth, body: { key, label: "rita" } });
    assert.equal(denied.status, 403);
    assert.match(errorOf(denied).message, /administrator/);

    const created = await call("POST", path, { body: { key, label: "slipway" } });
    assert.equal(created.status, 200, created.text);
    assert.equal(created.body.type, "deploy_key");
    assert.equal(typeof created.body.id, "number");
    assert.equal(created.body.key, key.split(" ").slice(0, 2).join(" "), "comment split off");
    assert.equal(created.body.comment, "deploy@slipway");
    assert.equal(created.body.label, "slipway");
    assert.equal((created.body.repository as { full_name: string }).full_name, "acme/site");

    const again = await call("POST", path, { body: { key, label: "again" } });
    assert.equal(again.status, 400);
    assert.match(errorOf(again).message, /already added that access key/);

    const listed = await call("GET", path);
    assert.equal(listed.body.size, 1);
    const id = String(created.body.id);
    assert.equal((await call("GET", `${path}/${id}`)).status, 200);
    assert.equal((await call("DELETE", `${path}/${id}`, { auth: readerAuth })).status, 403);
    const removed = await call("DELETE", `${path}/${id}`);
    assert.equal(removed.status, 204);
    assert.equal(removed.text, "");
    assert.equal((await call("DELETE", `${path}/${id}`)).status, 404);
    assert.equal((await call("DELETE", `${path}/abc`)).status, 404);
    assert.equal(bb.deployKeys("acme/site").length, 0);
  });

  it("manages webhooks: validated, the secret write-only, {uuid} ids, 201 and 204", async () => {
    const path = "/repositories/acme/site/hooks";
    const good = {
      description: "Slipway",
      url: "https://slipway.example/webhooks/sites/1",
      active: true,
      secret: "s3cret",
      events: ["repo:push", "pullrequest:created"],
    };
    const refusals: Array<[Record<string, unknown>, string]> = [
      [{ ...good, url: undefined }, "url"],
      [{ ...good, url: "not a url" }, "url"],
      [{ ...good, url: "ftp://x.example/" }, "url"],
      [{ ...good, description: undefined }, "description"],
      [{ ...good, events: [] }, "events"],
      [{ ...good, events: ["push"] }, "events"],
      [{ ...good, events: "repo:push" }, "events"],
      [{ ...good, active: "yes" }, "active"],
      [{ ...good, secret: 5 }, "secret"],
    ];
    for (const [body, field] of refusals) {
      const res = await call("POST", path, { body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.ok(errorOf(res).fields?.[field], `${field}: ${res.text}`);
    }
    assert.equal((await call("POST", path, { auth: readerAuth, body: good })).status, 403);

    const created = await call("POST", path, { body: good });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.type, "webhook_subscription");
    assert.equal(created.body.secret_set, true);
    assert.equal(created.body.secret, undefined, "the secret is never returned");
    assert.ok(!created.text.includes("s3cret"));
    assert.deepEqual(created.body.events, ["pullrequest:created", "repo:push"]);
    const uuid = String(created.body.uuid);
    assert.match(uuid, /^\{[0-9a-f-]{36}\}$/);

    const one = `${path}/${encodeURIComponent(uuid)}`;
    const updated = await call("PUT", one, { body: { active: false, events: ["repo:push"] } });
    assert.equal(updated.status, 200, updated.text);
    assert.equal(updated.body.active, false);
    assert.equal(updated.body.secret_set, true, "an absent secret is kept");
    const cleared = await call("PUT", one, { body: { secret: null } });
    assert.equal(cleared.body.secret_set, false);
    assert.equal((await call("PUT", one, { body: { events: ["nope"] } })).status, 400);
    assert.equal(
      (await call("GET", `${path}/${uuid.slice(1, -1)}`)).status,
      200,
      "braces optional",
    );

    assert.equal((await call("DELETE", one)).status, 204);
    assert.equal((await call("DELETE", one)).status, 404);
    assert.equal((await call("PUT", one, { body: good })).status, 404);
  });

  it("reads branches and records build statuses on known commits", async () => {
    const sha = bb.setBranch("acme/site", "feature/new-look");
    const branch = await call("GET", "/repositories/acme/site/refs/branches/feature%2Fnew-look");
    assert.equal(branch.status, 200, branch.text);
    assert.equal(branch.body.name, "feature/new-look");
    assert.equal((branch.body.target as { hash: string }).hash, sha);
    assert.equal((await call("GET", "/repositories/acme/site/refs/branches/nope")).status, 404);
    const branches = await call("GET", '/repositories/acme/site/refs/branches?q=name ~ "NEW"');
    assert.equal(branches.status, 200, branches.text);
    assert.deepEqual(
      (branches.body.values as { name: string }[]).map((b) => b.name),
      ["feature/new-look"],
    );
    const badField = await call("GET", '/repositories/acme/site/refs/branches?q=slug ~ "x"');
    assert.equal(badField.status, 400, "a branch query names branch fields only");

    const path = `/repositories/acme/site/commit/${sha}/statuses/build`;
    const good = {
      state: "SUCCESSFUL",
      key: "slipway",
      name: "Slipway",
      url: "https://x.example/d/1",
    };
    for (const [body, field] of [
      [{ ...good, state: "success" }, "state"],
      [{ ...good, key: undefined }, "key"],
      [{ ...good, url: undefined }, "url"],
      [{ ...good, url: "nope" }, "url"],
    ] as const) {
      const res = await call("POST", path, { body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.ok(errorOf(res).fields?.[field], res.text);
    }
    assert.equal((await call("POST", path, { auth: readerAuth, body: good })).status, 403);
    const unknown = `/repositories/acme/site/commit/${"f".repeat(40)}/statuses/build`;
    assert.equal((await call("POST", unknown, { body: good })).status, 404);

    const created = await call("POST", path, { body: { ...good, state: "INPROGRESS" } });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.type, "build");
    const overwritten = await call("POST", path, { body: good });
    assert.equal(overwritten.body.state, "SUCCESSFUL");
    assert.equal(bb.buildStatuses("acme/site", sha).length, 1, "the same key overwrites");
    const listed = await call("GET", `/repositories/acme/site/commit/${sha.slice(0, 12)}/statuses`);
    assert.equal(listed.body.size, 1);
  });

  it("answers unknown routes with Bitbucket's 404 error", async () => {
    const res = await call("GET", "/repositories/acme/site/pipelines");
    assert.equal(res.status, 404);
    assert.equal(res.body.type, "error");
  });

  it("signs deliveries with X-Hub-Signature: sha256=<hex>, resending 5xx answers twice", async () => {
    bb.addRepo("alice", { workspace: "acme", slug: "hooked" });
    const target = await startReceiver([503, 502]);
    try {
      const hook = await call("POST", "/repositories/acme/hooked/hooks", {
        body: { description: "t", url: target.url, secret: "topsecret", events: ["repo:push"] },
      });
      assert.equal(hook.status, 201);
      await call("POST", "/repositories/acme/hooked/hooks", {
        body: { description: "no secret", url: target.url, events: ["repo:push"] },
      });
      await call("POST", "/repositories/acme/hooked/hooks", {
        body: { description: "prs only", url: target.url, events: ["pullrequest:created"] },
      });
      const deliveries = await bb.push("acme/hooked", "main");
      assert.equal(deliveries.length, 2, "only the hooks subscribed to repo:push");
      assert.deepEqual(deliveries[0]!.attempts, [503, 502, 200]);
      assert.deepEqual(deliveries[1]!.attempts, [200]);
      assert.equal(target.received.length, 4);

      const signed = target.received[2]!;
      const expected = createHmac("sha256", "topsecret").update(signed.body).digest("hex");
      assert.equal(signed.headers["x-hub-signature"], `sha256=${expected}`);
      assert.equal(signed.headers["x-event-key"], "repo:push");
      assert.equal(signed.headers["x-attempt-number"], "3");
      assert.equal(`{${String(signed.headers["x-hook-uuid"])}}`, hook.body.uuid);
      assert.match(String(signed.headers["x-request-uuid"]), /^[0-9a-f-]{36}$/);
      const payload = JSON.parse(signed.body.toString()) as {
        push: { changes: Array<{ new: { name: string; target: { hash: string } } }> };
        repository: { full_name: string };
      };
      assert.equal(payload.push.changes[0]!.new.name, "main");
      assert.equal(payload.repository.full_name, "acme/hooked");
      assert.equal(
        target.received[3]!.headers["x-hub-signature"],
        undefined,
        "no secret, no signature",
      );

      const prs = await bb.pullRequest("acme/hooked", {
        id: 3,
        action: "created",
        source: "feature",
        destination: "main",
      });
      assert.equal(prs.length, 1);
      assert.equal(prs[0]!.headers["x-event-key"], "pullrequest:created");
    } finally {
      await target.close();
    }
  });
});
