import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import {
  startTestForge,
  type ApiResponse,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../../test/helpers/forge.ts";
import { KeyMessages } from "../../../lib/ssh-keys.ts";
import { createKeyRecord } from "../../users/ssh-keys.ts";
import type { Key } from "../../db/schema.ts";
import {
  craftedDsa,
  freshEd25519,
  generateOpenSshKeys,
  skEcdsa,
  skEd25519,
  type OpenSshKeys,
} from "../../../../test/helpers/ssh-test-keys.ts";

// A port of GitLab's spec/requests/api/deploy_keys_spec.rb (and the project_deploy_keys cases
// of users_spec.rb), as black-box HTTP tests. GitLab's setup: `user` is not a member of the
// (private) projects, `maintainer` is a Maintainer of `project`, `deploy_key` is a public key
// attached read-only to `project`, `deploy_key_private` is a private key attached to nothing.
//
// Admin mode: GitLab's shared examples also expect an admin *without* admin mode to fail like a
// regular user. This forge's admins are always in admin mode, so those cases are adapted: the
// admin is asserted to succeed and the regular user to fail.

interface ProjectIdentityJson {
  id: number;
  description: string;
  name: string;
  name_with_namespace: string;
  path: string;
  path_with_namespace: string;
  created_at: string;
}

interface DeployKeyJson {
  id: number;
  title: string;
  key: string;
  usage_type: string;
  created_at: string;
  expires_at: string | null;
  fingerprint: string;
  fingerprint_sha256: string;
  can_push?: boolean;
  projects_with_write_access?: ProjectIdentityJson[];
  projects_with_readonly_access?: ProjectIdentityJson[];
}

interface World {
  t: TestForge;
  admin: TestUser;
  creator: TestUser;
  user: TestUser;
  maintainer: TestUser;
  project: TestProject;
  project2: TestProject;
  project3: TestProject;
  /** Public (instance) key, attached read-only to `project`. */
  deployKey: DeployKeyJson;
  /** Private key attached to no project (only possible through the database). */
  deployKeyPrivate: Key;
}

const ENTITY_FIELDS = [
  "created_at",
  "expires_at",
  "fingerprint",
  "fingerprint_sha256",
  "id",
  "key",
  "title",
  "usage_type",
];
const PAGINATION_HEADERS = [
  "x-total",
  "x-total-pages",
  "x-per-page",
  "x-page",
  "x-next-page",
  "x-prev-page",
  "link",
];

function assertPaginationHeaders(res: ApiResponse): void {
  for (const header of PAGINATION_HEADERS) {
    assert.ok(res.headers.has(header), `missing ${header}`);
  }
}

const total = (res: ApiResponse): number => Number(res.headers.get("x-total"));

async function addMember(
  t: TestForge,
  project: TestProject,
  member: TestUser,
  accessLevel: number,
): Promise<void> {
  const res = await t.api("POST", `/projects/${project.id}/members`, {
    body: { user_id: member.id, access_level: accessLevel },
  });
  assert.equal(res.status, 201, res.text);
}

async function insertPrivateKey(t: TestForge, title: string): Promise<Key> {
  const ctx = t.forge.ctx;
  return ctx.db.transaction().execute(async (trx) => {
    const created = await createKeyRecord(ctx, trx, {
      kind: "deploy",
      userId: null,
      title,
      key: freshEd25519(),
      expiresAt: null,
      public: false,
    });
    return created.key;
  });
}

async function world(): Promise<World> {
  const t = await startTestForge();
  const admin = await t.createUser("admin", { admin: true });
  const creator = await t.createUser("creator");
  const user = await t.createUser("user");
  const maintainer = await t.createUser("maintainer");
  const project = await t.createProject(creator, "project");
  const project2 = await t.createProject(creator, "project2");
  const project3 = await t.createProject(creator, "project3");
  await addMember(t, project, maintainer, 40);
  const created = await t.api<DeployKeyJson>("POST", "/deploy_keys", {
    token: admin.token,
    body: { title: "Public key", key: freshEd25519() },
  });
  assert.equal(created.status, 201, created.text);
  const enabled = await t.api(
    "POST",
    `/projects/${project.id}/deploy_keys/${created.body.id}/enable`,
    {
      token: admin.token,
    },
  );
  assert.equal(enabled.status, 201, enabled.text);
  const deployKeyPrivate = await insertPrivateKey(t, "Private key");
  return {
    t,
    admin,
    creator,
    user,
    maintainer,
    project,
    project2,
    project3,
    deployKey: created.body,
    deployKeyPrivate,
  };
}

async function projectKeyCount(w: World, project: TestProject): Promise<number> {
  const res = await w.t.api("GET", `/projects/${project.id}/deploy_keys`, { token: w.admin.token });
  assert.equal(res.status, 200, res.text);
  return total(res);
}

async function deployKeyCount(w: World): Promise<number> {
  const res = await w.t.api("GET", "/deploy_keys", { token: w.admin.token });
  assert.equal(res.status, 200, res.text);
  return total(res);
}

/** Attaches a new private key to `project` as `as` (admin by default). */
async function addKey(
  w: World,
  project: TestProject,
  body: Record<string, unknown> = {},
  as: TestUser = w.admin,
): Promise<DeployKeyJson> {
  const res = await w.t.api<DeployKeyJson>("POST", `/projects/${project.id}/deploy_keys`, {
    token: as.token,
    body: { title: "another deploy key", key: freshEd25519(), ...body },
  });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

async function showKey(w: World, project: TestProject, keyId: number): Promise<DeployKeyJson> {
  const res = await w.t.api<DeployKeyJson>("GET", `/projects/${project.id}/deploy_keys/${keyId}`, {
    token: w.admin.token,
  });
  assert.equal(res.status, 200, res.text);
  return res.body;
}

async function setCanPush(w: World, project: TestProject, keyId: number): Promise<void> {
  const res = await w.t.api("PUT", `/projects/${project.id}/deploy_keys/${keyId}`, {
    token: w.admin.token,
    body: { can_push: true },
  });
  assert.equal(res.status, 200, res.text);
}

async function enable(w: World, project: TestProject, keyId: number): Promise<void> {
  const res = await w.t.api("POST", `/projects/${project.id}/deploy_keys/${keyId}/enable`, {
    token: w.admin.token,
  });
  assert.equal(res.status, 201, res.text);
}

describe("GET /deploy_keys", () => {
  let w: World;
  before(async () => {
    w = await world();
  });
  after(() => w.t.stop());
  // Each case starts from GitLab's setup: `deploy_key` attached to `project` only.
  afterEach(async () => {
    for (const project of [w.project2, w.project3]) {
      await w.t.api("DELETE", `/projects/${project.id}/deploy_keys/${w.deployKey.id}`, {
        token: w.admin.token,
      });
    }
  });

  it("is for admins: a regular user gets 403, an admin 200 (admin mode is always on)", async () => {
    const denied = await w.t.api("GET", "/deploy_keys", { token: w.user.token });
    assert.equal(denied.status, 403);
    assert.deepEqual(denied.body, { message: "403 Forbidden" });
    assert.equal((await w.t.api("GET", "/deploy_keys", { token: w.admin.token })).status, 200);
  });

  it("answers 401 without authentication", async () => {
    const res = await w.t.api("GET", "/deploy_keys", { token: null });
    assert.equal(res.status, 401);
    assert.deepEqual(res.body, { message: "401 Unauthorized" });
  });

  it("lists every deploy key in id order, paginated, with the deploy_keys schema", async () => {
    const res = await w.t.api<DeployKeyJson[]>("GET", "/deploy_keys", { token: w.admin.token });
    assert.equal(res.status, 200);
    assertPaginationHeaders(res);
    assert.ok(Array.isArray(res.body));
    assert.equal(res.body.length, 2);
    assert.equal(res.body[0]!.id, w.deployKey.id);
    assert.equal(res.body[1]!.id, w.deployKeyPrivate.id);
    for (const item of res.body) {
      assert.deepEqual(Object.keys(item).sort(), [
        ...ENTITY_FIELDS.slice(0, 6),
        "projects_with_readonly_access",
        "projects_with_write_access",
        ...ENTITY_FIELDS.slice(6),
      ]);
      assert.equal(item.usage_type, "auth_and_signing");
    }
    const identity = res.body[0]!.projects_with_readonly_access![0]!;
    assert.deepEqual(Object.keys(identity).sort(), [
      "created_at",
      "description",
      "id",
      "name",
      "name_with_namespace",
      "path",
      "path_with_namespace",
    ]);
    assert.equal(identity.path_with_namespace, "creator/project");
    assert.equal(identity.name_with_namespace, "creator / project");
  });

  it("with public=true lists only public keys", async () => {
    const res = await w.t.api<DeployKeyJson[]>("GET", "/deploy_keys?public=true", {
      token: w.admin.token,
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.length, 1);
    assert.equal(res.body[0]!.id, w.deployKey.id);
  });

  it("lists the projects with write access to a key", async () => {
    await enable(w, w.project2, w.deployKey.id);
    await enable(w, w.project3, w.deployKey.id);
    await setCanPush(w, w.project2, w.deployKey.id);
    await setCanPush(w, w.project3, w.deployKey.id);
    const res = await w.t.api<DeployKeyJson[]>("GET", "/deploy_keys", { token: w.admin.token });
    assert.deepEqual(
      res.body[0]!.projects_with_write_access!.map((p) => p.id),
      [w.project2.id, w.project3.id],
    );
    assert.deepEqual(
      res.body[0]!.projects_with_readonly_access!.map((p) => p.id),
      [w.project.id],
    );
  });

  it("lists the projects with read-only access to a key", async () => {
    await enable(w, w.project2, w.deployKey.id);
    await enable(w, w.project3, w.deployKey.id);
    const res = await w.t.api<DeployKeyJson[]>("GET", "/deploy_keys", { token: w.admin.token });
    assert.deepEqual(
      res.body[0]!.projects_with_readonly_access!.map((p) => p.id),
      [w.project.id, w.project2.id, w.project3.id],
    );
    assert.deepEqual(res.body[0]!.projects_with_write_access, []);
  });

  it("paginates with per_page and page", async () => {
    const res = await w.t.api<DeployKeyJson[]>("GET", "/deploy_keys?per_page=1&page=2", {
      token: w.admin.token,
    });
    assert.equal(res.body.length, 1);
    assert.equal(res.body[0]!.id, w.deployKeyPrivate.id);
    assert.equal(res.headers.get("x-total"), "2");
    assert.equal(res.headers.get("x-prev-page"), "1");
    assert.equal(res.headers.get("x-next-page"), "");
  });
});

describe("POST /deploy_keys", () => {
  let w: World;
  before(async () => {
    w = await world();
  });
  after(() => w.t.stop());

  it("is for admins: a regular user gets 403, an admin 201", async () => {
    const denied = await w.t.api("POST", "/deploy_keys", {
      token: w.user.token,
      body: { title: "new", key: freshEd25519() },
    });
    assert.equal(denied.status, 403);
    assert.deepEqual(denied.body, { message: "403 Forbidden" });
    const created = await w.t.api("POST", "/deploy_keys", {
      token: w.admin.token,
      body: { title: "new", key: freshEd25519() },
    });
    assert.equal(created.status, 201);
  });

  it("answers 401 without authentication", async () => {
    const res = await w.t.api("POST", "/deploy_keys", {
      token: null,
      body: { title: "new", key: freshEd25519() },
    });
    assert.equal(res.status, 401);
    assert.deepEqual(res.body, { message: "401 Unauthorized" });
  });

  it("creates one public instance key (GitLab also sets the organization; there is none here)", async () => {
    const before = await deployKeyCount(w);
    const key = freshEd25519("ci@example.com");
    const res = await w.t.api<DeployKeyJson>("POST", "/deploy_keys", {
      token: w.admin.token,
      body: { title: "Instance key", key },
    });
    assert.equal(res.status, 201);
    assert.equal(await deployKeyCount(w), before + 1);
    assert.equal(res.body.title, "Instance key");
    assert.equal(res.body.key, key);
    assert.deepEqual(Object.keys(res.body).sort(), ENTITY_FIELDS);
    const publicKeys = await w.t.api<DeployKeyJson[]>("GET", "/deploy_keys?public=true", {
      token: w.admin.token,
    });
    assert.ok(publicKeys.body.some((k) => k.id === res.body.id));
  });

  it("requires a key: 400 key is missing", async () => {
    const res = await w.t.api("POST", "/deploy_keys", {
      token: w.admin.token,
      body: { title: "invalid key" },
    });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { error: "key is missing" });
  });

  it("requires a title: 400 title is missing", async () => {
    const res = await w.t.api("POST", "/deploy_keys", {
      token: w.admin.token,
      body: { key: "some key" },
    });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { error: "title is missing" });
  });

  it("refuses an existing key (no deploy_key. prefix on this endpoint)", async () => {
    const res = await w.t.api("POST", "/deploy_keys", {
      token: w.admin.token,
      body: { title: w.deployKey.title, key: w.deployKey.key },
    });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { message: { fingerprint_sha256: ["has already been taken"] } });
  });

  it("accepts expires_at and echoes it back", async () => {
    const expiresAt = new Date(Date.now() + 2 * 86_400_000);
    expiresAt.setUTCMilliseconds(0);
    const res = await w.t.api<DeployKeyJson>("POST", "/deploy_keys", {
      token: w.admin.token,
      body: { title: "expiring", key: freshEd25519(), expires_at: expiresAt.toISOString() },
    });
    assert.equal(res.status, 201);
    assert.equal(res.body.expires_at, expiresAt.toISOString());
  });
});

