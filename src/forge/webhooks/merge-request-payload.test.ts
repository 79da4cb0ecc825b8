import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestForge, type TestForge, type TestUser } from "../../../test/helpers/forge.ts";
import { lookupProject, type ProjectWithNamespace } from "../projects/projects.ts";
import type { MergeRequest, User } from "../db/schema.ts";
import { triggerOf } from "./deliveries.ts";
import type { HookCommit } from "./hook-attrs.ts";
import {
  buildMergeRequestPayload,
  hookTime,
  isDraftTitle,
  MERGE_REQUEST_HOOK,
} from "./merge-request-payload.ts";

const HEAD = "a".repeat(40);
const OLD = "b".repeat(40);

describe("Merge Request Hook payload", () => {
  let t: TestForge;
  let author: TestUser;
  let project: ProjectWithNamespace;
  let user: User;
  let mr: MergeRequest;
  const lastCommit: HookCommit = {
    id: HEAD,
    message: "Fix it\n",
    title: "Fix it",
    timestamp: "2024-01-02T03:04:05+02:00",
    url: "http://forge.test/x/-/commit/" + HEAD,
    author: { name: "Ada", email: "ada@example.test" },
  };

  before(async () => {
    t = await startTestForge();
    author = await t.createUser("ada");
    const created = await t.createProject(author, "site", "public");
    const found = await lookupProject(t.forge.ctx, String(created.id));
    assert.ok(found);
    project = found;
    user = await t.forge.ctx.db
      .selectFrom("users")
      .selectAll()
      .where("id", "=", author.id)
      .executeTakeFirstOrThrow();
    mr = {
      id: 7,
      project_id: created.id,
      iid: 3,
      source_project_id: created.id,
      source_branch: "feature",
      target_branch: "main",
      title: "Draft: new page",
      description: "body",
      state: "opened",
      author_id: author.id,
      head_sha: HEAD,
      updated_by_id: null,
      last_edited_at: null,
      last_edited_by_id: null,
      closed_at: null,
      closed_by_id: null,
      merged_at: null,
      merged_by_id: null,
      created_at: "2024-05-06T07:08:09.123Z",
      updated_at: "2024-05-06T07:08:10.000Z",
    };
  });
  after(() => t.stop());

  it("has GitLab's top-level shape, the project's hook attributes and the user", () => {
    const payload = buildMergeRequestPayload(t.forge.ctx, {
      project,
      user,
      mergeRequest: mr,
      action: "open",
      lastCommit,
    });
    assert.deepEqual(Object.keys(payload).sort(), [
      "changes",
      "event_type",
      "labels",
      "object_attributes",
      "object_kind",
      "project",
      "repository",
      "user",
    ]);
    assert.equal(payload.object_kind, "merge_request");
    assert.equal(payload.event_type, "merge_request");
    assert.deepEqual(payload.user, {
      id: author.id,
      name: "ada",
      username: "ada",
      avatar_url: null,
      email: "[REDACTED]",
    });
    assert.equal(payload.project.path_with_namespace, "ada/site");
    assert.equal(payload.project.visibility_level, 20);
    assert.equal(payload.project.web_url, `${t.url}/ada/site`);
    assert.deepEqual(Object.keys(payload.repository).sort(), [
      "description",
      "homepage",
      "name",
      "url",
    ]);
    const attrs = payload.object_attributes;
    assert.equal(attrs.url, `${t.url}/ada/site/-/merge_requests/3`);
    assert.equal(attrs.target_project_id, project.project.id);
    assert.equal(attrs.state_id, 1);
    assert.equal(attrs.draft, true);
    assert.equal(attrs.work_in_progress, true);
    assert.equal(attrs.created_at, "2024-05-06 07:08:09 UTC");
    assert.deepEqual(attrs.last_commit, lastCommit);
    assert.deepEqual(attrs.source, payload.project);
    assert.deepEqual(attrs.target, payload.project);
    assert.equal("oldrev" in attrs, false);
    assert.deepEqual(payload.changes, {});
  });

  it("carries oldrev only for a real previous commit", () => {
    const build = (oldrev: string) =>
      buildMergeRequestPayload(t.forge.ctx, {
        project,
        user,
        mergeRequest: mr,
        action: "update",
        lastCommit,
        oldrev,
      }).object_attributes;
    assert.equal(build(OLD).oldrev, OLD);
    assert.equal("oldrev" in build("0".repeat(40)), false);
    assert.equal("oldrev" in build("not-a-sha"), false);
  });

  it("formats times and recognises draft titles as GitLab does", () => {
    assert.equal(hookTime("2017-09-15T16:50:55.123Z"), "2017-09-15 16:50:55 UTC");
    assert.equal(hookTime(null), null);
    for (const title of ["Draft: x", "draft: x", "[Draft] x", "(DRAFT) x"]) {
      assert.equal(isDraftTitle(title), true, title);
    }
    for (const title of ["Drafts", "Draft x", " Draft: x", "Fix draft: x"]) {
      assert.equal(isDraftTitle(title), false, title);
    }
  });

  it("is logged under GitLab's merge_request_hooks trigger", () => {
    assert.equal(triggerOf(MERGE_REQUEST_HOOK), "merge_request_hooks");
    assert.equal(triggerOf("Push Hook"), "push_hooks");
  });
});
