import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createWorkingCopy, type WorkingCopy } from "../../../../test/helpers/e2e.ts";
import {
  startTestForge,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../../test/helpers/forge.ts";

interface CommitJson {
  id: string;
  short_id: string;
  title: string;
  message: string;
  parent_ids: string[];
  author_name: string;
  committer_email: string;
  stats?: { additions: number; deletions: number; total: number };
  web_url: string;
  project_id: number;
  status: null;
}

describe("GET /projects/:id/repository/commits/:sha", () => {
  let t: TestForge;
  let owner: TestUser;
  let project: TestProject;
  let work: WorkingCopy;
  let first: string;
  let second: string;

  before(async () => {
    t = await startTestForge();
    owner = await t.createUser("owner");
    project = await t.createProject(owner, "site");
    work = await createWorkingCopy(t, project, owner.token);
    first = await work.commit({ "index.html": "one\ntwo\n" }, "First page\n\nWith a body.");
    await work.push("main");
    await work.checkout("feature/x", true);
    second = await work.commit({ "index.html": "one\n", "new.txt": "a\nb\nc\n" }, "Second");
    await work.push("feature/x");
  });
  after(async () => {
    await work.cleanup();
    await t.stop();
  });

  const show = (sha: string, token: string | null = owner.token, query = "") =>
    t.api<CommitJson>("GET", `/projects/${project.id}/repository/commits/${sha}${query}`, {
      token,
    });

  it("shows a commit by full id with GitLab's fields and stats", async () => {
    const res = await show(second);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.id, second);
    assert.equal(res.body.short_id, second.slice(0, 8));
    assert.equal(res.body.title, "Second");
    assert.deepEqual(res.body.parent_ids, [first]);
    assert.equal(res.body.author_name, "Test");
    assert.equal(res.body.committer_email, "test@example.test");
    assert.deepEqual(res.body.stats, { additions: 3, deletions: 1, total: 4 });
    assert.equal(res.body.web_url, `${t.url}/owner/site/-/commit/${second}`);
    assert.equal(res.body.project_id, project.id);
    assert.equal(res.body.status, null);

    const root = await show(first, owner.token, "?stats=false");
    assert.equal(root.body.message, "First page\n\nWith a body.\n");
    assert.equal(root.body.title, "First page");
    assert.deepEqual(root.body.parent_ids, []);
    assert.ok(!("stats" in root.body));
  });

  it("resolves abbreviated ids and branch names (URL-encoded when they hold a slash)", async () => {
    assert.equal((await show(second.slice(0, 7))).body.id, second);
    assert.equal((await show("main")).body.id, first);
    assert.equal((await show("feature%2Fx")).body.id, second);
  });

  it("answers 404 Commit Not Found for what names no commit", async () => {
    for (const sha of ["0".repeat(40), "no-such-branch", "-x", "main..feature", "main~999"]) {
      const res = await show(encodeURIComponent(sha));
      assert.deepEqual(
        [res.status, res.body],
        [404, { message: "404 Commit Not Found" }],
        `${sha}: ${res.text}`,
      );
    }
  });

  it("follows the project's visibility and needs the right to read code", async () => {
    const hidden = await show(first, null);
    assert.deepEqual([hidden.status, hidden.body], [404, { message: "404 Project Not Found" }]);

    const guest = await t.createUser("guest");
    const added = await t.api("POST", `/projects/${project.id}/members`, {
      token: owner.token,
      body: { user_id: guest.id, access_level: 10 },
    });
    assert.equal(added.status, 201, added.text);
    const refused = await show(first, guest.token);
    assert.deepEqual([refused.status, refused.body], [403, { message: "403 Forbidden" }]);

    const open = await t.createProject(owner, "open", "public");
    const copy = await createWorkingCopy(t, open, owner.token);
    try {
      const sha = await copy.commit({ "a.txt": "a" }, "Public");
      await copy.push("main");
      const anonymous = await t.api<CommitJson>(
        "GET",
        `/projects/${open.id}/repository/commits/${sha}`,
        { token: null },
      );
      assert.equal(anonymous.status, 200, anonymous.text);
      assert.equal(anonymous.body.id, sha);
    } finally {
      await copy.cleanup();
    }
  });
});
