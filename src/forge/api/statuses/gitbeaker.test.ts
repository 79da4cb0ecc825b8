import { Gitlab } from "@gitbeaker/rest";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createWorkingCopy, type WorkingCopy } from "../../../../test/helpers/e2e.ts";
import {
  startTestForge,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../../test/helpers/forge.ts";
import { gitbeakerFailure as failure } from "../../../../test/helpers/gitbeaker.ts";

// The real GitLab client, @gitbeaker/rest 43.8.0, against a running forge.

describe("commit statuses through @gitbeaker/rest", () => {
  let t: TestForge;
  let owner: TestUser;
  let reporter: TestUser;
  let project: TestProject;
  let work: WorkingCopy;
  let sha: string;

  before(async () => {
    t = await startTestForge();
    owner = await t.createUser("owner");
    reporter = await t.createUser("reporter");
    project = await t.createProject(owner, "site");
    const added = await t.api("POST", `/projects/${project.id}/members`, {
      token: owner.token,
      body: { user_id: reporter.id, access_level: 20 },
    });
    assert.equal(added.status, 201, added.text);
    work = await createWorkingCopy(t, project, owner.token);
    sha = await work.commit({ "index.html": "hi" });
    await work.push("main");
  });
  after(async () => {
    await work.cleanup();
    await t.stop();
  });

  it("Commits.editStatus posts and updates, Commits.allStatuses lists", async () => {
    const api = new Gitlab({ host: t.url, token: owner.token });
    const pending = await api.Commits.editStatus(project.id, sha, "pending", {
      context: "slipway/site",
      ref: "main",
      description: "Build started",
    });
    assert.equal(pending.status, "pending");
    assert.equal(pending.name, "slipway/site");
    assert.equal(pending.sha, sha);

    const success = await api.Commits.editStatus(project.id, sha, "success", {
      name: "slipway/site",
      ref: "main",
      targetUrl: "http://deploy-preview-1--site.example.test/",
      description: "Deploy ready",
    });
    assert.equal(success.id, pending.id);
    assert.equal(success.status, "success");
    assert.equal(success.target_url, "http://deploy-preview-1--site.example.test/");
    assert.equal(success.author.username, "owner");

    const statuses = await api.Commits.allStatuses(project.id, sha, { ref: "main" });
    assert.deepEqual(
      statuses.map((s) => [s.name, s.status, s.description]),
      [["slipway/site", "success", "Deploy ready"]],
    );
    const byPath = await api.Commits.allStatuses(project.path_with_namespace, sha);
    assert.equal(byPath.length, 1);
  });

  it("surfaces GitLab's errors through the client", async () => {
    const api = new Gitlab({ host: t.url, token: owner.token });
    const missing = await failure(() =>
      api.Commits.editStatus(project.id, "f".repeat(40), "success"),
    );
    assert.deepEqual(missing, { status: 404, message: "404 Commit Not Found" });
    const asReporter = new Gitlab({ host: t.url, token: reporter.token });
    const refused = await failure(() => asReporter.Commits.editStatus(project.id, sha, "failed"));
    assert.deepEqual(refused, { status: 403, message: "403 Forbidden" });
  });
});
