import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestForge, type TestForge, type TestUser } from "../../../test/helpers/forge.ts";
import { freshEd25519 } from "../../../test/helpers/ssh-test-keys.ts";
import { findKeyByBlob } from "./ssh-keys.ts";

const blobOf = (line: string): Buffer => Buffer.from(line.split(" ")[1]!, "base64");

describe("findKeyByBlob", () => {
  let t: TestForge;
  let alice: TestUser;
  let projectId: number;

  before(async () => {
    t = await startTestForge();
    alice = await t.createUser("alice");
    projectId = (await t.createProject(alice, "site")).id;
  });
  after(() => t.stop());

  async function deployKey(line: string): Promise<number> {
    const res = await t.api<{ id: number }>("POST", `/projects/${projectId}/deploy_keys`, {
      token: alice.token,
      body: { title: "deploy", key: line },
    });
    assert.equal(res.status, 201, res.text);
    return res.body.id;
  }

  it("finds a deploy key and a user key by the blob an SSH client offers", async () => {
    const deployLine = freshEd25519();
    const deployId = await deployKey(deployLine);
    const userLine = freshEd25519();
    const added = await t.api<{ id: number }>("POST", "/user/keys", {
      token: alice.token,
      body: { title: "laptop", key: userLine },
    });
    assert.equal(added.status, 201);

    const deploy = await findKeyByBlob(t.forge.ctx, blobOf(deployLine));
    assert.equal(deploy?.id, deployId);
    assert.equal(deploy?.kind, "deploy");
    const user = await findKeyByBlob(t.forge.ctx, blobOf(userLine));
    assert.equal(user?.id, added.body.id);
    assert.equal(user?.kind, "user");
    assert.equal(user?.user_id, alice.id);
  });

  it("finds nothing for an unknown key", async () => {
    assert.equal(await findKeyByBlob(t.forge.ctx, blobOf(freshEd25519())), undefined);
  });

  it("ignores an expired key, and honours a future expiry", async () => {
    const line = freshEd25519();
    const id = await deployKey(line);
    const setExpiry = (expiresAt: string) =>
      t.forge.ctx.db
        .updateTable("keys")
        .set({ expires_at: expiresAt })
        .where("id", "=", id)
        .execute();
    await setExpiry(new Date(Date.now() + 60_000).toISOString());
    assert.equal((await findKeyByBlob(t.forge.ctx, blobOf(line)))?.id, id);
    await setExpiry(new Date(Date.now() - 1_000).toISOString());
    assert.equal(await findKeyByBlob(t.forge.ctx, blobOf(line)), undefined);
  });

  it("ignores a user key whose user is gone", async () => {
    const line = freshEd25519();
    const added = await t.api<{ id: number }>("POST", "/user/keys", {
      token: alice.token,
      body: { title: "orphan", key: line },
    });
    await t.forge.ctx.db
      .updateTable("keys")
      .set({ user_id: null })
      .where("id", "=", added.body.id)
      .execute();
    assert.equal(await findKeyByBlob(t.forge.ctx, blobOf(line)), undefined);
  });

  it("finds nothing once the key is removed", async () => {
    const line = freshEd25519();
    const id = await deployKey(line);
    const res = await t.api("DELETE", `/projects/${projectId}/deploy_keys/${id}`, {
      token: alice.token,
    });
    assert.equal(res.status, 204);
    assert.equal(await findKeyByBlob(t.forge.ctx, blobOf(line)), undefined);
  });
});