describe("GET /projects/:id/deploy_keys", () => {
  let w: World;
  before(async () => {
    w = await world();
  });
  after(() => w.t.stop());

  it("hides the project from a non-member (404); an admin gets 200", async () => {
    const res = await w.t.api("GET", `/projects/${w.project.id}/deploy_keys`, {
      token: w.user.token,
    });
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { message: "404 Project Not Found" });
    const ok = await w.t.api("GET", `/projects/${w.project.id}/deploy_keys`, {
      token: w.admin.token,
    });
    assert.equal(ok.status, 200);
  });

  it("lists the project's keys with can_push and without the projects_with_* lists", async () => {
    const res = await w.t.api<DeployKeyJson[]>("GET", `/projects/${w.project.id}/deploy_keys`, {
      token: w.admin.token,
    });
    assert.equal(res.status, 200);
    assertPaginationHeaders(res);
    assert.ok(Array.isArray(res.body));
    assert.equal(res.body[0]!.title, w.deployKey.title);
    assert.equal(res.body[0]!.can_push, false);
    assert.ok(!("projects_with_write_access" in res.body[0]!));
    assert.ok(!("projects_with_readonly_access" in res.body[0]!));
    assert.deepEqual(Object.keys(res.body[0]!).sort(), ["can_push", ...ENTITY_FIELDS].sort());
  });

  it("answers 401 without authentication", async () => {
    const res = await w.t.api("GET", `/projects/${w.project.id}/deploy_keys`, { token: null });
    assert.equal(res.status, 401);
  });
});

