import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  startTestForge,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../test/helpers/forge.ts";
import {
  addDeployKey,
  addUserKey,
  createGitWorkspace,
  serverRefs,
  type GitWorkspace,
  type KeyPair,
} from "../../../test/helpers/forge-git.ts";

// GitLab's CVE-2023-5198: a write-access deploy key pushes for the user who added it, so it
// must stop pushing when that user loses access to the project (removed, or blocked).

describe("a can_push deploy key follows its owner's access", () => {
  let t: TestForge;
  let w: GitWorkspace;
  let alice: TestUser;
  let bob: TestUser;
  let project: TestProject;
  let deployKey: KeyPair;
  let local: string;

  const push = (branch: string) =>
    w.git(["push", w.sshUrl(project), `main:refs/heads/${branch}`], {
      cwd: local,
      key: deployKey,
    });

  before(async () => {
    t = await startTestForge();
    w = await createGitWorkspace(t);
    alice = await t.createUser("alice");
    bob = await t.createUser("bob");
    const aliceKey = await w.keygen("alice");
    await addUserKey(t, alice, aliceKey);
    project = await t.createProject(alice, "private-site");
    local = await w.initRepo("local");
    const seeded = await w.git(["push", "-q", w.sshUrl(project), "main"], {
      cwd: local,
      key: aliceKey,
    });
    assert.equal(seeded.code, 0, seeded.stderr);
    const added = await t.api("POST", `/projects/${project.id}/members`, {
      token: alice.token,
      body: { user_id: bob.id, access_level: 40 },
    });
    assert.equal(added.status, 201, added.text);
    deployKey = await w.keygen("bob-deploy");
    await addDeployKey(t, bob, project.id, deployKey, true);
  });
  after(async () => {
    await w.cleanup();
    await t.stop();
  });

  it("pushes while its owner is a member, and no longer once they are removed", async () => {
    const allowed = await push("while-member");
    assert.equal(allowed.code, 0, allowed.stderr);

    const removed = await t.api("DELETE", `/projects/${project.id}/members/${bob.id}`, {
      token: alice.token,
    });
    assert.equal(removed.status, 204, removed.text);
    const refused = await push("after-removal");
    assert.notEqual(refused.code, 0);
    assert.match(
      refused.stderr,
      /This deploy key cannot push: its owner @bob no longer has access to this project\./,
    );
    assert.equal((await serverRefs(t, project.id)).has("refs/heads/after-removal"), false);

    // Fetching with a key attached to the project stays allowed, as in GitLab.
    const clone = await w.git(["clone", "-q", w.sshUrl(project), "after-removal-clone"], {
      key: deployKey,
    });
    assert.equal(clone.code, 0, clone.stderr);
  });

  it("does not push for an owner who is a member again but blocked", async () => {
    const readded = await t.api("POST", `/projects/${project.id}/members`, {
      token: alice.token,
      body: { user_id: bob.id, access_level: 40 },
    });
    assert.equal(readded.status, 201, readded.text);
    const allowed = await push("readded");
    assert.equal(allowed.code, 0, allowed.stderr);

    await t.forge.ctx.db
      .updateTable("users")
      .set({ state: "blocked" })
      .where("id", "=", bob.id)
      .execute();
    const refused = await push("while-blocked");
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /This deploy key cannot push: its owner @bob is blocked\./);
    assert.equal((await serverRefs(t, project.id)).has("refs/heads/while-blocked"), false);
  });
});
