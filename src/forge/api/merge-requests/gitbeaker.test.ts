import { Gitlab } from "@gitbeaker/rest";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createWorkingCopy, type WorkingCopy } from "../../../../test/helpers/e2e.ts";
import {
  startHookReceiver,
  startTestForge,
  type HookReceiver,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../../test/helpers/forge.ts";
import type { MergeRequestPayload } from "../../webhooks/merge-request-payload.ts";
import { gitbeakerFailure as failure } from "../../../../test/helpers/gitbeaker.ts";

// The real GitLab client, @gitbeaker/rest 43.8.0, against a running forge.

describe("merge requests through @gitbeaker/rest", () => {
  let t: TestForge;
  let receiver: HookReceiver;
  let owner: TestUser;
  let project: TestProject;
  let work: WorkingCopy;
  let featureSha: string;

  before(async () => {
    t = await startTestForge();
    receiver = await startHookReceiver();
    owner = await t.createUser("owner");
    project = await t.createProject(owner, "site");
    work = await createWorkingCopy(t, project, owner.token);
    await work.commit({ "index.html": "hi" });
    await work.push("main");
    await work.checkout("preview", true);
    featureSha = await work.commit({ "page.html": "page" }, "Add a page");
    await work.push("preview");
  });
  after(async () => {
    await work.cleanup();
    await receiver.close();
    await t.stop();
  });

  it("MergeRequests.create, show, all and edit work, and each change sends its hook", async () => {
    const api = new Gitlab({ host: t.url, token: owner.token });
    await api.ProjectHooks.add(project.id, receiver.url, {
      mergeRequestsEvents: true,
      pushEvents: false,
    });

    const created = await api.MergeRequests.create(project.id, "preview", "main", "Preview me", {
      description: "A page",
    });
    assert.equal(created.iid, 1);
    assert.equal(created.state, "opened");
    assert.equal(created.sha, featureSha);
    assert.equal(created.description, "A page");

    const shown = await api.MergeRequests.show(project.path_with_namespace, created.iid);
    assert.equal(shown.id, created.id);
    assert.equal(shown.diff_refs.head_sha, featureSha);

    const open = await api.MergeRequests.all({ projectId: project.id, state: "opened" });
    assert.deepEqual(
      open.map((mr) => mr.iid),
      [1],
    );

    const renamed = await api.MergeRequests.edit(project.id, created.iid, { title: "Preview it" });
    assert.equal(renamed.title, "Preview it");
    const closed = await api.MergeRequests.edit(project.id, created.iid, { stateEvent: "close" });
    assert.equal(closed.state, "closed");
    const none = await api.MergeRequests.all({ projectId: project.id, state: "opened" });
    assert.deepEqual(none, []);

    const hooks = await receiver.waitForRequests(3);
    assert.deepEqual(
      hooks.map((h) => [
        h.headers["x-gitlab-event"],
        (JSON.parse(h.body) as MergeRequestPayload).object_attributes.action,
      ]),
      [
        ["Merge Request Hook", "open"],
        ["Merge Request Hook", "update"],
        ["Merge Request Hook", "close"],
      ],
    );
  });

  it("surfaces GitLab's errors through the client", async () => {
    const api = new Gitlab({ host: t.url, token: owner.token });
    const missing = await failure(() => api.MergeRequests.create(project.id, "nope", "main", "x"));
    assert.deepEqual(missing, {
      status: 422,
      message: JSON.stringify(['Source branch "nope" does not exist']),
    });
    const unknown = await failure(() => api.MergeRequests.show(project.id, 42));
    assert.deepEqual(unknown, { status: 404, message: "404 Not found" });
  });
});
