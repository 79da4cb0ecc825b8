import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  startTestForge,
  type ApiResponse,
  type TestForge,
  type TestUser,
} from "../../../../test/helpers/forge.ts";
import { KeyMessages } from "../../../lib/ssh-keys.ts";
import {
  freshEd25519,
  generateOpenSshKeys,
  type OpenSshKeys,
} from "../../../../test/helpers/ssh-test-keys.ts";

interface SshKeyJson {
  id: number;
  title: string;
  key: string;
  created_at: string;
  expires_at: string | null;
  usage_type: string;
}

describe("user SSH keys API (/user/keys)", () => {
  let t: TestForge;
  let keys: OpenSshKeys;
  let alice: TestUser;
  let bob: TestUser;

  before(async () => {
    [t, keys] = await Promise.all([startTestForge(), generateOpenSshKeys()]);
    alice = await t.createUser("alice");
    bob = await t.createUser("bob");
  });
  after(() => t.stop());

  const add = (as: TestUser, body: unknown): Promise<ApiResponse<SshKeyJson>> =>
    t.api<SshKeyJson>("POST", "/user/keys", { token: as.token, body });

  it("answers 401 without authentication on every endpoint", async () => {
    for (const [method, path] of [
      ["GET", "/user/keys"],
      ["GET", "/user/keys/1"],
      ["POST", "/user/keys"],
      ["DELETE", "/user/keys/1"],
    ] as const) {
      const res = await t.api(method, path, {
        token: null,
        body: method === "POST" ? {} : undefined,
      });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.deepEqual(res.body, { message: "401 Unauthorized" });
    }
  });

  it("adds a key and shows it as GitLab's SSHKey, with the comment replaced", async () => {
    const res = await add(alice, { title: "laptop", key: keys.rsa1024.line });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), [
      "created_at",
      "expires_at",
      "id",
      "key",
      "title",
      "usage_type",
    ]);
    const [type, base64] = keys.rsa1024.line.split(" ");
    assert.equal(res.body.key, `${type} ${base64} alice (127.0.0.1)`);
    assert.equal(res.body.title, "laptop");
    assert.equal(res.body.usage_type, "auth_and_signing");
    assert.equal(res.body.expires_at, null);
    const row = await t.forge.ctx.db
      .selectFrom("keys")
      .selectAll()
      .where("id", "=", res.body.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.kind, "user");
    assert.equal(row.user_id, alice.id);
    assert.equal(row.fingerprint_sha256, keys.rsa1024.sha256);
    assert.equal(row.key, keys.rsa1024.line);
  });

  it("lists only the caller's keys, paginated", async () => {
    const mine = await add(bob, { title: "bob 1", key: freshEd25519() });
    const mine2 = await add(bob, { title: "bob 2", key: freshEd25519() });
    const res = await t.api<SshKeyJson[]>("GET", "/user/keys", { token: bob.token });
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.map((k) => k.id),
      [mine.body.id, mine2.body.id],
    );
    assert.equal(res.headers.get("x-total"), "2");
    const paged = await t.api<SshKeyJson[]>("GET", "/user/keys?per_page=1&page=2", {
      token: bob.token,
    });
    assert.deepEqual(
      paged.body.map((k) => k.id),
      [mine2.body.id],
    );
  });

  it("shows one of the caller's keys; anyone else's is 404 Key Not Found", async () => {
    const created = await add(alice, { title: "shown", key: freshEd25519() });
    const shown = await t.api<SshKeyJson>("GET", `/user/keys/${created.body.id}`, {
      token: alice.token,
    });
    assert.equal(shown.status, 200);
    assert.equal(shown.body.title, "shown");
    const other = await t.api("GET", `/user/keys/${created.body.id}`, { token: bob.token });
    assert.equal(other.status, 404);
    assert.deepEqual(other.body, { message: "404 Key Not Found" });
  });

  it("requires key and title", async () => {
    assert.deepEqual((await add(alice, { title: "x" })).body, { error: "key is missing" });
    assert.deepEqual((await add(alice, { key: "x" })).body, { error: "title is missing" });
  });

  it("validates the key like GitLab's Key model, without a prefix", async () => {
    const dsa = await add(alice, { title: "dsa", key: keys.dsa });
    assert.equal(dsa.status, 400);
    assert.deepEqual(dsa.body, { message: { key: [KeyMessages.forbiddenType] } });
    const junk = await add(alice, { title: "junk", key: "some key" });
    assert.equal(junk.status, 400);
    assert.deepEqual(junk.body, {
      message: {
        key: [KeyMessages.invalid, KeyMessages.forbiddenType],
        fingerprint_sha256: [KeyMessages.cannotBeGenerated],
      },
    });
    const long = await add(alice, { title: "t".repeat(256), key: freshEd25519() });
    assert.deepEqual(long.body, {
      message: { title: ["is too long (maximum is 255 characters)"] },
    });
  });

  it("keeps fingerprints unique across user keys and deploy keys", async () => {
    const line = freshEd25519();
    assert.equal((await add(alice, { title: "first", key: line })).status, 201);
    const again = await add(alice, { title: "again", key: line });
    assert.equal(again.status, 400);
    assert.deepEqual(again.body, { message: { fingerprint_sha256: ["has already been taken"] } });
    const byBob = await add(bob, { title: "copy", key: line.replace(/ \S+$/, " other-comment") });
    assert.deepEqual(byBob.body, { message: { fingerprint_sha256: ["has already been taken"] } });

    const project = await t.createProject(alice, "site");
    const deployLine = freshEd25519();
    const deploy = await t.api("POST", `/projects/${project.id}/deploy_keys`, {
      token: alice.token,
      body: { title: "deploy", key: deployLine },
    });
    assert.equal(deploy.status, 201);
    const clash = await add(alice, { title: "mine", key: deployLine });
    assert.equal(clash.status, 400);
    assert.deepEqual(clash.body, { message: { fingerprint_sha256: ["has already been taken"] } });
  });

  it("accepts a future expires_at and refuses a past one", async () => {
    const future = await add(alice, {
      title: "expiring",
      key: freshEd25519(),
      expires_at: "2999-01-01",
    });
    assert.equal(future.status, 201);
    assert.equal(future.body.expires_at, "2999-01-01T00:00:00.000Z");
    const past = await add(alice, { title: "old", key: freshEd25519(), expires_at: "2000-01-01" });
    assert.equal(past.status, 400);
    assert.deepEqual(past.body, { message: { key: [KeyMessages.expired] } });
  });

  it("accepts only the auth_and_signing usage type", async () => {
    const ok = await add(alice, {
      title: "both",
      key: freshEd25519(),
      usage_type: "auth_and_signing",
    });
    assert.equal(ok.status, 201);
    const signing = await add(alice, { title: "sign", key: freshEd25519(), usage_type: "signing" });
    assert.equal(signing.status, 400);
    assert.deepEqual(signing.body, { error: "usage_type does not have a valid value" });
  });

  it("deletes the caller's key (204), honouring If-Unmodified-Since", async () => {
    const created = await add(alice, { title: "to delete", key: freshEd25519() });
    const path = `/user/keys/${created.body.id}`;
    const byBob = await t.api("DELETE", path, { token: bob.token });
    assert.equal(byBob.status, 404);
    assert.deepEqual(byBob.body, { message: "404 Key Not Found" });
    const stale = await t.api("DELETE", path, {
      token: alice.token,
      headers: { "if-unmodified-since": "Sat, 01 Jan 2000 00:00:00 GMT" },
    });
    assert.equal(stale.status, 412);
    assert.deepEqual(stale.body, { message: "412 Precondition Failed" });
    const deleted = await t.api("DELETE", path, { token: alice.token });
    assert.equal(deleted.status, 204);
    assert.equal(deleted.text, "");
    assert.equal((await t.api("GET", path, { token: alice.token })).status, 404);
    // The key is free again, for anyone.
    assert.equal((await add(bob, { title: "reuse", key: created.body.key })).status, 201);
  });

  it("answers 400 key_id is invalid for a non-integer id", async () => {
    const res = await t.api("GET", "/user/keys/abc", { token: alice.token });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { error: "key_id is invalid" });
  });
});

