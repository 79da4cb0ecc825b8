import { Gitlab } from "@gitbeaker/rest";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  startTestForge,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../../test/helpers/forge.ts";
import {
  freshEd25519,
  generateOpenSshKeys,
  type OpenSshKeys,
} from "../../../../test/helpers/ssh-test-keys.ts";
import { gitbeakerFailure as failure } from "../../../../test/helpers/gitbeaker.ts";

// The real GitLab client, @gitbeaker/rest 43.8.0, against a running forge.

type Client = InstanceType<typeof Gitlab>;

describe("deploy keys through @gitbeaker/rest", () => {
  let t: TestForge;
  let keys: OpenSshKeys;
  let owner: TestUser;
  let outsider: TestUser;
  let project: TestProject;
  let project2: TestProject;
  let asAdmin: Client;
  let asOwner: Client;
  let asOutsider: Client;

  before(async () => {
    [t, keys] = await Promise.all([startTestForge(), generateOpenSshKeys()]);
    owner = await t.createUser("owner");
    outsider = await t.createUser("outsider");
    project = await t.createProject(owner, "site");
    project2 = await t.createProject(owner, "docs");
    asAdmin = new Gitlab({ host: t.url, token: t.rootToken });
    asOwner = new Gitlab({ host: t.url, token: owner.token });
    asOutsider = new Gitlab({ host: t.url, token: outsider.token });
  });
  after(() => t.stop());

  it("creates, shows, lists, edits, enables and removes a deploy key", async () => {
    const created = await asOwner.DeployKeys.create(project.id, "CI", keys.ed25519.line, {
      canPush: true,
    });
    assert.equal(created.title, "CI");
    assert.equal(created.key, keys.ed25519.line);
    assert.equal(created.can_push, true);
    assert.equal(created.fingerprint_sha256, keys.ed25519.sha256);
    assert.equal(created.fingerprint, keys.ed25519.md5);

    const shown = await asOwner.DeployKeys.show(project.id, created.id);
    assert.equal(shown.id, created.id);
    assert.equal(shown.can_push, true);

    const listed = await asOwner.DeployKeys.all({ projectId: project.id });
    assert.deepEqual(
      listed.map((k) => k.id),
      [created.id],
    );

    const edited = await asOwner.DeployKeys.edit(project.id, created.id, {
      title: "CI (read-only)",
      canPush: false,
    });
    assert.equal(edited.title, "CI (read-only)");
    assert.equal(edited.can_push, false);

    const enabled = await asOwner.DeployKeys.enable(project2.id, created.id);
    assert.equal(enabled.id, created.id);
    assert.equal(enabled.title, "CI (read-only)");
    assert.ok(!("can_push" in enabled));
    const inProject2 = await asOwner.DeployKeys.all({ projectId: project2.id });
    assert.deepEqual(
      inProject2.map((k) => k.id),
      [created.id],
    );

    const removed = await asOwner.DeployKeys.remove(project.id, created.id);
    assert.equal(removed, null);
    assert.deepEqual(await asOwner.DeployKeys.all({ projectId: project.id }), []);
    // Still used by project2, so the key itself survives.
    assert.equal((await asOwner.DeployKeys.show(project2.id, created.id)).id, created.id);
    await asOwner.DeployKeys.remove(project2.id, created.id);
    const gone = await failure(() => asOwner.DeployKeys.show(project2.id, created.id));
    assert.deepEqual(gone, { status: 404, message: "404 Not found" });
  });

  it("addresses the project by its path (gitbeaker URL-encodes it)", async () => {
    const created = await asOwner.DeployKeys.create("owner/site", "by path", keys.rsa1024.line);
    assert.equal(created.fingerprint_sha256, keys.rsa1024.sha256);
    const listed = await asOwner.DeployKeys.all({ projectId: "owner/site" });
    assert.ok(listed.some((k) => k.id === created.id));
    await asOwner.DeployKeys.remove("owner/site", created.id);
  });

  it("lists instance keys with their projects as an admin, and a user's project keys", async () => {
    const created = await asOwner.DeployKeys.create(project.id, "listed", keys.ecdsa384.line, {
      canPush: true,
    });
    const all = await asAdmin.DeployKeys.all();
    const item = all.find((k) => k.id === created.id);
    assert.ok(item);
    assert.deepEqual(
      (item.projects_with_write_access as { id: number }[]).map((p) => p.id),
      [project.id],
    );
    const mine = await asOwner.DeployKeys.all({ userId: owner.id });
    assert.ok(mine.some((k) => k.id === created.id));
    const denied = await failure(() => asOwner.DeployKeys.all());
    assert.deepEqual(denied, { status: 403, message: "403 Forbidden" });
  });

  it("follows Link headers across pages", async () => {
    const paged = await t.createProject(owner, "paged");
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await asOwner.DeployKeys.create(paged.id, `key ${i}`, freshEd25519())).id);
    }
    const listed = await asOwner.DeployKeys.all({ projectId: paged.id, perPage: 2 });
    assert.deepEqual(
      listed.map((k) => k.id),
      ids,
    );
    const firstPage = await asOwner.DeployKeys.all({
      projectId: paged.id,
      perPage: 2,
      maxPages: 1,
      showExpanded: true,
    });
    assert.equal(firstPage.data.length, 2);
    assert.equal(firstPage.paginationInfo.total, 5);
    assert.equal(firstPage.paginationInfo.totalPages, 3);
    assert.equal(firstPage.paginationInfo.next, 2);
  });

  it("surfaces GitLab's errors through GitbeakerRequestError", async () => {
    const hidden = await failure(() => asOutsider.DeployKeys.all({ projectId: project.id }));
    assert.deepEqual(hidden, { status: 404, message: "404 Project Not Found" });

    const dsa = await failure(() => asOwner.DeployKeys.create(project.id, "dsa", keys.dsa));
    assert.equal(dsa.status, 400);
    assert.deepEqual(JSON.parse(dsa.message), {
      "deploy_key.key": ["type is forbidden. Must be RSA, ECDSA, ED25519, ECDSA_SK, or ED25519_SK"],
    });

    const theirs = freshEd25519();
    await asOwner.DeployKeys.create(project.id, "theirs", theirs);
    const outsiderProject = await t.createProject(outsider, "elsewhere");
    const taken = await failure(() =>
      asOutsider.DeployKeys.create(outsiderProject.id, "mine now", theirs),
    );
    assert.equal(taken.status, 400);
    assert.deepEqual(JSON.parse(taken.message), {
      "deploy_key.fingerprint_sha256": ["has already been taken"],
    });

    const missing = await failure(() => asOwner.DeployKeys.enable(project.id, 999999));
    assert.deepEqual(missing, { status: 404, message: "404 Deploy key Not Found" });
  });

  it("manages the user's own SSH keys", async () => {
    const added = await asOwner.UserSSHKeys.create("laptop", keys.ecdsa256.line);
    assert.equal(added.title, "laptop");
    assert.equal(
      added.key,
      `${keys.ecdsa256.line.split(" ").slice(0, 2).join(" ")} owner (127.0.0.1)`,
    );
    const listed = await asOwner.UserSSHKeys.all();
    assert.deepEqual(
      listed.map((k) => k.id),
      [added.id],
    );
    assert.equal((await asOwner.UserSSHKeys.show(added.id)).title, "laptop");
    const dup = await failure(() => asOutsider.UserSSHKeys.create("copy", keys.ecdsa256.line));
    assert.equal(dup.status, 400);
    assert.deepEqual(JSON.parse(dup.message), { fingerprint_sha256: ["has already been taken"] });
    await asOwner.UserSSHKeys.remove(added.id);
    assert.deepEqual(await asOwner.UserSSHKeys.all(), []);
  });
});
