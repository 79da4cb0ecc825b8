import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { runChecked } from "../../../lib/run.ts";
import { createWorkingCopy, type WorkingCopy } from "../../../../test/helpers/e2e.ts";
import {
  startHookReceiver,
  startTestForge,
  type HookReceiver,
  type ReceivedHook,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../../test/helpers/forge.ts";
import { waitUntil } from "../../../../test/helpers/wait.ts";
import { serverRefs } from "../../../../test/helpers/forge-git.ts";
import type { MergeRequestPayload } from "../../webhooks/merge-request-payload.ts";

interface MergeRequestJson {
  id: number;
  iid: number;
  project_id: number;
  title: string;
  description: string;
  state: string;
  source_branch: string;
  target_branch: string;
  source_project_id: number;
  target_project_id: number;
  sha: string;
  web_url: string;
  author: { username: string };
  closed_by: { username: string } | null;
  closed_at: string | null;
  merged_at: string | null;
  references: { short: string; full: string };
  changes_count: string;
  diff_refs: { base_sha: string | null; head_sha: string; start_sha: string | null };
}

const payloadOf = (request: ReceivedHook): MergeRequestPayload =>
  JSON.parse(request.body) as MergeRequestPayload;

describe("merge requests API and Merge Request Hook", () => {
  let t: TestForge;
  let receiver: HookReceiver;
  let owner: TestUser;
  let developer: TestUser;
  let reporter: TestUser;
  let outsider: TestUser;
  let project: TestProject;
  let work: WorkingCopy;
  let mainSha: string;
  let featureSha: string;

  const mrPath = (suffix = "") => `/projects/${project.id}/merge_requests${suffix}`;
  const create = (body: unknown, token = developer.token) =>
    t.api<MergeRequestJson>("POST", mrPath(), { token, body });
  const update = (iid: number, body: unknown, token = developer.token) =>
    t.api<MergeRequestJson>("PUT", mrPath(`/${iid}`), { token, body });
  const show = (iid: number, token: string | null = developer.token) =>
    t.api<MergeRequestJson>("GET", mrPath(`/${iid}`), { token });
  /** Waits for the next `count` hook requests after those already seen, and returns them. */
  let seen = 0;
  const nextHooks = async (count = 1): Promise<ReceivedHook[]> => {
    const all = await receiver.waitForRequests(seen + count);
    const fresh = all.slice(seen, seen + count);
    seen += count;
    return fresh;
  };
  const refs = () => serverRefs(t, project.id);
  /** `git push` of refspecs over HTTP in one push, as the developer. */
  const gitPush = async (...refspecs: string[]): Promise<void> => {
    const url = new URL(`${t.url}/${project.path_with_namespace}.git`);
    url.username = "oauth2";
    url.password = developer.token;
    await runChecked(
      "git",
      ["-C", work.dir, "push", "-q", "--end-of-options", url.toString(), ...refspecs],
      { env: { PATH: process.env.PATH, HOME: work.dir, GIT_CONFIG_NOSYSTEM: "1" } },
    );
  };
  const bare = () => t.forge.ctx.repositories.pathFor(project.id);

  before(async () => {
    t = await startTestForge({ webhooks: { retryDelayMs: 50 } });
    receiver = await startHookReceiver();
    owner = await t.createUser("owner");
    developer = await t.createUser("dev");
    reporter = await t.createUser("reporter");
    outsider = await t.createUser("outsider");
    project = await t.createProject(owner, "site");
    for (const [user, level] of [
      [developer, 30],
      [reporter, 20],
    ] as const) {
      const added = await t.api("POST", `/projects/${project.id}/members`, {
        token: owner.token,
        body: { user_id: user.id, access_level: level },
      });
      assert.equal(added.status, 201, added.text);
    }
    const hook = await t.api("POST", `/projects/${project.id}/hooks`, {
      token: owner.token,
      body: {
        url: `${receiver.url}/hook`,
        push_events: false,
        merge_requests_events: true,
        token: "s3cret",
      },
    });
    assert.equal(hook.status, 201, hook.text);
    work = await createWorkingCopy(t, project, developer.token);
    mainSha = await work.commit({ "index.html": "<h1>main</h1>" }, "first");
    // Every branch the tests use, made from main and pushed at once.
    for (const branch of ["docs", "tmp", "later", "feature"]) {
      await work.checkout("main");
      await work.checkout(branch, true);
      const message = branch === "feature" ? "Add the about page\n\nBody." : `Add ${branch}`;
      const sha = await work.commit({ [`${branch}.html`]: branch }, message);
      if (branch === "feature") featureSha = sha;
    }
    await gitPush("main", "docs", "tmp", "later", "feature");
  });
  after(async () => {
    await work.cleanup();
    await receiver.close();
    await t.stop();
  });
  beforeEach(() => {
    // Every test starts from what the previous ones delivered.
    seen = receiver.requests.length;
  });

  it("opens a merge request: GitLab's entity, the head ref and an `open` hook", async () => {
    const res = await create({
      source_branch: "feature",
      target_branch: "main",
      title: "Add about page",
      description: "Please review",
    });
    assert.equal(res.status, 201, res.text);
    const mr = res.body;
    assert.equal(mr.iid, 1);
    assert.equal(mr.project_id, project.id);
    assert.equal(mr.state, "opened");
    assert.equal(mr.sha, featureSha);
    assert.equal(mr.source_project_id, project.id);
    assert.equal(mr.target_project_id, project.id);
    assert.equal(mr.author.username, "dev");
    assert.equal(mr.web_url, `${t.url}/${project.path_with_namespace}/-/merge_requests/1`);
    assert.deepEqual(mr.references, {
      short: "!1",
      relative: "!1",
      full: `${project.path_with_namespace}!1`,
    });
    assert.deepEqual(mr.diff_refs, { base_sha: mainSha, head_sha: featureSha, start_sha: mainSha });
    assert.equal(mr.changes_count, "1");

    assert.equal((await refs()).get("refs/merge-requests/1/head"), featureSha);

    const [hook] = await nextHooks();
    assert.ok(hook);
    assert.equal(hook.headers["x-gitlab-event"], "Merge Request Hook");
    assert.equal(hook.headers["x-gitlab-token"], "s3cret");
    const payload = payloadOf(hook);
    assert.equal(payload.object_kind, "merge_request");
    assert.equal(payload.event_type, "merge_request");
    assert.equal(payload.user.username, "dev");
    assert.equal(payload.project.id, project.id);
    assert.equal(payload.project.path_with_namespace, project.path_with_namespace);
    assert.equal(payload.project.git_http_url, project.http_url_to_repo);
    assert.equal(payload.project.default_branch, "main");
    assert.equal(payload.repository.name, "site");
    const attrs = payload.object_attributes;
    assert.equal(attrs.action, "open");
    assert.equal(attrs.id, mr.id);
    assert.equal(attrs.iid, 1);
    assert.equal(attrs.state, "opened");
    assert.equal(attrs.title, "Add about page");
    assert.equal(attrs.source_branch, "feature");
    assert.equal(attrs.target_branch, "main");
    assert.equal(attrs.source_project_id, project.id);
    assert.equal(attrs.target_project_id, project.id);
    assert.equal(attrs.url, mr.web_url);
    assert.equal(attrs.oldrev, undefined);
    assert.equal(attrs.last_commit?.id, featureSha);
    assert.equal(attrs.last_commit?.title, "Add the about page");
    assert.equal(attrs.last_commit?.message, "Add the about page\n\nBody.\n");
    assert.equal(
      attrs.last_commit?.url,
      `${t.url}/${project.path_with_namespace}/-/commit/${featureSha}`,
    );
    assert.deepEqual(payload.changes.title, { previous: null, current: "Add about page" });
    assert.deepEqual(payload.changes.state_id, { previous: null, current: 1 });
  });

  it("serves refs/merge-requests/1/head to `git fetch` into an empty repository", async () => {
    const url = new URL(`${t.url}/${project.path_with_namespace}.git`);
    url.username = "oauth2";
    url.password = developer.token;
    const clone = await mkdtemp(join(tmpdir(), "slipway-mr-fetch-"));
    try {
      const env = { PATH: process.env.PATH, HOME: clone, GIT_CONFIG_NOSYSTEM: "1" };
      await runChecked("git", ["init", "-q", "--bare", "--", clone], { env });
      await runChecked(
        "git",
        [
          "--git-dir",
          clone,
          "fetch",
          "-q",
          "--end-of-options",
          url.toString(),
          "+refs/merge-requests/1/head:refs/previews/1",
        ],
        { env },
      );
      const fetched = await runChecked("git", ["--git-dir", clone, "rev-parse", "refs/previews/1"]);
      assert.equal(fetched.trim(), featureSha);
      await runChecked("git", ["--git-dir", clone, "cat-file", "-e", `${featureSha}^{tree}`]);
    } finally {
      await rm(clone, { recursive: true, force: true });
    }
  });

  it("a push to the source branch moves the head ref and sends `update` with oldrev", async () => {
    await work.checkout("feature");
    const newSha = await work.commit({ "contact.html": "contact" }, "Add contact");
    await work.push("feature");
    const [hook] = await nextHooks();
    assert.ok(hook);
    const payload = payloadOf(hook);
    assert.equal(payload.object_attributes.action, "update");
    assert.equal(payload.object_attributes.oldrev, featureSha);
    assert.equal(payload.object_attributes.last_commit?.id, newSha);
    assert.equal(payload.user.username, "dev");
    assert.equal((await refs()).get("refs/merge-requests/1/head"), newSha);
    const shown = await show(1);
    assert.equal(shown.body.sha, newSha);
    assert.equal(shown.body.changes_count, "2");
    featureSha = newSha;
  });

  it("a title change sends `update` with the change and no oldrev", async () => {
    const res = await update(1, { title: "Add about and contact pages" });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.title, "Add about and contact pages");
    const [hook] = await nextHooks();
    assert.ok(hook);
    const payload = payloadOf(hook);
    assert.equal(payload.object_attributes.action, "update");
    assert.equal(payload.object_attributes.oldrev, undefined);
    assert.deepEqual(payload.changes.title, {
      previous: "Add about page",
      current: "Add about and contact pages",
    });
    assert.ok(payload.changes.updated_at);
  });

  it("close sends `close`; a closed request ignores pushes; reopen follows the branch", async () => {
    const closed = await update(1, { state_event: "close" });
    assert.equal(closed.status, 200, closed.text);
    assert.equal(closed.body.state, "closed");
    assert.equal(closed.body.closed_by?.username, "dev");
    assert.ok(closed.body.closed_at);
    const [closeHook] = await nextHooks();
    assert.ok(closeHook);
    assert.equal(payloadOf(closeHook).object_attributes.action, "close");
    assert.equal(payloadOf(closeHook).object_attributes.state, "closed");
    assert.deepEqual(payloadOf(closeHook).changes.state_id, { previous: 1, current: 2 });

    const again = await update(1, { state_event: "close" });
    assert.equal(again.status, 200);

    const whileClosed = await work.commit({ "late.html": "late" }, "Late");
    await work.push("feature");
    assert.equal((await refs()).get("refs/merge-requests/1/head"), featureSha);

    const reopened = await update(1, { state_event: "reopen" });
    assert.equal(reopened.status, 200, reopened.text);
    assert.equal(reopened.body.state, "opened");
    assert.equal(reopened.body.sha, whileClosed);
    assert.equal(reopened.body.closed_at, null);
    assert.equal((await refs()).get("refs/merge-requests/1/head"), whileClosed);
    const [reopenHook] = await nextHooks();
    assert.ok(reopenHook);
    assert.equal(payloadOf(reopenHook).object_attributes.action, "reopen");
    assert.equal(payloadOf(reopenHook).object_attributes.last_commit?.id, whileClosed);
    // Only the close and the reopen were sent: no hook for the second close or the push.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(receiver.requests.length, seen);
    featureSha = whileClosed;
  });

  it("refuses a second open merge request for the same branches (409)", async () => {
    const res = await create({ source_branch: "feature", target_branch: "main", title: "Again" });
    assert.equal(res.status, 409);
    assert.deepEqual(res.body, {
      message: ["Another open merge request already exists for this source branch: !1"],
    });
  });

  it("answers bad input with GitLab's bodies, never 500", async () => {
    const cases: [unknown, number, unknown][] = [
      [{ source_branch: "feature", target_branch: "main" }, 400, { error: "title is missing" }],
      [{ title: "x", target_branch: "main" }, 400, { error: "source_branch is missing" }],
      [
        { title: "x", source_branch: "main", target_branch: "main" },
        422,
        { message: ["You must select different branches"] },
      ],
      [
        { title: "x", source_branch: "nope", target_branch: "main" },
        422,
        { message: ['Source branch "nope" does not exist'] },
      ],
      [
        { title: "x", source_branch: "feature", target_branch: "-x..y" },
        422,
        { message: ['Target branch "-x..y" does not exist'] },
      ],
      [
        { title: "x", source_branch: "feature", target_branch: "main", target_project_id: 999 },
        422,
        { message: ["Source project is not a fork of the target project"] },
      ],
      [
        { title: " ", source_branch: "feature", target_branch: "main" },
        400,
        { message: { title: ["can't be blank"] } },
      ],
      [
        { title: "t".repeat(256), source_branch: "feature", target_branch: "main" },
        400,
        { message: { title: ["is too long (maximum is 255 characters)"] } },
      ],
    ];
    for (const [body, status, expected] of cases) {
      const res = await create(body);
      assert.equal(res.status, status, `${JSON.stringify(body)} → ${res.text}`);
      assert.deepEqual(res.body, expected);
    }
    const notJson = await t.api("POST", mrPath(), { token: developer.token, body: "{" });
    assert.equal(notJson.status, 400);

    const empty = await update(1, {});
    assert.equal(empty.status, 400);
    assert.match(
      (empty.body as unknown as { error: string }).error,
      /^assignee_id, .*title, state_event.* are missing, at least one parameter must be provided$/,
    );
    const blank = await update(1, { title: "" });
    assert.deepEqual([blank.status, blank.body], [400, { error: "title is empty" }]);
    const badEvent = await update(1, { state_event: "merge" });
    assert.deepEqual(
      [badEvent.status, badEvent.body],
      [400, { error: "state_event does not have a valid value" }],
    );
    const sameBranch = await update(1, { target_branch: "feature" });
    assert.deepEqual(
      [sameBranch.status, sameBranch.body],
      [422, { message: ["You can't use same project/branch for source and target"] }],
    );
    const badIid = await show("abc" as unknown as number);
    assert.deepEqual(
      [badIid.status, badIid.body],
      [400, { error: "merge_request_iid is invalid" }],
    );
    const missing = await show(99);
    assert.deepEqual([missing.status, missing.body], [404, { message: "404 Not found" }]);
    const badState = await t.api("GET", mrPath("?state=draft"), { token: developer.token });
    assert.deepEqual(
      [badState.status, badState.body],
      [400, { error: "state does not have a valid value" }],
    );
    // None of these produced a hook.
    assert.equal(receiver.requests.length, seen);
  });

  it("applies GitLab's permissions: Developer+ create, author or Developer+ update", async () => {
    const byReporter = await create(
      { source_branch: "feature", target_branch: "main", title: "r" },
      reporter.token,
    );
    assert.deepEqual([byReporter.status, byReporter.body], [403, { message: "403 Forbidden" }]);
    const byOutsider = await create(
      { source_branch: "feature", target_branch: "main", title: "o" },
      outsider.token,
    );
    assert.deepEqual(
      [byOutsider.status, byOutsider.body],
      [404, { message: "404 Project Not Found" }],
    );
    const anonymous = await t.api("POST", mrPath(), {
      token: null,
      body: { source_branch: "feature", target_branch: "main", title: "a" },
    });
    assert.deepEqual([anonymous.status, anonymous.body], [401, { message: "401 Unauthorized" }]);
    const readByReporter = await show(1, reporter.token);
    assert.equal(readByReporter.status, 200);
    const editByReporter = await update(1, { title: "nope" }, reporter.token);
    assert.deepEqual(
      [editByReporter.status, editByReporter.body],
      [403, { message: "403 Forbidden" }],
    );
    const readByOutsider = await show(1, outsider.token);
    assert.equal(readByOutsider.status, 404);
    const readAnonymously = await show(1, null);
    assert.equal(readAnonymously.status, 404, "a private project is hidden from anonymous users");
    const editByOwner = await update(1, { description: "Reviewed" }, owner.token);
    assert.equal(editByOwner.status, 200, editByOwner.text);
    await nextHooks();
  });

  it("lists merge requests with the state filter and pagination headers", async () => {
    const second = await create({ source_branch: "docs", target_branch: "main", title: "Docs" });
    assert.equal(second.status, 201, second.text);
    assert.equal(second.body.iid, 2);
    await nextHooks();
    const closed = await update(2, { state_event: "close" });
    assert.equal(closed.status, 200);
    await nextHooks();

    const all = await t.api<MergeRequestJson[]>("GET", mrPath(), { token: developer.token });
    assert.equal(all.status, 200, all.text);
    assert.deepEqual(
      all.body.map((m) => m.iid),
      [2, 1],
      "newest first",
    );
    assert.equal(all.headers.get("x-total"), "2");
    const opened = await t.api<MergeRequestJson[]>("GET", mrPath("?state=opened"), {
      token: developer.token,
    });
    assert.deepEqual(
      opened.body.map((m) => m.iid),
      [1],
    );
    const page = await t.api<MergeRequestJson[]>("GET", mrPath("?per_page=1&page=2&sort=asc"), {
      token: developer.token,
    });
    assert.deepEqual(
      page.body.map((m) => m.iid),
      [2],
    );
    assert.equal(page.headers.get("x-total-pages"), "2");
    assert.equal(page.headers.get("x-prev-page"), "1");
    const bySearch = await t.api<MergeRequestJson[]>("GET", mrPath("?search=doc%25"), {
      token: developer.token,
    });
    assert.deepEqual(
      bySearch.body.map((m) => m.iid),
      [2],
    );
    const bySource = await t.api<MergeRequestJson[]>("GET", mrPath("?source_branch=docs"), {
      token: developer.token,
    });
    assert.deepEqual(
      bySource.body.map((m) => m.iid),
      [2],
    );
  });

  it("deleting the source branch closes the request with a `close` hook", async () => {
    const res = await create({ source_branch: "tmp", target_branch: "main", title: "Temp" });
    assert.equal(res.status, 201, res.text);
    await nextHooks();
    await gitPush(":refs/heads/tmp");
    const [hook] = await nextHooks();
    assert.ok(hook);
    assert.equal(payloadOf(hook).object_attributes.action, "close");
    assert.equal(payloadOf(hook).object_attributes.iid, res.body.iid);
    const shown = await show(res.body.iid);
    assert.equal(shown.body.state, "closed");
    const reopened = await update(res.body.iid, { state_event: "reopen" });
    assert.equal(reopened.status, 200);
    assert.equal(reopened.body.state, "closed", "no source branch: reopening does nothing");
  });

  it("pushing the head into the target branch merges the request (`merge` hook)", async () => {
    await work.checkout("feature");
    await work.push("feature", "main");
    const [hook] = await nextHooks();
    assert.ok(hook);
    const payload = payloadOf(hook);
    assert.equal(payload.object_attributes.action, "merge");
    assert.equal(payload.object_attributes.state, "merged");
    assert.equal(payload.object_attributes.iid, 1);
    assert.deepEqual(payload.changes.state_id, { previous: 1, current: 3 });
    const shown = await show(1);
    assert.equal(shown.body.state, "merged");
    assert.ok(shown.body.merged_at);
    const stillThere = (await refs()).get("refs/merge-requests/1/head");
    assert.equal(stillThere, featureSha);
    assert.equal(
      await runChecked("git", ["--git-dir", bare(), "rev-parse", "main"]).then((s) => s.trim()),
      featureSha,
    );
  });

  it("stores deliveries durably: a hook that is down gets the event later", async () => {
    let up = false;
    receiver.respond = () => (up ? { status: 200, body: "ok" } : { status: 503 });
    try {
      const res = await create({ source_branch: "later", target_branch: "main", title: "Later" });
      assert.equal(res.status, 201, res.text);
      const rows = await t.forge.ctx.db
        .selectFrom("hook_deliveries")
        .select(["id", "event_name", "payload"])
        .where("event_name", "=", "Merge Request Hook")
        .orderBy("id", "desc")
        .limit(1)
        .execute();
      assert.equal(rows.length, 1, "the delivery is stored when the API answers");
      assert.equal(
        (JSON.parse(rows[0]?.payload ?? "{}") as MergeRequestPayload).object_attributes.iid,
        res.body.iid,
      );
      up = true;
      // The first attempt met the 503; the retry, after the receiver came back, is delivered.
      const attempts = await waitUntil(() => {
        const mine = receiver.requests.filter(
          (r) => payloadOf(r).object_attributes.iid === res.body.iid,
        );
        return mine.length >= 2 ? mine : undefined;
      }, "the retried delivery");
      assert.equal(
        attempts[0]?.headers["idempotency-key"],
        attempts[1]?.headers["idempotency-key"],
      );
      const state = await waitUntil(async () => {
        const row = await t.forge.ctx.db
          .selectFrom("hook_deliveries")
          .select("state")
          .where("id", "=", rows[0]?.id ?? 0)
          .executeTakeFirst();
        return row?.state === "delivered" ? row.state : undefined;
      }, "the delivery recorded as delivered");
      assert.equal(state, "delivered");
    } finally {
      receiver.respond = () => ({ status: 200, body: "ok" });
    }
  });
});