describe("GET /projects/:id/deploy_keys/:key_id", () => {
  let w: World;
  before(async () => {
    w = await world();
  });
  after(() => w.t.stop());

  it("hides the project from a non-member (404); an admin gets 200", async () => {
    const path = `/projects/${w.project.id}/deploy_keys/${w.deployKey.id}`;
    const res = await w.t.api("GET", path, { token: w.user.token });
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { message: "404 Project Not Found" });
    assert.equal((await w.t.api("GET", path, { token: w.admin.token })).status, 200);
  });

  it("returns a single key without the projects_with_* lists", async () => {
    const res = await w.t.api<DeployKeyJson>(
      "GET",
      `/projects/${w.project.id}/deploy_keys/${w.deployKey.id}`,
      { token: w.admin.token },
    );
    assert.equal(res.status, 200);
    assert.equal(res.body.title, w.deployKey.title);
    assert.equal(res.body.can_push, false);
    assert.ok(!("projects_with_write_access" in res.body));
    assert.ok(!("projects_with_readonly_access" in res.body));
  });

  it("answers 404 Not found for a key that is not there", async () => {
    const res = await w.t.api("GET", `/projects/${w.project.id}/deploy_keys/404`, {
      token: w.admin.token,
    });
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { message: "404 Not found" });
  });

  it("answers 404 Not found for a key that exists but is not attached to this project", async () => {
    const res = await w.t.api("GET", `/projects/${w.project2.id}/deploy_keys/${w.deployKey.id}`, {
      token: w.admin.token,
    });
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { message: "404 Not found" });
  });

  it("shows an expired key with its expires_at", async () => {
    const key = await addKey(w, w.project);
    const expiresAt = "2020-01-01T00:00:00.000Z";
    await w.t.forge.ctx.db
      .updateTable("keys")
      .set({ expires_at: expiresAt })
      .where("id", "=", key.id)
      .execute();
    const shown = await showKey(w, w.project, key.id);
    assert.equal(shown.expires_at, expiresAt);
  });
});

