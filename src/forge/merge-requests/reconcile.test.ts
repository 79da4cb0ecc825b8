import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runChecked } from "../../lib/run.ts";
import { createWorkingCopy, type WorkingCopy } from "../../../test/helpers/e2e.ts";
import {
  startHookReceiver,
  startTestForge,
  type HookReceiver,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../test/helpers/forge.ts";
import { serverRefs } from "../../../test/helpers/forge-git.ts";
import type { MergeRequestPayload } from "../webhooks/merge-request-payload.ts";

describe("merge requests after a crash", () => {
  let dataDir: string;
  let t: TestForge;
  let receiver: HookReceiver;
  let dev: TestUser;
  let project: TestProject;
  let work: WorkingCopy;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "slipway-forge-restart-"));
    receiver = await startHookReceiver();
  });
  after(async () => {
    await work.cleanup();
    await t.stop();
    await receiver.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("catch up with a source branch that moved while the forge could not refresh them", async () => {
    t = await startTestForge({ dataDir });
    dev = await t.createUser("dev");
    project = await t.createProject(dev, "site");
    const hook = await t.api("POST", `/projects/${project.id}/hooks`, {
      token: dev.token,
      body: { url: receiver.url, push_events: false, merge_requests_events: true },
    });
    assert.equal(hook.status, 201, hook.text);
    work = await createWorkingCopy(t, project, dev.token);
    await work.commit({ "index.html": "main" });
    await work.checkout("feature", true);
    const first = await work.commit({ "a.html": "a" }, "First");
    await work.checkout("later", true);
    const second = await work.commit({ "b.html": "b" }, "Second");
    await work.checkout("main");
    await work.push("main");
    await work.push("feature");
    await work.push("later");
    const created = await t.api<{ iid: number }>("POST", `/projects/${project.id}/merge_requests`, {
      token: dev.token,
      body: { source_branch: "feature", target_branch: "main", title: "Feature" },
    });
    assert.equal(created.status, 201, created.text);
    await receiver.waitForRequests(1);
    await t.stop();

    // What git accepted while the forge died before its refresh: the branch moved on disk only.
    const bare = t.forge.ctx.repositories.pathFor(project.id);
    await runChecked("git", ["--git-dir", bare, "update-ref", "refs/heads/feature", second, first]);

    t = await startTestForge({ dataDir });
    const refs = await serverRefs(t, project.id);
    assert.equal(refs.get("refs/merge-requests/1/head"), second);
    const [, update] = await receiver.waitForRequests(2);
    assert.ok(update);
    const payload = JSON.parse(update.body) as MergeRequestPayload;
    assert.equal(payload.object_attributes.action, "update");
    assert.equal(payload.object_attributes.oldrev, first);
    assert.equal(payload.object_attributes.last_commit?.id, second);
    assert.equal(payload.user.username, "dev");
    const shown = await t.api<{ sha: string }>("GET", `/projects/${project.id}/merge_requests/1`, {
      token: dev.token,
    });
    assert.equal(shown.body.sha, second);
  });
});