describe("another user's SSH keys (/users/:id/keys)", () => {
  let t: TestForge;
  let alice: TestUser;
  let bob: TestUser;

  before(async () => {
    t = await startTestForge();
    alice = await t.createUser("alice");
    bob = await t.createUser("bob");
  });
  after(() => t.stop());

  it("lists anyone's keys by id or username, to anonymous callers too", async () => {
    const mine = await t.api<SshKeyJson>("POST", "/user/keys", {
      token: alice.token,
      body: { title: "laptop", key: freshEd25519() },
    });
    assert.equal(mine.status, 201, mine.text);
    for (const who of [String(alice.id), "alice"]) {
      const res = await t.api<SshKeyJson[]>("GET", `/users/${who}/keys`, { token: null });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, [mine.body]);
      assert.equal(res.headers.get("x-total"), "1");
    }
    const one = await t.api<SshKeyJson>("GET", `/users/${alice.id}/keys/${mine.body.id}`, {
      token: bob.token,
    });
    assert.deepEqual([one.status, one.body], [200, mine.body]);
    const notHers = await t.api("GET", `/users/${bob.id}/keys/${mine.body.id}`);
    assert.deepEqual([notHers.status, notHers.body], [404, { message: "404 Key Not Found" }]);
    const nobody = await t.api("GET", "/users/nobody/keys");
    assert.deepEqual([nobody.status, nobody.body], [404, { message: "404 User Not Found" }]);
  });

  it("lets an administrator add and delete a user's key; others get 401 or 403", async () => {
    const key = freshEd25519();
    const anonymous = await t.api("POST", `/users/${bob.id}/keys`, { token: null, body: {} });
    assert.deepEqual([anonymous.status, anonymous.body], [401, { message: "401 Unauthorized" }]);
    const asUser = await t.api("POST", `/users/${bob.id}/keys`, {
      token: alice.token,
      body: { title: "x", key },
    });
    assert.deepEqual([asUser.status, asUser.body], [403, { message: "403 Forbidden" }]);

    const missing = await t.api("POST", `/users/${bob.id}/keys`, { body: {} });
    assert.deepEqual(
      [missing.status, missing.body],
      [400, { error: "key is missing, title is missing" }],
    );
    const noUser = await t.api("POST", "/users/9999/keys", { body: { title: "x", key } });
    assert.deepEqual([noUser.status, noUser.body], [404, { message: "404 User Not Found" }]);

    const added = await t.api<SshKeyJson>("POST", `/users/${bob.id}/keys`, {
      body: { title: "given", key },
    });
    assert.equal(added.status, 201, added.text);
    assert.match(added.body.key, / bob \(127\.0\.0\.1\)$/);
    const own = await t.api<SshKeyJson[]>("GET", "/user/keys", { token: bob.token });
    assert.deepEqual(
      own.body.map((k) => k.id),
      [added.body.id],
    );

    const path = `/users/${bob.id}/keys/${added.body.id}`;
    const refused = await t.api("DELETE", path, { token: alice.token });
    assert.equal(refused.status, 403);
    const deleted = await t.api("DELETE", path);
    assert.deepEqual([deleted.status, deleted.text], [204, ""]);
    const again = await t.api("DELETE", path);
    assert.deepEqual([again.status, again.body], [404, { message: "404 Key Not Found" }]);
  });
});