describe("POST /projects/:id/deploy_keys", () => {
  let w: World;
  let keys: OpenSshKeys;
  before(async () => {
    [w, keys] = await Promise.all([world(), generateOpenSshKeys()]);
  });
  after(() => w.t.stop());

  const post = (as: TestUser, project: TestProject, body: unknown) =>
    w.t.api<DeployKeyJson>("POST", `/projects/${project.id}/deploy_keys`, {
      token: as.token,
      body,
    });

  it("hides the project from a non-member (404)", async () => {
    const res = await post(w.user, w.project, { title: "t", key: freshEd25519() });
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { message: "404 Project Not Found" });
  });

  it("requires a key: 400 key is missing", async () => {
    const res = await post(w.admin, w.project, { title: "invalid key" });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { error: "key is missing" });
  });

  it("requires a title: 400 title is missing", async () => {
    const res = await post(w.admin, w.project, { key: "some key" });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { error: "title is missing" });
  });

  it("creates a new key, stored as given, owned by the admin who added it", async () => {
    const before = await projectKeyCount(w, w.project);
    const res = await post(w.admin, w.project, { title: "new key", key: keys.rsa1024.line });
    assert.equal(res.status, 201);
    assert.equal(await projectKeyCount(w, w.project), before + 1);
    assert.equal(res.body.key, keys.rsa1024.line);
    assert.equal(res.body.title, "new key");
    assert.equal(res.body.can_push, false);
    assert.equal(res.body.fingerprint_sha256, keys.rsa1024.sha256);
    assert.equal(res.body.fingerprint, keys.rsa1024.md5);
    const row = await w.t.forge.ctx.db
      .selectFrom("keys")
      .selectAll()
      .where("id", "=", res.body.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.user_id, w.admin.id);
    assert.equal(row.public, 0);
    assert.equal(row.bits, 1024);
  });

  it("returns a key already in the project unchanged (201), ignoring title and can_push", async () => {
    const before = await projectKeyCount(w, w.project);
    const res = await post(w.admin, w.project, {
      key: w.deployKey.key,
      title: "other title",
      can_push: true,
    });
    assert.equal(res.status, 201);
    assert.equal(await projectKeyCount(w, w.project), before);
    assert.equal(res.body.id, w.deployKey.id);
    assert.equal(res.body.title, w.deployKey.title);
    assert.equal(res.body.can_push, false);
  });

  it("joins an accessible key to another project (201) with the requested can_push", async () => {
    const before = await projectKeyCount(w, w.project2);
    const res = await post(w.admin, w.project2, {
      key: w.deployKey.key,
      title: "other title",
      can_push: true,
    });
    assert.equal(res.status, 201);
    assert.equal(await projectKeyCount(w, w.project2), before + 1);
    assert.equal(res.body.id, w.deployKey.id);
    assert.equal(res.body.title, w.deployKey.title);
    assert.equal(res.body.can_push, true);
    // can_push is per project: the key stays read-only in `project`.
    assert.equal((await showKey(w, w.project, w.deployKey.id)).can_push, false);
  });

  it("creates a key with can_push", async () => {
    const res = await post(w.admin, w.project, {
      title: "pusher",
      key: freshEd25519(),
      can_push: true,
    });
    assert.equal(res.status, 201);
    assert.equal(res.body.can_push, true);
  });

  it("accepts can_push as a form field string", async () => {
    const key = freshEd25519("form");
    const res = await w.t.api<DeployKeyJson>("POST", `/projects/${w.project.id}/deploy_keys`, {
      token: w.admin.token,
      body: new URLSearchParams({ title: "form key", key, can_push: "true" }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.can_push, true);
    assert.equal(res.body.key, key);
  });

  it("accepts expires_at and echoes it back", async () => {
    const expiresAt = new Date(Date.now() + 2 * 86_400_000);
    expiresAt.setUTCMilliseconds(0);
    const res = await post(w.admin, w.project, {
      title: "expiring",
      key: freshEd25519(),
      expires_at: expiresAt.toISOString(),
    });
    assert.equal(res.status, 201);
    assert.equal(res.body.expires_at, expiresAt.toISOString());
  });

  it("accepts RSA, ECDSA 256/384/521, Ed25519 and security keys, with OpenSSH's fingerprints", async () => {
    for (const k of [keys.rsa2048, keys.ecdsa256, keys.ecdsa384, keys.ecdsa521, keys.ed25519]) {
      const res = await post(w.maintainer, w.project, { title: "typed", key: k.line });
      assert.equal(res.status, 201, `${k.line.split(" ")[0]}: ${res.text}`);
      assert.equal(res.body.key, k.line);
      assert.equal(res.body.fingerprint_sha256, k.sha256);
      assert.equal(res.body.fingerprint, k.md5);
    }
    for (const line of [skEd25519(), skEcdsa()]) {
      const res = await post(w.maintainer, w.project, { title: "security key", key: line });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.key, line);
    }
  });

  it("stores the sanitized key: type, base64 and only the first comment token", async () => {
    const line = freshEd25519("first second third");
    const res = await post(w.admin, w.project, { title: "comment", key: `  ${line}\n` });
    assert.equal(res.status, 201);
    assert.equal(res.body.key, line.split(" ").slice(0, 3).join(" "));
  });

  it("refuses a DSA key: deploy_key.key type is forbidden", async () => {
    const res = await post(w.admin, w.project, { title: "dsa", key: keys.dsa });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { message: { "deploy_key.key": [KeyMessages.forbiddenType] } });
    const crafted = await post(w.admin, w.project, { title: "dsa", key: craftedDsa() });
    assert.deepEqual(crafted.body, { message: { "deploy_key.key": [KeyMessages.forbiddenType] } });
  });

  it("refuses a key whose body does not decode, with GitLab's nested messages", async () => {
    const res = await post(w.admin, w.project, { title: "broken", key: "ssh-rsa AAAAB3NzaC1yc2E" });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, {
      message: {
        "deploy_key.key": [
          "type is forbidden. Must be RSA, ECDSA, ED25519, ECDSA_SK, or ED25519_SK",
        ],
        "deploy_key.fingerprint_sha256": ["cannot be generated"],
      },
    });
  });

  it("refuses text that is not a key: is invalid, type is forbidden, cannot be generated", async () => {
    const res = await post(w.admin, w.project, { title: "not a key", key: "some key" });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, {
      message: {
        "deploy_key.key": [KeyMessages.invalid, KeyMessages.forbiddenType],
        "deploy_key.fingerprint_sha256": [KeyMessages.cannotBeGenerated],
      },
    });
  });

  it("refuses an empty key and an empty title", async () => {
    const res = await post(w.admin, w.project, { title: " ", key: "" });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, {
      message: {
        "deploy_key.title": [KeyMessages.blank],
        "deploy_key.key": [KeyMessages.blank, KeyMessages.invalid, KeyMessages.forbiddenType],
        "deploy_key.fingerprint_sha256": [KeyMessages.cannotBeGenerated],
      },
    });
  });

  it("refuses a key whose text names another type than its blob", async () => {
    const [, base64] = keys.ed25519.line.split(" ");
    const res = await post(w.admin, w.project, { title: "liar", key: `ssh-rsa ${base64}` });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, {
      message: {
        "deploy_key.key": [KeyMessages.forbiddenType],
        "deploy_key.fingerprint_sha256": [KeyMessages.cannotBeGenerated],
      },
    });
  });

  it("refuses a key written with authorized_keys options (GitLab's format check is anchored)", async () => {
    const res = await post(w.admin, w.project, {
      title: "options",
      key: `from="10.0.0.1",no-pty ${freshEd25519()}`,
    });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { message: { "deploy_key.key": [KeyMessages.invalid] } });
  });

  it("limits the title to 255 and the key to 5000 characters", async () => {
    const long = await post(w.admin, w.project, { title: "é".repeat(256), key: freshEd25519() });
    assert.equal(long.status, 400);
    assert.deepEqual(long.body, {
      message: { "deploy_key.title": ["is too long (maximum is 255 characters)"] },
    });
    const ok = await post(w.admin, w.project, { title: "é".repeat(255), key: freshEd25519() });
    assert.equal(ok.status, 201);
    const huge = await post(w.admin, w.project, {
      title: "huge",
      key: `ssh-ed25519 ${"A".repeat(5000)}`,
    });
    assert.equal(huge.status, 400);
    const message = (huge.body as unknown as { message: Record<string, string[]> }).message;
    assert.ok(message["deploy_key.key"]!.includes("is too long (maximum is 5000 characters)"));
  });

  it("refuses an expires_at in the past (has expired) and one that is not a date", async () => {
    const past = await post(w.admin, w.project, {
      title: "old",
      key: freshEd25519(),
      expires_at: "2001-01-01T00:00:00Z",
    });
    assert.equal(past.status, 400);
    assert.deepEqual(past.body, { message: { "deploy_key.key": [KeyMessages.expired] } });
    const junk = await post(w.admin, w.project, {
      title: "junk",
      key: freshEd25519(),
      expires_at: "tomorrow",
    });
    assert.equal(junk.status, 400);
    assert.deepEqual(junk.body, { error: "expires_at is invalid" });
  });

  it("answers 401 without authentication, even with bad parameters", async () => {
    const res = await w.t.api("POST", `/projects/${w.project.id}/deploy_keys`, {
      token: null,
      body: {},
    });
    assert.equal(res.status, 401);
    assert.deepEqual(res.body, { message: "401 Unauthorized" });
  });

  it("answers 404 Project Not Found for an unknown project", async () => {
    const res = await post(w.admin, { ...w.project, id: 999999 }, { title: "t", key: "k" });
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { message: "404 Project Not Found" });
  });
});

