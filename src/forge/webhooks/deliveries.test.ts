import assert from "node:assert/strict";
import { mkdtemp, rm, unlink, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runChecked } from "../../lib/run.ts";
import {
  startHookReceiver,
  startTestForge,
  type HookReceiver,
  type ReceivedHook,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../test/helpers/forge.ts";
import { waitUntil } from "../../../test/helpers/wait.ts";
import type { RefUpdate } from "../context.ts";
import type { PushPayload } from "./push-payload.ts";
import { USER_AGENT } from "./deliveries.ts";

const ZERO = "0".repeat(40);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const COMMIT_DATE = "2024-01-02T03:04:05+02:00";

let scratch: string;
const gitEnv = (): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: scratch,
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_AUTHOR_NAME: "Ada Author",
  GIT_AUTHOR_EMAIL: "ada@example.test",
  GIT_COMMITTER_NAME: "Cy Committer",
  GIT_COMMITTER_EMAIL: "cy@example.test",
  GIT_AUTHOR_DATE: COMMIT_DATE,
  GIT_COMMITTER_DATE: COMMIT_DATE,
});

async function git(cwd: string, ...args: string[]): Promise<string> {
  return (await runChecked("git", args, { cwd, env: gitEnv() })).trim();
}

/**
 * A working copy of a forge project's bare repository (local file transport). `push` pushes and
 * then tells the dispatcher what moved, as the forge's git servers do after a push.
 */
class WorkingCopy {
  private constructor(
    readonly t: TestForge,
    readonly project: TestProject,
    readonly user: TestUser,
    readonly dir: string,
    readonly bare: string,
  ) {}

  static async clone(t: TestForge, project: TestProject, user: TestUser): Promise<WorkingCopy> {
    const bare = t.forge.ctx.repositories.pathFor(project.id);
    const dir = await mkdtemp(join(scratch, "wc-"));
    await git(scratch, "clone", "-q", "--", bare, dir);
    await git(dir, "symbolic-ref", "HEAD", "refs/heads/main");
    return new WorkingCopy(t, project, user, dir, bare);
  }

  /** Writes (string) or deletes (null) files, commits everything, returns the commit id. */
  async commit(message: string, files: Record<string, string | null> = {}): Promise<string> {
    for (const [path, content] of Object.entries(files)) {
      const full = join(this.dir, path);
      if (content === null) await unlink(full);
      else {
        await mkdir(dirname(full), { recursive: true });
        await writeFile(full, content);
      }
    }
    await git(this.dir, "add", "-A");
    await git(this.dir, "commit", "-q", "--allow-empty", "-m", message);
    return git(this.dir, "rev-parse", "HEAD");
  }

  /** Appends `count` empty commits to main in one `git fast-import`; returns their ids. */
  async emptyCommits(count: number): Promise<string[]> {
    const head = await git(this.dir, "rev-parse", "HEAD");
    const stamp = `${Date.parse(COMMIT_DATE) / 1000} +0200`;
    let stream = "";
    for (let i = 1; i <= count; i++) {
      const message = `commit ${i}\n`;
      stream += `commit refs/heads/main\nauthor Ada Author <ada@example.test> ${stamp}\n`;
      stream += `committer Cy Committer <cy@example.test> ${stamp}\n`;
      stream += `data ${Buffer.byteLength(message)}\n${message}`;
      if (i === 1) stream += `from ${head}\n`;
      stream += "\n";
    }
    await runChecked("git", ["fast-import", "--quiet"], {
      cwd: this.dir,
      env: gitEnv(),
      input: stream,
    });
    const ids = await git(this.dir, "rev-list", "--reverse", `--max-count=${count}`, "main");
    return ids.split("\n");
  }

  async refs(): Promise<Map<string, string>> {
    const out = await git(
      this.dir,
      "--git-dir",
      this.bare,
      "for-each-ref",
      "--format=%(objectname) %(refname)",
    );
    return new Map(
      out
        .split("\n")
        .filter(Boolean)
        .map((line) => {
          const [sha = "", ref = ""] = line.split(" ");
          return [ref, sha];
        }),
    );
  }

