import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runChecked } from "../../../lib/run.ts";
import { createWorkingCopy, type WorkingCopy } from "../../../../test/helpers/e2e.ts";
import {
  startTestForge,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../../test/helpers/forge.ts";

interface StatusJson {
  id: number;
  sha: string;
  ref: string;
  status: string;
  name: string;
  target_url: string | null;
  description: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  allow_failure: boolean;
  coverage: number | null;
  pipeline_id: number;
  author: { id: number; username: string };
}

/** GitLab's Entities::CommitStatus keys. */
const STATUS_KEYS = [
  "id",
  "sha",
  "ref",
  "status",
  "name",
  "target_url",
  "description",
  "created_at",
  "started_at",
  "finished_at",
  "allow_failure",
  "coverage",
  "pipeline_id",
  "author",
].sort();

describe("commit statuses API", () => {
  let t: TestForge;
  let owner: TestUser;
  let developer: TestUser;
  let reporter: TestUser;
  let guest: TestUser;
  let outsider: TestUser;
  let project: TestProject;
  let work: WorkingCopy;
  let mainSha: string;
  let branchSha: string;

  const post = (sha: string, body: unknown, token = developer.token) =>
    t.api<StatusJson>("POST", `/projects/${project.id}/statuses/${sha}`, { token, body });
  const list = (sha: string, query = "", token = developer.token) =>
    t.api<StatusJson[]>(
      "GET",
      `/projects/${project.id}/repository/commits/${sha}/statuses${query}`,
      {
        token,
      },
    );

  before(async () => {
    t = await startTestForge();
    owner = await t.createUser("owner");
    developer = await t.createUser("dev");
    reporter = await t.createUser("reporter");
    guest = await t.createUser("guest");
    outsider = await t.createUser("outsider");
    project = await t.createProject(owner, "site");
    for (const [user, level] of [
      [developer, 30],
      [reporter, 20],
      [guest, 10],
    ] as const) {
      const added = await t.api("POST", `/projects/${project.id}/members`, {
        token: owner.token,
        body: { user_id: user.id, access_level: level },
      });
      assert.equal(added.status, 201, added.text);
    }
    work = await createWorkingCopy(t, project, owner.token);
    mainSha = await work.commit({ "index.html": "<h1>hi</h1>" }, "first");
    await work.push("main");
    await work.checkout("feature", true);
    branchSha = await work.commit({ "about.html": "about" }, "feature work");
    await work.push("feature");
  });
  after(async () => {
    await work.cleanup();
    await t.stop();
  });

  it("creates a status with GitLab's shape and defaults", async () => {
    const res = await post(mainSha, { state: "pending" });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), STATUS_KEYS);
    assert.equal(res.body.sha, mainSha);
    assert.equal(res.body.status, "pending");
    assert.equal(res.body.name, "default");
    // Both branches contain the commit; GitLab takes the first name git lists.
    assert.equal(res.body.ref, "feature", "the first branch containing the commit");
    assert.equal(res.body.target_url, null);
    assert.equal(res.body.description, null);
    assert.equal(res.body.coverage, null);
    assert.equal(res.body.allow_failure, false);
    assert.equal(res.body.started_at, null);
    assert.equal(res.body.finished_at, null);
    assert.equal(typeof res.body.pipeline_id, "number");
    assert.equal(res.body.author.username, "dev");
  });

  it("moves a pending status through running to success instead of adding statuses", async () => {
    const created = await post(mainSha, { state: "pending", name: "build", ref: "main" });
    assert.equal(created.status, 201, created.text);
    const running = await post(mainSha, { state: "running", name: "build", ref: "main" });
    assert.equal(running.status, 201, running.text);
    assert.equal(running.body.id, created.body.id);
    assert.equal(running.body.status, "running");
    assert.ok(running.body.started_at);
    assert.equal(running.body.finished_at, null);
    const done = await post(mainSha, {
      state: "success",
      name: "build",
      ref: "main",
      target_url: "http://127.0.0.1:9/deploys/1",
      description: "Deploy ready",
    });
    assert.equal(done.status, 201, done.text);
    assert.equal(done.body.id, created.body.id);
    assert.equal(done.body.status, "success");
    assert.equal(done.body.target_url, "http://127.0.0.1:9/deploys/1");
    assert.ok(done.body.finished_at);

    const listed = await list(mainSha, "?name=build");
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(
      listed.body.map((s) => [s.id, s.status]),
      [[created.body.id, "success"]],
    );
  });

  it("keeps optional attributes that a later update leaves out", async () => {
    const first = await post(branchSha, {
      state: "running",
      context: "coverage",
      ref: "feature",
      description: "coverage test",
      coverage: 10,
      target_url: "https://ci.example.test/builds/1",
    });
    assert.equal(first.status, 201, first.text);
    assert.equal(first.body.name, "coverage", "context is the name");
    assert.equal(first.body.coverage, 10);
    const second = await post(branchSha, {
      state: "success",
      name: "coverage",
      ref: "feature",
      description: "new description",
      coverage: 90.5,
    });
    assert.equal(second.status, 201, second.text);
    assert.equal(second.body.id, first.body.id);
    assert.equal(second.body.description, "new description");
    assert.equal(second.body.coverage, 90.5);
    assert.equal(second.body.target_url, "https://ci.example.test/builds/1");
    assert.equal(second.body.ref, "feature");
  });

  it("refuses a transition GitLab's state machine refuses, changing nothing", async () => {
    const first = await post(mainSha, { state: "running", name: "twice", description: "one" });
    assert.equal(first.status, 201, first.text);
    const again = await post(mainSha, { state: "running", name: "twice", description: "two" });
    assert.equal(again.status, 400);
    assert.deepEqual(again.body, {
      message:
        'Cannot transition status via :run from :running (Reason(s): Status cannot transition via "run")',
    });
    const listed = await list(mainSha, "?name=twice");
    assert.deepEqual(
      listed.body.map((s) => [s.status, s.description]),
      [["running", "one"]],
    );
  });

  it("retries a finished status: a new one, the old one only with all=true", async () => {
    const failed = await post(mainSha, { state: "failed", name: "retry", ref: "main" });
    assert.equal(failed.status, 201, failed.text);
    assert.ok(failed.body.finished_at);
    const success = await post(mainSha, { state: "success", name: "retry", ref: "main" });
    assert.equal(success.status, 201, success.text);
    assert.notEqual(success.body.id, failed.body.id);
    const latest = await list(mainSha, "?name=retry");
    assert.deepEqual(
      latest.body.map((s) => s.id),
      [success.body.id],
    );
    const all = await list(mainSha, "?name=retry&all=true");
    assert.deepEqual(
      all.body.map((s) => s.id),
      [failed.body.id, success.body.id],
    );
    const desc = await list(mainSha, "?name=retry&all=1&sort=desc");
    assert.deepEqual(
      desc.body.map((s) => s.id),
      [success.body.id, failed.body.id],
    );
  });

  it("takes parameters from the query string, as GitLab's examples send them", async () => {
    const res = await t.api<StatusJson>(
      "POST",
      `/projects/${project.id}/statuses/${mainSha}?state=success&name=query&ref=main&coverage=42.5`,
      { token: developer.token },
    );
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.name, "query");
    assert.equal(res.body.status, "success");
    assert.equal(res.body.coverage, 42.5);
  });

  it("resolves an abbreviated id or a branch name to the commit", async () => {
    const short = await post(branchSha.slice(0, 10), { state: "skipped", name: "short" });
    assert.equal(short.status, 201, short.text);
    assert.equal(short.body.sha, branchSha);
    assert.equal(short.body.ref, "feature");
    const byBranch = await post("feature", { state: "canceled", name: "branch" });
    assert.equal(byBranch.status, 201, byBranch.text);
    assert.equal(byBranch.body.sha, branchSha);
    const listed = await list("feature", "?ref=feature&name=branch");
    assert.deepEqual(
      listed.body.map((s) => s.id),
      [byBranch.body.id],
    );
  });

  it("paginates with GitLab's headers and filters by ref and pipeline", async () => {
    const page = await list(mainSha, "?per_page=2&page=1");
    assert.equal(page.status, 200, page.text);
    assert.equal(page.body.length, 2);
    const total = Number(page.headers.get("x-total"));
    assert.ok(total >= 5, `x-total ${total}`);
    assert.equal(page.headers.get("x-next-page"), "2");
    assert.match(page.headers.get("link") ?? "", /rel="next"/);
    const onOtherRef = await list(mainSha, "?ref=release");
    assert.deepEqual(onOtherRef.body, []);
    const pipelineId = page.body[0]?.pipeline_id;
    const byPipeline = await list(mainSha, `?pipeline_id=${pipelineId}&per_page=100`);
    assert.ok(byPipeline.body.length > 0);
    assert.ok(byPipeline.body.every((s) => s.pipeline_id === pipelineId));
    const otherStage = await list(mainSha, "?stage=test");
    assert.deepEqual(otherStage.body, []);
  });

  it("answers 404 for a commit the repository does not have", async () => {
    const unknown = "0123456789abcdef0123456789abcdef01234567";
    const posted = await post(unknown, { state: "success" });
    assert.equal(posted.status, 404);
    assert.deepEqual(posted.body, { message: "404 Commit Not Found" });
    const listed = await list(unknown);
    assert.equal(listed.status, 404);
    assert.deepEqual(listed.body, { message: "404 Commit Not Found" });
    const odd = await post("--upload-pack=evil", { state: "success" });
    assert.equal(odd.status, 404);
    assert.deepEqual(odd.body, { message: "404 Commit Not Found" });
  });

  it("answers 404 References for commit when no branch contains it and no ref is given", async () => {
    await work.checkout("lonely", true);
    const lonely = await work.commit({ "lonely.txt": "x" }, "lonely");
    await work.push("lonely");
    const bare = t.forge.ctx.repositories.pathFor(project.id);
    await runChecked("git", ["--git-dir", bare, "update-ref", "-d", "refs/heads/lonely"]);
    const res = await post(lonely, { state: "success" });
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { message: "404 References for commit Not Found" });
    const withRef = await post(lonely, { state: "success", ref: "lonely" });
    assert.equal(withRef.status, 201, withRef.text);
    await work.checkout("main");
  });

  it("answers 400 with GitLab's bodies for bad input, never 500", async () => {
    const badState = await post(mainSha, { state: "done" });
    assert.equal(badState.status, 400);
    assert.deepEqual(badState.body, { error: "state does not have a valid value" });
    const noState = await post(mainSha, { name: "x" });
    assert.equal(noState.status, 400);
    assert.deepEqual(noState.body, { error: "state is missing" });
    for (const url of ["invalid url", "git://example.com/x", "javascript:alert(1)"]) {
      const badUrl = await post(mainSha, { state: "pending", name: "url", target_url: url });
      assert.equal(badUrl.status, 400, url);
      assert.deepEqual(badUrl.body, {
        message: { target_url: ["is blocked: Only allowed schemes are http, https"] },
      });
    }
    const longName = await post(mainSha, { state: "pending", name: "n".repeat(256) });
    assert.equal(longName.status, 400);
    assert.deepEqual(longName.body, {
      message: { name: ["is too long (maximum is 255 characters)"] },
    });
    const badCoverage = await post(mainSha, { state: "pending", coverage: "lots" });
    assert.equal(badCoverage.status, 400);
    assert.deepEqual(badCoverage.body, { error: "coverage is invalid" });
    const badAll = await list(mainSha, "?all=maybe");
    assert.equal(badAll.status, 400);
    assert.deepEqual(badAll.body, { error: "all is invalid" });
    const badJson = await t.api("POST", `/projects/${project.id}/statuses/${mainSha}`, {
      token: developer.token,
      body: "{not json",
    });
    assert.equal(badJson.status, 400);
  });

  it("lets Developers post and Reporters read; Guests and Reporters cannot post", async () => {
    const byReporter = await post(mainSha, { state: "running", name: "r" }, reporter.token);
    assert.equal(byReporter.status, 403);
    assert.deepEqual(byReporter.body, { message: "403 Forbidden" });
    const byGuest = await post(mainSha, { state: "running", name: "g" }, guest.token);
    assert.equal(byGuest.status, 403);
    const readByReporter = await list(mainSha, "", reporter.token);
    assert.equal(readByReporter.status, 200);
    assert.ok(readByReporter.body.length > 0);
    const readByGuest = await list(mainSha, "", guest.token);
    assert.equal(readByGuest.status, 403);
    assert.deepEqual(readByGuest.body, { message: "403 Forbidden" });
    const byOwner = await post(mainSha, { state: "success", name: "owner" }, owner.token);
    assert.equal(byOwner.status, 201, byOwner.text);
  });

  it("hides another user's private project (404) and needs a token with the api scope", async () => {
    const posted = await post(mainSha, { state: "success" }, outsider.token);
    assert.equal(posted.status, 404);
    assert.deepEqual(posted.body, { message: "404 Project Not Found" });
    const listed = await list(mainSha, "", outsider.token);
    assert.equal(listed.status, 404);
    assert.deepEqual(listed.body, { message: "404 Project Not Found" });
    const anonymous = await t.api("POST", `/projects/${project.id}/statuses/${mainSha}`, {
      token: null,
      body: { state: "success" },
    });
    assert.equal(anonymous.status, 401);
    assert.deepEqual(anonymous.body, { message: "401 Unauthorized" });
    const readOnly = await t.createUser("readonly", { scopes: ["read_api"] });
    const added = await t.api("POST", `/projects/${project.id}/members`, {
      token: owner.token,
      body: { user_id: readOnly.id, access_level: 40 },
    });
    assert.equal(added.status, 201, added.text);
    const withReadApi = await post(mainSha, { state: "success" }, readOnly.token);
    assert.equal(withReadApi.status, 403);
    assert.equal((withReadApi.body as unknown as { error: string }).error, "insufficient_scope");
    const readWithReadApi = await list(mainSha, "", readOnly.token);
    assert.equal(readWithReadApi.status, 200);
  });

  it("lets any signed-in user read the statuses of a public project", async () => {
    const open = await t.createProject(owner, "open", "public");
    const copy = await createWorkingCopy(t, open, owner.token);
    try {
      const sha = await copy.commit({ "a.txt": "a" });
      await copy.push("main");
      const posted = await t.api<StatusJson>("POST", `/projects/${open.id}/statuses/${sha}`, {
        token: owner.token,
        body: { state: "success" },
      });
      assert.equal(posted.status, 201, posted.text);
      const read = await t.api<StatusJson[]>(
        "GET",
        `/projects/${open.id}/repository/commits/${sha}/statuses`,
        { token: outsider.token },
      );
      assert.equal(read.status, 200, read.text);
      assert.deepEqual(
        read.body.map((s) => s.id),
        [posted.body.id],
      );
      const write = await t.api("POST", `/projects/${open.id}/statuses/${sha}`, {
        token: outsider.token,
        body: { state: "success" },
      });
      assert.equal(write.status, 403);
    } finally {
      await copy.cleanup();
    }
  });
});