describe("PUT /projects/:id/deploy_keys/:key_id", () => {
  let w: World;
  before(async () => {
    w = await world();
    await addMember(w.t, w.project2, w.maintainer, 40);
  });
  after(() => w.t.stop());

  const put = (as: TestUser, project: TestProject, keyId: number, body?: unknown) =>
    w.t.api<DeployKeyJson>("PUT", `/projects/${project.id}/deploy_keys/${keyId}`, {
      token: as.token,
      body,
    });

  it("hides the project from a non-member (404)", async () => {
    const res = await put(w.user, w.project, w.deployKey.id, {
      title: "new title",
      can_push: true,
    });
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { message: "404 Project Not Found" });
  });

  it("does not let a non-member change the title", async () => {
    const key = await addKey(w, w.project, { title: "keep me" });
    const res = await put(w.user, w.project, key.id, { title: "new title" });
    assert.equal(res.status, 404);
    assert.equal((await showKey(w, w.project, key.id)).title, "keep me");
  });

  it("lets an admin retitle a public key and set its can_push", async () => {
    const titled = await put(w.admin, w.project, w.deployKey.id, { title: "new title" });
    assert.equal(titled.status, 200);
    assert.equal(titled.body.title, "new title");
    assert.equal(titled.body.can_push, false);
    const pushed = await put(w.admin, w.project, w.deployKey.id, { can_push: true });
    assert.equal(pushed.status, 200);
    assert.equal(pushed.body.can_push, true);
    assert.equal(pushed.body.title, "new title");
  });

  it("lets an admin retitle a private key and set its can_push; an empty title is 400", async () => {
    const another = await addKey(w, w.project);
    const titled = await put(w.admin, w.project, another.id, { title: "new title" });
    assert.equal(titled.status, 200);
    assert.equal(titled.body.title, "new title");
    const pushed = await put(w.admin, w.project, another.id, { can_push: true });
    assert.equal(pushed.status, 200);
    assert.equal(pushed.body.can_push, true);
    const blank = await put(w.admin, w.project, another.id, { title: "" });
    assert.equal(blank.status, 400);
    assert.deepEqual(blank.body, { message: { "deploy_key.title": ["can't be blank"] } });
    assert.equal((await showKey(w, w.project, another.id)).title, "new title");
  });

  it("lets an admin who is also a Maintainer update title and can_push (admin mode always on)", async () => {
    const project = await w.t.createProject(w.creator, "admin-maintained");
    await addMember(w.t, project, w.admin, 40);
    const key = await addKey(w, project);
    const titled = await put(w.admin, project, key.id, { title: "new title" });
    assert.equal(titled.status, 200);
    assert.equal(titled.body.title, "new title");
    const pushed = await put(w.admin, project, key.id, { can_push: true });
    assert.equal(pushed.status, 200);
    assert.equal(pushed.body.can_push, true);
  });

  it("does not let a Maintainer retitle a public key (200, title unchanged), but sets can_push", async () => {
    const key = await w.t.api<DeployKeyJson>("POST", "/deploy_keys", {
      token: w.admin.token,
      body: { title: "instance", key: freshEd25519() },
    });
    await enable(w, w.project, key.body.id);
    const titled = await put(w.maintainer, w.project, key.body.id, { title: "new title" });
    assert.equal(titled.status, 200);
    assert.equal(titled.body.title, "instance");
    const pushed = await put(w.maintainer, w.project, key.body.id, { can_push: true });
    assert.equal(pushed.status, 200);
    assert.equal(pushed.body.can_push, true);
  });

  it("lets a Maintainer retitle a private key used only by their project", async () => {
    const key = await addKey(w, w.project, {}, w.maintainer);
    const titled = await put(w.maintainer, w.project, key.id, { title: "new title" });
    assert.equal(titled.status, 200);
    assert.equal(titled.body.title, "new title");
    const pushed = await put(w.maintainer, w.project, key.id, { can_push: true });
    assert.equal(pushed.status, 200);
    assert.equal(pushed.body.can_push, true);
  });

  it("does not let a Maintainer retitle a private key shared with another project", async () => {
    const key = await addKey(w, w.project, { title: "shared" }, w.maintainer);
    const joined = await w.t.api("POST", `/projects/${w.project2.id}/deploy_keys`, {
      token: w.maintainer.token,
      body: { title: "ignored", key: key.key },
    });
    assert.equal(joined.status, 201);
    const titled = await put(w.maintainer, w.project, key.id, { title: "new title" });
    assert.equal(titled.status, 200);
    assert.equal(titled.body.title, "shared");
    const pushed = await put(w.maintainer, w.project, key.id, { can_push: true });
    assert.equal(pushed.status, 200);
    assert.equal(pushed.body.can_push, true);
    assert.equal((await showKey(w, w.project2, key.id)).can_push, false);
  });

  it("needs title or can_push: 400 at least one parameter must be provided", async () => {
    const expected = {
      error: "title, can_push are missing, at least one parameter must be provided",
    };
    const empty = await put(w.admin, w.project, w.deployKey.id, {});
    assert.equal(empty.status, 400);
    assert.deepEqual(empty.body, expected);
    const noBody = await put(w.admin, w.project, w.deployKey.id);
    assert.equal(noBody.status, 400);
    assert.deepEqual(noBody.body, expected);
  });

  it("answers 404 Not found for a key not attached to the project", async () => {
    const res = await put(w.admin, w.project2, w.deployKey.id, { can_push: true });
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { message: "404 Not found" });
  });

  it("answers 400 key_id is invalid for a non-integer key id", async () => {
    const res = await w.t.api("PUT", `/projects/${w.project.id}/deploy_keys/abc`, {
      token: w.admin.token,
      body: { title: "x" },
    });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { error: "key_id is invalid" });
  });
});