  /** Pushes, then records the push like the git servers do; returns the ref updates. */
  async push(...refspecs: string[]): Promise<RefUpdate[]> {
    const before = await this.refs();
    await git(this.dir, "push", "-q", "--force", "origin", ...refspecs);
    const afterPush = await this.refs();
    const updates: RefUpdate[] = [];
    for (const ref of new Set([...before.keys(), ...afterPush.keys()])) {
      const old = before.get(ref) ?? ZERO;
      const now = afterPush.get(ref) ?? ZERO;
      if (old !== now) updates.push({ ref, before: old, after: now });
    }
    await this.t.forge.ctx.hooks.recordPush({
      projectId: this.project.id,
      userId: this.user.id,
      updates,
    });
    return updates;
  }
}

interface HookEvent {
  id: number;
  trigger: string;
  response_status: string;
  error: string | null;
  request_id: string;
  idempotency_key: string;
  delivery_state: string;
  created_at: string;
  execution_duration: number;
}

const payloadOf = (request: ReceivedHook): PushPayload => JSON.parse(request.body) as PushPayload;

describe("hook deliveries", () => {
  let t: TestForge;
  let owner: TestUser;
  let receiver: HookReceiver;
  let serial = 0;

  const newProject = async (): Promise<TestProject> => t.createProject(owner, `site-${++serial}`);

  const addHook = async (
    project: TestProject,
    body: Record<string, unknown> = {},
    url = `${receiver.url}/p${project.id}`,
  ): Promise<{ id: number }> => {
    const res = await t.api<{ id: number }>("POST", `/projects/${project.id}/hooks`, {
      token: owner.token,
      body: { url, ...body },
    });
    assert.equal(res.status, 201, res.text);
    return res.body;
  };

  const requestsFor = (project: TestProject): ReceivedHook[] =>
    receiver.requests.filter((r) => r.path === `/p${project.id}`);

  const waitForHooks = (project: TestProject, count: number): Promise<ReceivedHook[]> =>
    waitUntil(
      () => (requestsFor(project).length >= count ? requestsFor(project) : undefined),
      `${count} hook request(s) for project ${project.id}`,
    );

  const deliveries = (hookId: number) =>
    t.forge.ctx.db
      .selectFrom("hook_deliveries")
      .selectAll()
      .where("hook_id", "=", hookId)
      .orderBy("id")
      .execute();

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "slipway-hooks-"));
    t = await startTestForge({
      webhooks: { retryDelayMs: 20, initialBackoffMs: 50, maxBackoffMs: 200, timeoutMs: 5000 },
    });
    receiver = await startHookReceiver();
    owner = await t.createUser("pusher");
  });
  after(async () => {
    await receiver.close();
    await t.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it("delivers a Push Hook with GitLab's headers and payload, after the rows are stored", async () => {
    const project = await newProject();
    const hook = await addHook(project, { token: "hook-secret" });
    const wc = await WorkingCopy.clone(t, project, owner);
    const c1 = await wc.commit("Add readme\n\nWith a body.\n", {
      "README.md": "hello\n",
      "old.txt": "x",
    });
    const c2 = await wc.commit("Second change", {
      "README.md": "hello again\n",
      "docs/guide.md": "guide",
      "old.txt": null,
    });
    const recorded = wc.push("main");
    await recorded;
    // recordPush resolved: the delivery row is already committed.
    assert.equal((await deliveries(hook.id)).length, 1);

    const [request] = await waitForHooks(project, 1);
    assert.ok(request);
    assert.equal(request.method, "POST");
    assert.equal(request.headers["content-type"], "application/json");
    assert.equal(request.headers["user-agent"], USER_AGENT);
    assert.equal(request.headers["x-gitlab-event"], "Push Hook");
    assert.equal(request.headers["x-gitlab-token"], "hook-secret");
    assert.equal(request.headers["x-gitlab-instance"], t.forge.ctx.config.publicUrl);
    assert.match(String(request.headers["idempotency-key"]), UUID);
    assert.match(String(request.headers["x-gitlab-event-uuid"]), UUID);
    assert.match(String(request.headers["x-gitlab-webhook-uuid"]), UUID);

    const web = `${t.url}/${project.path_with_namespace}`;
    const ssh = project.ssh_url_to_repo;
    const http = project.http_url_to_repo;
    const projectAttrs = {
      id: project.id,
      name: project.path_with_namespace.split("/")[1],
      description: "",
      web_url: web,
      avatar_url: null,
      git_ssh_url: ssh,
      git_http_url: http,
      namespace: "pusher",
      visibility_level: 0,
      path_with_namespace: project.path_with_namespace,
      default_branch: "main",
      ci_config_path: null,
      homepage: web,
      url: ssh,
      ssh_url: ssh,
      http_url: http,
    };
    const author = { name: "Ada Author", email: "ada@example.test" };
    assert.deepEqual(payloadOf(request), {
      object_kind: "push",
      event_name: "push",
      before: ZERO,
      after: c2,
      ref: "refs/heads/main",
      ref_protected: true,
      checkout_sha: c2,
      message: null,
      user_id: owner.id,
      user_name: "pusher",
      user_username: "pusher",
      user_email: "",
      user_avatar: null,
      project_id: project.id,
      project: projectAttrs,
      commits: [
        {
          id: c1,
          message: "Add readme\n\nWith a body.\n",
          title: "Add readme",
          timestamp: COMMIT_DATE,
          url: `${web}/-/commit/${c1}`,
          author,
          added: ["README.md", "old.txt"],
          modified: [],
          removed: [],
        },
        {
          id: c2,
          message: "Second change\n",
          title: "Second change",
          timestamp: COMMIT_DATE,
          url: `${web}/-/commit/${c2}`,
          author,
          added: ["docs/guide.md"],
          modified: ["README.md"],
          removed: ["old.txt"],
        },
      ],
      total_commits_count: 2,
      push_options: {},
      repository: {
        name: projectAttrs.name,
        url: ssh,
        description: "",
        homepage: web,
        git_http_url: http,
        git_ssh_url: ssh,
        visibility_level: 0,
      },
    });

    // An update lists only the new commits.
    const c3 = await wc.commit("Third", { "docs/guide.md": "v2" });
    await wc.push("main");
    const second = (await waitForHooks(project, 2))[1];
    assert.ok(second);
    const update = payloadOf(second);
    assert.equal(update.before, c2);
    assert.equal(update.after, c3);
    assert.deepEqual(
      update.commits.map((c) => [c.id, c.modified]),
      [[c3, ["docs/guide.md"]]],
    );
    assert.equal(update.total_commits_count, 1);
    assert.notEqual(second.headers["idempotency-key"], request.headers["idempotency-key"]);

    const events = await waitUntil(async () => {
      const res = await t.api<HookEvent[]>(
        "GET",
        `/projects/${project.id}/hooks/${hook.id}/events`,
        {
          token: owner.token,
        },
      );
      return res.body.length === 2 && res.body.every((e) => e.delivery_state === "delivered")
        ? res.body
        : undefined;
    }, "two delivered events");
    assert.equal(events[0]?.request_id, second.headers["x-gitlab-webhook-uuid"], "newest first");
    assert.equal(events[1]?.request_id, request.headers["x-gitlab-webhook-uuid"]);
    assert.equal(events[0]?.trigger, "push_hooks");
    assert.equal(events[0]?.response_status, "200");
    assert.equal(events[0]?.error, null);
  });

  it("sends the newest 20 commits, oldest first, with the real total", async () => {
    const project = await newProject();
    await addHook(project);
    const wc = await WorkingCopy.clone(t, project, owner);
    await wc.commit("first", { f: "1" });
    const ids = await wc.emptyCommits(23);
    await wc.push("main");
    const payload = payloadOf((await waitForHooks(project, 1))[0] as ReceivedHook);
    assert.equal(payload.total_commits_count, 24);
    assert.deepEqual(
      payload.commits.map((c) => c.id),
      ids.slice(3),
    );
  });

  it("lists only commits no other ref had for a new branch; a deleted branch has none", async () => {
    const project = await newProject();
    await addHook(project);
    const wc = await WorkingCopy.clone(t, project, owner);
    const base = await wc.commit("base", { a: "1" });
    await wc.push("main");
    await git(wc.dir, "checkout", "-q", "-b", "feature");
    const feature = await wc.commit("feature work", { b: "2" });
    await wc.push("feature");
    await wc.push("main:refs/heads/copy-of-main");
    await wc.push(":refs/heads/feature");
    const [, created, copy, removed] = (await waitForHooks(project, 4)).map(payloadOf);
    assert.ok(created && copy && removed);
    assert.equal(created.ref, "refs/heads/feature");
    assert.equal(created.ref_protected, false);
    assert.deepEqual(
      created.commits.map((c) => c.id),
      [feature],
    );
    assert.equal(copy.ref, "refs/heads/copy-of-main");
    assert.equal(copy.after, base);
    assert.deepEqual(copy.commits, []);
    assert.equal(copy.total_commits_count, 0);
    assert.equal(removed.ref, "refs/heads/feature");
    assert.equal(removed.after, ZERO);
    assert.equal(removed.checkout_sha, null);
    assert.deepEqual(removed.commits, []);
  });

  it("sends a Tag Push Hook to hooks with tag push events only", async () => {
    const project = await newProject();
    const tagHook = await addHook(project, { push_events: false, tag_push_events: true });
    const pushOnly = await addHook(project, {}, `${receiver.url}/p${project.id}-push-only`);
    const wc = await WorkingCopy.clone(t, project, owner);
    const commit = await wc.commit("release me", { v: "1" });
    await git(wc.dir, "tag", "-a", "v1.0.0", "-m", "Release 1.0.0");
    const tagObject = await git(wc.dir, "rev-parse", "v1.0.0");
    const updates = await wc.push("refs/tags/v1.0.0");
    assert.deepEqual(updates, [{ ref: "refs/tags/v1.0.0", before: ZERO, after: tagObject }]);
    const [request] = await waitForHooks(project, 1);
    assert.ok(request);
    assert.equal(request.headers["x-gitlab-event"], "Tag Push Hook");
    const payload = payloadOf(request);
    assert.equal(payload.object_kind, "tag_push");
    assert.equal(payload.event_name, "tag_push");
    assert.equal(payload.ref, "refs/tags/v1.0.0");
    assert.equal(payload.after, tagObject);
    assert.equal(payload.checkout_sha, commit);
    assert.equal(payload.message, "Release 1.0.0\n");
    assert.equal(payload.ref_protected, false);
    assert.deepEqual(
      payload.commits.map((c) => c.id),
      [commit],
    );
    assert.equal(payload.total_commits_count, 1);
    assert.equal((await deliveries(tagHook.id)).length, 1);
    assert.equal((await deliveries(pushOnly.id)).length, 0);
  });

  it("sends basic auth from the URL's user info and keeps the password out of the log", async () => {
    const project = await newProject();
    const url = `${receiver.url.replace("//", "//deployer:p%40ss@")}/p${project.id}`;
    const hook = await addHook(project, {}, url);
    const wc = await WorkingCopy.clone(t, project, owner);
    await wc.commit("c", { f: "1" });
    await wc.push("main");
    const [request] = await waitForHooks(project, 1);
    assert.equal(
      request?.headers.authorization,
      `Basic ${Buffer.from("deployer:p@ss").toString("base64")}`,
    );
    const events = await waitUntil(async () => {
      const res = await t.api<Array<{ url: string }>>(
        "GET",
        `/projects/${project.id}/hooks/${hook.id}/events`,
        { token: owner.token },
      );
      return res.body.length === 1 ? res : undefined;
    }, "the logged attempt");
    assert.equal(events.body[0]?.url, url.replace("p%40ss", "REDACTED"));
    assert.ok(!events.text.includes("p%40ss"));
  });

  it("honours the branch filter of each strategy", async () => {
    const project = await newProject();
    const wildcard = await addHook(project, { push_events_branch_filter: "release/*" });
    const regex = await addHook(project, {
      push_events_branch_filter: "^(main|hotfix-\\d+)$",
      branch_filter_strategy: "regex",
    });
    const all = await addHook(project, {
      push_events_branch_filter: "nothing",
      branch_filter_strategy: "all_branches",
    });
    const wc = await WorkingCopy.clone(t, project, owner);
    await wc.commit("c", { f: "1" });
    await wc.push("main");
    await wc.push("main:refs/heads/release/1.0");
    await wc.push("main:refs/heads/hotfix-12");
    const refsOf = async (hookId: number): Promise<string[]> =>
      (await deliveries(hookId)).map((d) => (JSON.parse(d.payload) as PushPayload).ref);
    assert.deepEqual(await refsOf(wildcard.id), ["refs/heads/release/1.0"]);
    assert.deepEqual(await refsOf(regex.id), ["refs/heads/main", "refs/heads/hotfix-12"]);
    assert.deepEqual(await refsOf(all.id), [
      "refs/heads/main",
      "refs/heads/release/1.0",
      "refs/heads/hotfix-12",
    ]);
  });

  it("runs no push hooks for more than 3 branches created in one push (GitLab's limit)", async () => {
    const project = await newProject();
    const hook = await addHook(project);
    const wc = await WorkingCopy.clone(t, project, owner);
    await wc.commit("c", { f: "1" });
    await wc.push("main");
    const four = ["a", "b", "c", "d"].map((b) => `main:refs/heads/${b}`);
    const updates = await wc.push(...four);
    assert.equal(updates.length, 4);
    assert.equal((await deliveries(hook.id)).length, 1, "only the first push");
    const three = ["e", "f", "g"].map((b) => `main:refs/heads/${b}`);
    await wc.push(...three);
    assert.equal((await deliveries(hook.id)).length, 4);
  });

  describe("failures", () => {
    it("retries a failing receiver with backoff, then backs the hook off and disables it", async () => {
      const policy = t.forge.ctx.config.webhooks;
      const saved = { ...policy };
      Object.assign(policy, {
        maxAttempts: 10,
        retryDelayMs: 20,
        temporaryDisableAfter: 2,
        permanentDisableAfter: 4,
        initialBackoffMs: 300,
        maxBackoffMs: 400,
      });
      const failing = await startHookReceiver(() => ({ status: 500, body: "boom" }));
      try {
        const project = await newProject();
        const hook = await addHook(project, {}, `${failing.url}/fail`);
        const wc = await WorkingCopy.clone(t, project, owner);
        await wc.commit("c", { f: "1" });
        await wc.push("main");

        // Third consecutive failure: more than temporaryDisableAfter (2) → backed off.
        await failing.waitForRequests(3);
        const backedOff = await waitUntil(async () => {
          const res = await t.api<{ alert_status: string; disabled_until: string | null }>(
            "GET",
            `/projects/${project.id}/hooks/${hook.id}`,
            { token: owner.token },
          );
          return res.body.alert_status === "temporarily_disabled" ? res.body : undefined;
        }, "temporarily_disabled");
        assert.ok(backedOff.disabled_until !== null);

        // Fifth failure: more than permanentDisableAfter (4) → disabled, delivery given up.
        const requests = await failing.waitForRequests(5);
        const [delivery] = await waitUntil(async () => {
          const rows = await deliveries(hook.id);
          return rows[0]?.state === "failed" ? rows : undefined;
        }, "the delivery to fail");
        assert.equal(delivery?.attempts, 5);
        const shown = await t.api<{ alert_status: string }>(
          "GET",
          `/projects/${project.id}/hooks/${hook.id}`,
          { token: owner.token },
        );
        assert.equal(shown.body.alert_status, "disabled");

        const at = requests.map((r) => r.receivedAt);
        const gap = (i: number): number => (at[i] ?? 0) - (at[i - 1] ?? 0);
        assert.ok(gap(1) >= 20, `first retry after ≥ retryDelayMs, got ${gap(1)}`);
        assert.ok(gap(2) >= 40, `second retry after ≥ 2·retryDelayMs, got ${gap(2)}`);
        assert.ok(gap(3) >= 300, `waits for the backoff (${gap(3)} ms)`);
        assert.ok(gap(4) >= 400, `longer backoff, capped (${gap(4)} ms)`);
        assert.equal(new Set(requests.map((r) => r.headers["idempotency-key"])).size, 1);
        assert.equal(new Set(requests.map((r) => r.headers["x-gitlab-webhook-uuid"])).size, 5);
        assert.equal(failing.requests.length, 5, "no attempt after the hook was disabled");

        const page = await t.api<HookEvent[]>(
          "GET",
          `/projects/${project.id}/hooks/${hook.id}/events?per_page=2`,
          { token: owner.token },
        );
        assert.equal(page.headers.get("x-total"), "5");
        assert.equal(page.headers.get("x-next-page"), "2");
        assert.equal(page.body.length, 2);
        assert.equal(page.body[0]?.request_id, requests[4]?.headers["x-gitlab-webhook-uuid"]);
        assert.equal(page.body[0]?.response_status, "500");
        assert.equal(page.body[0]?.delivery_state, "failed");
        const failures = await t.api<HookEvent[]>(
          "GET",
          `/projects/${project.id}/hooks/${hook.id}/events?status=server_failure`,
          { token: owner.token },
        );
        assert.equal(failures.body.length, 5);

        // Disabled: a new push stores nothing for it...
        await wc.commit("more", { f: "2" });
        await wc.push("main");
        assert.equal((await deliveries(hook.id)).length, 1);
        // ...until a successful test call re-enables it.
        failing.respond = () => ({ status: 200, body: "fixed" });
        const test = await t.api(
          "POST",
          `/projects/${project.id}/hooks/${hook.id}/test/push_events`,
          {
            token: owner.token,
          },
        );
        assert.equal(test.status, 201);
        const enabled = await t.api<{ alert_status: string }>(
          "GET",
          `/projects/${project.id}/hooks/${hook.id}`,
          { token: owner.token },
        );
        assert.equal(enabled.body.alert_status, "executable");
      } finally {
        Object.assign(policy, saved);
        await failing.close();
      }
    });

    it("gives a delivery up after maxAttempts, and a success clears the failure count", async () => {
      const policy = t.forge.ctx.config.webhooks;
      const saved = { ...policy };
      Object.assign(policy, { maxAttempts: 3, retryDelayMs: 10, temporaryDisableAfter: 50 });
      const flaky = await startHookReceiver(() => ({ status: 503, body: "busy" }));
      try {
        const project = await newProject();
        const hook = await addHook(project, {}, `${flaky.url}/flaky`);
        const wc = await WorkingCopy.clone(t, project, owner);
        await wc.commit("c", { f: "1" });
        await wc.push("main");
        await waitUntil(async () => (await deliveries(hook.id))[0]?.state === "failed", "give up");
        assert.equal(flaky.requests.length, 3);
        const row = await t.forge.ctx.db
          .selectFrom("hooks")
          .select("recent_failures")
          .where("id", "=", hook.id)
          .executeTakeFirstOrThrow();
        assert.equal(row.recent_failures, 3);

        flaky.respond = () => ({ status: 302, body: "" });
        await wc.commit("c2", { f: "2" });
        await wc.push("main");
        await waitUntil(
          async () => (await deliveries(hook.id))[1]?.state === "delivered",
          "a 3xx counts as delivered",
        );
        const cleared = await t.forge.ctx.db
          .selectFrom("hooks")
          .select("recent_failures")
          .where("id", "=", hook.id)
          .executeTakeFirstOrThrow();
        assert.equal(cleared.recent_failures, 0);
      } finally {
        Object.assign(policy, saved);
        await flaky.close();
      }
    });

    it("refuses a loopback receiver at connect time when local webhooks are not allowed", async () => {
      const project = await newProject();
      const literal = await addHook(project);
      const named = await addHook(
        project,
        {},
        `${receiver.url.replace("127.0.0.1", "localhost")}/p${project.id}`,
      );
      const config = t.forge.ctx.config;
      const policy = config.webhooks;
      const saved = { ...policy };
      Object.assign(policy, { maxAttempts: 1 });
      config.allowLocalWebhooks = false;
      try {
        const wc = await WorkingCopy.clone(t, project, owner);
        await wc.commit("c", { f: "1" });
        await wc.push("main");
        for (const hook of [literal, named]) {
          const [event] = await waitUntil(async () => {
            const res = await t.api<HookEvent[]>(
              "GET",
              `/projects/${project.id}/hooks/${hook.id}/events`,
              { token: owner.token },
            );
            return res.body.length > 0 ? res.body : undefined;
          }, "the refused attempt");
          assert.equal(event?.response_status, "internal error");
          assert.match(
            event?.error ?? "",
            /^refused: (127\.0\.0\.1|localhost) is a loopback address; an operator may allow this receiver with SLIPWAY_FORGE_ALLOWED_WEBHOOK_HOSTS=<host>:<port>$/,
          );
        }
        assert.equal(requestsFor(project).length, 0, "nothing reached the receiver");
      } finally {
        config.allowLocalWebhooks = true;
        Object.assign(policy, saved);
      }
    });
  });
});

