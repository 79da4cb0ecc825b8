import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createWorkingCopy } from "../../../../test/helpers/e2e.ts";
import {
  startTestForge,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../../test/helpers/forge.ts";

interface BranchBody {
  name: string;
  default: boolean;
  commit: { id: string; title: string };
}

describe("repository branches API and the token's own details", () => {
  let t: TestForge;
  let alice: TestUser;
  let bob: TestUser;
  let project: TestProject;
  let head = "";

  before(async () => {
    t = await startTestForge();
    alice = await t.createUser("alice");
    bob = await t.createUser("bob");
    project = await t.createProject(alice, "pages");
    const work = await createWorkingCopy(t, project, alice.token);
    try {
      head = await work.commit({ "index.html": "hi\n" }, "first page");
      await work.push("main");
      await work.push("main", "feature/x");
    } finally {
      await work.cleanup();
    }
  });
  after(() => t.stop());

  it("shows a branch by name (slashes URL-encoded), with its head commit", async () => {
    const main = await t.api<BranchBody>(
      "GET",
      `/projects/${project.id}/repository/branches/main`,
      {
        token: alice.token,
      },
    );
    assert.equal(main.status, 200, main.text);
    assert.equal(main.body.name, "main");
    assert.equal(main.body.default, true);
    assert.equal(main.body.commit.id, head);
    assert.equal(main.body.commit.title, "first page");
    const feature = await t.api<BranchBody>(
      "GET",
      `/projects/alice%2Fpages/repository/branches/feature%2Fx`,
      { token: alice.token },
    );
    assert.equal(feature.status, 200, feature.text);
    assert.equal(feature.body.default, false);
  });

  it("answers GitLab's 404s: a missing branch, and a project the caller cannot see", async () => {
    const missing = await t.api("GET", `/projects/${project.id}/repository/branches/nope`, {
      token: alice.token,
    });
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { message: "404 Branch Not Found" });
    const hidden = await t.api("GET", `/projects/${project.id}/repository/branches/main`, {
      token: bob.token,
    });
    assert.equal(hidden.status, 404);
    assert.deepEqual(hidden.body, { message: "404 Project Not Found" });
  });

  it("lists branches, with a search", async () => {
    const all = await t.api<BranchBody[]>("GET", `/projects/${project.id}/repository/branches`, {
      token: alice.token,
    });
    assert.deepEqual(
      all.body.map((b) => b.name),
      ["feature/x", "main"],
    );
    const found = await t.api<BranchBody[]>(
      "GET",
      `/projects/${project.id}/repository/branches?search=feat`,
      { token: alice.token },
    );
    assert.deepEqual(
      found.body.map((b) => b.name),
      ["feature/x"],
    );
  });

  it("GET /personal_access_tokens/self shows the token's scopes, never the token", async () => {
    const self = await t.api<{ scopes: string[]; user_id: number; active: boolean }>(
      "GET",
      "/personal_access_tokens/self",
      { token: alice.token },
    );
    assert.equal(self.status, 200, self.text);
    assert.deepEqual(self.body.scopes, ["api"]);
    assert.equal(self.body.user_id, alice.id);
    assert.equal(self.body.active, true);
    assert.ok(!self.text.includes(alice.token));
    const anonymous = await t.api("GET", "/personal_access_tokens/self", { token: null });
    assert.equal(anonymous.status, 401);
  });
});