describe("DELETE /projects/:id/deploy_keys/:key_id", () => {
  let w: World;
  before(async () => {
    w = await world();
  });
  after(() => w.t.stop());

  const del = (as: TestUser, project: TestProject, keyId: number, headers = {}) =>
    w.t.api("DELETE", `/projects/${project.id}/deploy_keys/${keyId}`, {
      token: as.token,
      headers,
    });

  it("hides the project from a non-member (404); an admin gets 204", async () => {
    const key = await addKey(w, w.project);
    const denied = await del(w.user, w.project, key.id);
    assert.equal(denied.status, 404);
    assert.deepEqual(denied.body, { message: "404 Project Not Found" });
    const ok = await del(w.admin, w.project, key.id);
    assert.equal(ok.status, 204);
    assert.equal(ok.text, "");
  });

  it("removes the key from the project", async () => {
    const key = await addKey(w, w.project);
    const before = await projectKeyCount(w, w.project);
    assert.equal((await del(w.admin, w.project, key.id)).status, 204);
    assert.equal(await projectKeyCount(w, w.project), before - 1);
  });

  it("never deletes a public key from the system", async () => {
    const key = await w.t.api<DeployKeyJson>("POST", "/deploy_keys", {
      token: w.admin.token,
      body: { title: "instance", key: freshEd25519() },
    });
    await enable(w, w.project, key.body.id);
    const before = await deployKeyCount(w);
    assert.equal((await del(w.admin, w.project, key.body.id)).status, 204);
    assert.equal(await deployKeyCount(w), before);
  });

  it("deletes a private key used only by this project from the system", async () => {
    const key = await addKey(w, w.project);
    const before = await deployKeyCount(w);
    assert.equal((await del(w.admin, w.project, key.id)).status, 204);
    assert.equal(await deployKeyCount(w), before - 1);
    // Gone for good: the same key can now be created afresh.
    const again = await addKey(w, w.project2, { key: key.key });
    assert.notEqual(again.id, key.id);
  });

  it("keeps a private key still used by another project", async () => {
    const key = await addKey(w, w.project);
    await enable(w, w.project2, key.id);
    const before = await deployKeyCount(w);
    assert.equal((await del(w.admin, w.project, key.id)).status, 204);
    assert.equal(await deployKeyCount(w), before);
    assert.equal((await showKey(w, w.project2, key.id)).id, key.id);
  });

  it("answers 404 Deploy key Not Found for an unknown key and for one not attached here", async () => {
    const unknown = await del(w.admin, w.project, 404);
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, { message: "404 Deploy key Not Found" });
    const elsewhere = await del(w.admin, w.project2, w.deployKey.id);
    assert.equal(elsewhere.status, 404);
    assert.deepEqual(elsewhere.body, { message: "404 Deploy key Not Found" });
  });

  it("answers 412 when If-Unmodified-Since is older than the key's last change", async () => {
    const key = await addKey(w, w.project);
    const old = await del(w.admin, w.project, key.id, {
      "if-unmodified-since": "1990-01-12T00:00:48-0600",
    });
    assert.equal(old.status, 412);
    assert.equal(old.text, JSON.stringify({ message: "412 Precondition Failed" }));
    assert.equal((await showKey(w, w.project, key.id)).id, key.id);
  });

  it("answers 204 with an empty body when If-Unmodified-Since is now", async () => {
    const key = await addKey(w, w.project);
    const res = await del(w.admin, w.project, key.id, {
      "if-unmodified-since": new Date().toUTCString(),
    });
    assert.equal(res.status, 204);
    assert.equal(res.text, "");
  });
});