describe("hook deliveries across a restart", () => {
  let dataDir: string;
  let receiver: HookReceiver;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "slipway-hooks-restart-"));
    dataDir = join(scratch, "forge");
    receiver = await startHookReceiver();
  });
  after(async () => {
    await receiver.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it("resumes a pending delivery after a restart, with the same Idempotency-Key", async () => {
    receiver.respond = () => ({ status: 500, body: "down for now" });
    const first = await startTestForge({ dataDir, webhooks: { retryDelayMs: 400 } });
    let project: TestProject;
    let hookId: number;
    try {
      const owner = await first.createUser("restarter");
      project = await first.createProject(owner, "durable");
      const hook = await first.api<{ id: number }>("POST", `/projects/${project.id}/hooks`, {
        token: owner.token,
        body: { url: `${receiver.url}/durable` },
      });
      hookId = hook.body.id;
      const wc = await WorkingCopy.clone(first, project, owner);
      await wc.commit("c", { f: "1" });
      await wc.push("main");
      await receiver.waitForRequests(1);
    } finally {
      await first.stop();
    }
    receiver.respond = () => ({ status: 200, body: "ok" });
    const second = await startTestForge({ dataDir, webhooks: { retryDelayMs: 400 } });
    try {
      const requests = await receiver.waitForRequests(2);
      assert.equal(
        requests[1]?.headers["idempotency-key"],
        requests[0]?.headers["idempotency-key"],
      );
      assert.notEqual(
        requests[1]?.headers["x-gitlab-webhook-uuid"],
        requests[0]?.headers["x-gitlab-webhook-uuid"],
      );
      await waitUntil(async () => {
        const row = await second.forge.ctx.db
          .selectFrom("hook_deliveries")
          .select("state")
          .where("hook_id", "=", hookId)
          .executeTakeFirst();
        return row?.state === "delivered";
      }, "delivered after the restart");
    } finally {
      await second.stop();
    }
  });

  it("stops cleanly mid-send and sends again after the restart", async () => {
    receiver.requests.length = 0;
    receiver.respond = () => "hang";
    const first = await startTestForge({ dataDir });
    let projectId: number;
    try {
      const owner = await first.createUser("hanger");
      const project = await first.createProject(owner, "hanging");
      projectId = project.id;
      await first.api("POST", `/projects/${project.id}/hooks`, {
        token: owner.token,
        body: { url: `${receiver.url}/hang` },
      });
      const wc = await WorkingCopy.clone(first, project, owner);
      await wc.commit("c", { f: "1" });
      await wc.push("main");
      await receiver.waitForRequests(1);
    } finally {
      const started = Date.now();
      await first.stop();
      assert.ok(Date.now() - started < 5000, "stop() does not wait for the receiver's timeout");
    }
    receiver.respond = () => ({ status: 200, body: "ok" });
    const second = await startTestForge({ dataDir });
    try {
      await receiver.waitForRequests(2);
      const attempts = await waitUntil(async () => {
        const rows = await second.forge.ctx.db
          .selectFrom("hook_attempts as a")
          .innerJoin("hook_deliveries as d", "d.id", "a.delivery_id")
          .innerJoin("hooks as h", "h.id", "d.hook_id")
          .select(["a.error", "a.response_status", "d.state", "d.attempts"])
          .where("h.project_id", "=", projectId)
          .orderBy("a.id")
          .execute();
        return rows.length === 2 && rows[1]?.state === "delivered" ? rows : undefined;
      }, "the resent delivery");
      assert.match(attempts[0]?.error ?? "", /^aborted: the forge stopped/);
      assert.equal(attempts[1]?.response_status, 200);
      assert.equal(attempts[1]?.attempts, 1, "an aborted attempt does not count");
    } finally {
      await second.stop();
    }
  });
});
