import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createWorkingCopy } from "../../../../test/helpers/e2e.ts";
import {
  startTestForge,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../../test/helpers/forge.ts";

/** GitLab's `GET /projects/:id/repository/files/:file_path/raw`, with its refusals. */
describe("repository files API: a file's raw contents", () => {
  let t: TestForge;
  let alice: TestUser;
  let bob: TestUser;
  let project: TestProject;
  let first = "";
  const raw = (file: string, query = "", token: string | null = alice.token) =>
    t.api("GET", `/projects/${project.id}/repository/files/${file}/raw${query}`, { token });

  before(async () => {
    t = await startTestForge();
    alice = await t.createUser("alice");
    bob = await t.createUser("bob");
    project = await t.createProject(alice, "site");
    const work = await createWorkingCopy(t, project, alice.token);
    try {
      first = await work.commit({ "package.json": '{"name":"site"}\n', "src/a.txt": "one\n" });
      await work.commit({ "src/a.txt": "two\n" });
      await work.push("main");
    } finally {
      await work.cleanup();
    }
  });
  after(() => t.stop());

  it("answers the bytes as text, at the default branch or a ref; JSON stays text", async () => {
    const pkg = await raw("package.json");
    assert.equal(pkg.status, 200, pkg.text);
    assert.match(pkg.headers.get("content-type") ?? "", /^text\/plain/);
    assert.equal(pkg.text, '{"name":"site"}\n');
    assert.equal((await raw("src%2Fa.txt")).text, "two\n");
    assert.equal((await raw("src%2Fa.txt", `?ref=${first}`)).text, "one\n");
    assert.equal((await raw("src%2Fa.txt", "?ref=main")).text, "two\n");
  });

  it("refuses as GitLab does: a missing file, an unknown ref, a path out, another's project", async () => {
    const missing = await raw("nope.txt");
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { message: "404 File Not Found" });
    const directory = await raw("src");
    assert.deepEqual([directory.status, directory.body], [404, { message: "404 File Not Found" }]);
    const ref = await raw("package.json", "?ref=no-such-branch");
    assert.deepEqual([ref.status, ref.body], [404, { message: "404 Commit Not Found" }]);
    const out = await raw("..%2Fsecret");
    assert.deepEqual(
      [out.status, out.body],
      [400, { error: "file_path should be a valid file path" }],
    );
    for (const token of [bob.token, null]) {
      const hidden = await raw("package.json", "", token);
      assert.deepEqual([hidden.status, hidden.body], [404, { message: "404 Project Not Found" }]);
    }
  });
});