describe("POST /projects/:id/deploy_keys/:key_id/enable", () => {
  let w: World;
  before(async () => {
    w = await world();
  });
  after(() => w.t.stop());

  const enableAs = (as: TestUser, project: TestProject, keyId: number) =>
    w.t.api<DeployKeyJson>("POST", `/projects/${project.id}/deploy_keys/${keyId}/enable`, {
      token: as.token,
    });

  it("hides the project from a non-member (404)", async () => {
    const res = await enableAs(w.user, w.project2, w.deployKey.id);
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { message: "404 Project Not Found" });
  });

  it("lets an admin enable a public key on another project; the entity has no can_push", async () => {
    assert.equal(await projectKeyCount(w, w.project2), 0);
    const res = await enableAs(w.admin, w.project2, w.deployKey.id);
    assert.equal(res.status, 201);
    assert.equal(await projectKeyCount(w, w.project2), 1);
    assert.equal(res.body.id, w.deployKey.id);
    assert.deepEqual(Object.keys(res.body).sort(), ENTITY_FIELDS);
    assert.equal((await showKey(w, w.project2, w.deployKey.id)).can_push, false);
  });

  it("is idempotent: enabling twice answers 201 twice and keeps one attachment", async () => {
    const project = await w.t.createProject(w.creator, "twice");
    assert.equal((await enableAs(w.admin, project, w.deployKey.id)).status, 201);
    assert.equal((await enableAs(w.admin, project, w.deployKey.id)).status, 201);
    assert.equal(await projectKeyCount(w, project), 1);
  });

  it("lets a Maintainer enable a public key and keys of their projects, not others' keys", async () => {
    const mine = await w.t.createProject(w.maintainer, "mine");
    assert.equal((await enableAs(w.maintainer, mine, w.deployKey.id)).status, 201);
    const fromProject = await addKey(w, w.project);
    assert.equal((await enableAs(w.maintainer, mine, fromProject.id)).status, 201);
    const hidden = await addKey(w, w.project3);
    const res = await enableAs(w.maintainer, mine, hidden.id);
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { message: "404 Deploy key Not Found" });
  });

  it("answers 404 Deploy key Not Found for an unknown key", async () => {
    const res = await enableAs(w.admin, w.project, 999999);
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { message: "404 Deploy key Not Found" });
  });
});

describe("GET /users/:id/project_deploy_keys", () => {
  let w: World;
  let developer: TestUser;
  let other: TestUser;
  before(async () => {
    w = await world();
    developer = await w.t.createUser("developer");
    other = await w.t.createUser("other");
    await addMember(w.t, w.project, developer, 30);
  });
  after(() => w.t.stop());

  const list = (as: TestUser, target: string | number) =>
    w.t.api<DeployKeyJson[]>("GET", `/users/${target}/project_deploy_keys`, { token: as.token });

  it("answers 404 User Not Found for an unknown user", async () => {
    const res = await list(w.maintainer, 999999);
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { message: "404 User Not Found" });
  });

  it("lists the caller's own projects' deploy keys, paginated", async () => {
    const res = await list(w.maintainer, w.maintainer.id);
    assert.equal(res.status, 200);
    assertPaginationHeaders(res);
    assert.equal(res.body[0]!.title, w.deployKey.title);
    assert.deepEqual(Object.keys(res.body[0]!).sort(), ENTITY_FIELDS);
    const byName = await list(w.maintainer, "maintainer");
    assert.deepEqual(
      byName.body.map((k) => k.id),
      res.body.map((k) => k.id),
    );
  });

  it("refuses a Developer asking for a Maintainer's keys: no common authorized project", async () => {
    const res = await list(developer, w.maintainer.id);
    assert.equal(res.status, 403);
    assert.deepEqual(res.body, { message: "403 Forbidden - No common authorized project found" });
  });

  it("refuses when the two users have no common project", async () => {
    const res = await list(other, w.maintainer.id);
    assert.equal(res.status, 403);
    assert.deepEqual(res.body, { message: "403 Forbidden - No common authorized project found" });
  });

  it("lists only the keys of the projects both users maintain", async () => {
    const shared = await w.t.createProject(w.creator, "shared");
    const onlyTheirs = await w.t.createProject(w.creator, "only-theirs");
    await addMember(w.t, shared, w.maintainer, 40);
    await addMember(w.t, shared, other, 40);
    await addMember(w.t, onlyTheirs, w.maintainer, 40);
    const sharedKey = await addKey(w, shared, { title: "shared key" });
    await addKey(w, onlyTheirs, { title: "not shared" });
    const res = await list(other, w.maintainer.id);
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.map((k) => k.id),
      [sharedKey.id],
    );
  });
});

