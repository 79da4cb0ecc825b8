import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runChecked } from "../../../lib/run.ts";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";
import { openPrivateKey } from "../../deploy-keys/deploy-keys.ts";

interface KeyBody {
  id: string;
  public_key: string;
  fingerprint: string;
  account_id: string;
  created_at: string;
}

describe("deploy keys API", () => {
  let t: TestPlatform;
  let alice: Tenant;

  before(async () => {
    t = await startTestPlatform();
    alice = await t.createTenant("alice");
  });
  after(() => t.stop());

  it("POST /deploy_keys (no body) creates an Ed25519 key and returns only its public half", async () => {
    const res = await t.api<KeyBody>("POST", "/deploy_keys", { token: alice.token });
    assert.equal(res.status, 201);
    assert.deepEqual(Object.keys(res.body).sort(), [
      "account_id",
      "created_at",
      "fingerprint",
      "id",
      "public_key",
    ]);
    assert.match(res.body.id, /^[0-9a-f]{24}$/);
    assert.match(
      res.body.public_key,
      /^ssh-ed25519 AAAA[0-9A-Za-z+/]+={0,2} slipway-deploy-key-[0-9a-f]{24}$/,
    );
    assert.match(res.body.fingerprint, /^SHA256:[0-9A-Za-z+/]{43}$/);
    assert.equal(res.body.account_id, alice.accountId);
    assert.doesNotMatch(res.text, /PRIVATE KEY/);

    // The clients send a JSON content type with an empty body; that is no body, not bad JSON.
    const withHeader = await t.api<KeyBody>("POST", "/deploy_keys", {
      token: alice.token,
      headers: { "content-type": "application/json" },
    });
    assert.equal(withHeader.status, 201);
  });

  it("keeps a private half that OpenSSH accepts and that matches the public key", async () => {
    const created = await t.api<KeyBody>("POST", "/deploy_keys", { token: alice.token });
    const row = await t.platform.ctx.db
      .selectFrom("deploy_keys")
      .selectAll()
      .where("id", "=", created.body.id)
      .executeTakeFirstOrThrow();
    assert.doesNotMatch(row.private_key_sealed, /PRIVATE KEY/, "sealed at rest");
    const dir = await mkdtemp(join(tmpdir(), "slipway-key-"));
    try {
      const file = join(dir, "key");
      await writeFile(file, openPrivateKey(t.platform.ctx, row), { mode: 0o600 });
      const derived = await runChecked("ssh-keygen", ["-y", "-f", file]);
      assert.equal(derived.trim(), created.body.public_key);
      const fingerprint = await runChecked("ssh-keygen", ["-l", "-E", "sha256", "-f", file]);
      assert.ok(fingerprint.includes(created.body.fingerprint));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("binds each sealed private key to its own row", async () => {
    const [a, b] = [
      await t.api<KeyBody>("POST", "/deploy_keys", { token: alice.token }),
      await t.api<KeyBody>("POST", "/deploy_keys", { token: alice.token }),
    ];
    const db = t.platform.ctx.db;
    const rowA = await db
      .selectFrom("deploy_keys")
      .selectAll()
      .where("id", "=", a.body.id)
      .executeTakeFirstOrThrow();
    const rowB = await db
      .selectFrom("deploy_keys")
      .selectAll()
      .where("id", "=", b.body.id)
      .executeTakeFirstOrThrow();
    assert.throws(() =>
      openPrivateKey(t.platform.ctx, { ...rowB, private_key_sealed: rowA.private_key_sealed }),
    );
  });

  it("lists, shows and deletes keys", async () => {
    const created = await t.api<KeyBody>("POST", "/deploy_keys", { token: alice.token });
    const list = await t.api<KeyBody[]>("GET", "/deploy_keys", { token: alice.token });
    assert.equal(list.status, 200);
    assert.ok(list.body.some((k) => k.id === created.body.id));
    assert.ok(list.body.every((k) => k.account_id === alice.accountId));

    const one = await t.api<KeyBody>("GET", `/deploy_keys/${created.body.id}`, {
      token: alice.token,
    });
    assert.deepEqual(one.body, created.body);

    const removed = await t.api("DELETE", `/deploy_keys/${created.body.id}`, {
      token: alice.token,
    });
    assert.equal(removed.status, 204);
    const gone = await t.api<{ code: number; message: string }>(
      "GET",
      `/deploy_keys/${created.body.id}`,
      {
        token: alice.token,
      },
    );
    assert.equal(gone.status, 404);
    assert.deepEqual(gone.body, { code: 404, message: "Deploy key not found" });
    const bogus = await t.api("GET", "/deploy_keys/not-an-id", { token: alice.token });
    assert.equal(bogus.status, 404);
  });

  it("refuses to delete a key a site uses, naming the site", async () => {
    const key = await t.api<KeyBody>("POST", "/deploy_keys", { token: alice.token });
    const site = await t.api("POST", "/sites", {
      token: alice.token,
      body: {
        name: "uses-key",
        repo: { repo_url: "git@github.com:a/b.git", deploy_key_id: key.body.id },
      },
    });
    assert.equal(site.status, 201);
    const refused = await t.api<{ code: number; message: string }>(
      "DELETE",
      `/deploy_keys/${key.body.id}`,
      {
        token: alice.token,
      },
    );
    assert.equal(refused.status, 409);
    assert.match(refused.body.message, /used by site uses-key/);
    await t.api("PUT", "/sites/uses-key/unlink_repo", { token: alice.token });
    const removed = await t.api("DELETE", `/deploy_keys/${key.body.id}`, { token: alice.token });
    assert.equal(removed.status, 204);
  });

  it("creates keys in another of the caller's accounts with ?account_slug=, and only there", async () => {
    const res = await t.api<KeyBody>("POST", `/deploy_keys?account_slug=${alice.accountSlug}`, {
      token: alice.token,
    });
    assert.equal(res.status, 201);
    assert.equal(res.body.account_id, alice.accountId);
    const other = await t.api("POST", "/deploy_keys?account_slug=administrator", {
      token: alice.token,
    });
    assert.equal(other.status, 404);
  });
});