describe("deploy keys: extra cases derived from GitLab's code", () => {
  let w: World;
  let developer: TestUser;
  before(async () => {
    w = await world();
    developer = await w.t.createUser("developer");
    await addMember(w.t, w.project, developer, 30);
  });
  after(() => w.t.stop());

  it("lets a Maintainer member list (200), create (201) and delete (204)", async () => {
    const base = `/projects/${w.project.id}/deploy_keys`;
    const listed = await w.t.api("GET", base, { token: w.maintainer.token });
    assert.equal(listed.status, 200);
    const created = await w.t.api<DeployKeyJson>("POST", base, {
      token: w.maintainer.token,
      body: { title: "maintainer key", key: freshEd25519() },
    });
    assert.equal(created.status, 201);
    const deleted = await w.t.api("DELETE", `${base}/${created.body.id}`, {
      token: w.maintainer.token,
    });
    assert.equal(deleted.status, 204);
  });

  it("gives a Developer member 403 Forbidden on every endpoint (the project is visible)", async () => {
    const base = `/projects/${w.project.id}/deploy_keys`;
    const calls: Array<[string, string, unknown]> = [
      ["GET", base, undefined],
      ["POST", base, { title: "t", key: freshEd25519() }],
      ["GET", `${base}/${w.deployKey.id}`, undefined],
      ["PUT", `${base}/${w.deployKey.id}`, { can_push: true }],
      ["DELETE", `${base}/${w.deployKey.id}`, undefined],
      ["POST", `${base}/${w.deployKey.id}/enable`, undefined],
    ];
    for (const [method, path, body] of calls) {
      const res = await w.t.api(method, path, { token: developer.token, body });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.deepEqual(res.body, { message: "403 Forbidden" });
    }
  });

  it("refuses a key that belongs to a private project the user cannot access", async () => {
    const hidden = await addKey(w, w.project3);
    const mine = await w.t.createProject(w.maintainer, "own-project");
    const res = await w.t.api("POST", `/projects/${mine.id}/deploy_keys`, {
      token: w.maintainer.token,
      body: { title: "steal", key: hidden.key },
    });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, {
      message: { "deploy_key.fingerprint_sha256": ["has already been taken"] },
    });
  });

  it("refuses a key that is some user's personal SSH key", async () => {
    const personal = freshEd25519();
    const added = await w.t.api("POST", "/user/keys", {
      token: w.user.token,
      body: { title: "laptop", key: personal },
    });
    assert.equal(added.status, 201);
    const res = await w.t.api("POST", `/projects/${w.project.id}/deploy_keys`, {
      token: w.maintainer.token,
      body: { title: "deploy", key: personal },
    });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, {
      message: { "deploy_key.fingerprint_sha256": ["has already been taken"] },
    });
  });

  it("matches an existing key by fingerprint, whatever its comment (GitLab compares raw text)", async () => {
    const line = freshEd25519("original");
    const created = await addKey(w, w.project, { key: line, title: "original" }, w.maintainer);
    const [type, base64] = line.split(" ");
    const sameProject = await w.t.api<DeployKeyJson>(
      "POST",
      `/projects/${w.project.id}/deploy_keys`,
      { token: w.maintainer.token, body: { title: "again", key: `${type} ${base64} a b c` } },
    );
    assert.equal(sameProject.status, 201);
    assert.equal(sameProject.body.id, created.id);
    assert.equal(sameProject.body.key, line);
    const mine = await w.t.createProject(w.maintainer, "joined-by-fingerprint");
    const joined = await w.t.api<DeployKeyJson>("POST", `/projects/${mine.id}/deploy_keys`, {
      token: w.maintainer.token,
      body: { title: "ignored", key: `${type} ${base64}`, can_push: true },
    });
    assert.equal(joined.status, 201);
    assert.equal(joined.body.id, created.id);
    assert.equal(joined.body.title, "original");
    assert.equal(joined.body.can_push, true);
  });

  it("does not let an admin join a private key by posting it, but lets them enable it", async () => {
    // GitLab's POST looks the key up in `accessible_deploy_keys` even for admins, while
    // `EnableDeployKeyService` lets an admin enable any key.
    const hidden = await addKey(w, w.project3);
    const posted = await w.t.api("POST", `/projects/${w.project2.id}/deploy_keys`, {
      token: w.admin.token,
      body: { title: "join", key: hidden.key },
    });
    assert.equal(posted.status, 400);
    assert.deepEqual(posted.body, {
      message: { "deploy_key.fingerprint_sha256": ["has already been taken"] },
    });
    await enable(w, w.project2, hidden.id);
    assert.equal((await showKey(w, w.project2, hidden.id)).id, hidden.id);
  });

  it("answers 400 key_id is invalid for a non-integer key id", async () => {
    for (const [method, suffix] of [
      ["GET", "abc"],
      ["DELETE", "abc"],
      ["POST", "abc/enable"],
    ] as const) {
      const res = await w.t.api(method, `/projects/${w.project.id}/deploy_keys/${suffix}`, {
        token: w.admin.token,
      });
      assert.equal(res.status, 400, `${method} ${suffix}`);
      assert.deepEqual(res.body, { error: "key_id is invalid" });
    }
  });

  it("finds the project by its URL-encoded path", async () => {
    const res = await w.t.api<DeployKeyJson[]>("GET", `/projects/creator%2Fproject/deploy_keys`, {
      token: w.maintainer.token,
    });
    assert.equal(res.status, 200);
    assert.ok(res.body.some((k) => k.id === w.deployKey.id));
  });
});
