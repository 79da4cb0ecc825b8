import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { Gitlab } from "@gitbeaker/rest";
import {
  startHookReceiver,
  startTestForge,
  type HookReceiver,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../../test/helpers/forge.ts";

type HookJson = Record<string, unknown> & { id: number };

/** GitLab's ProjectHook entity keys (the shared examples' schema). */
const HOOK_KEYS = [
  "id",
  "url",
  "name",
  "description",
  "created_at",
  "push_events",
  "tag_push_events",
  "merge_requests_events",
  "repository_update_events",
  "enable_ssl_verification",
  "alert_status",
  "disabled_until",
  "url_variables",
  "push_events_branch_filter",
  "branch_filter_strategy",
  "custom_webhook_template",
  "custom_headers",
  "project_id",
  "issues_events",
  "confidential_issues_events",
  "note_events",
  "confidential_note_events",
  "pipeline_events",
  "wiki_page_events",
  "deployment_events",
  "feature_flag_events",
  "job_events",
  "releases_events",
  "milestone_events",
  "emoji_events",
  "resource_access_token_events",
  "resource_deploy_token_events",
  "vulnerability_events",
].sort();

const UNSUPPORTED_EVENTS = [
  "issues_events",
  "confidential_issues_events",
  "note_events",
  "confidential_note_events",
  "pipeline_events",
  "wiki_page_events",
  "deployment_events",
  "feature_flag_events",
  "job_events",
  "releases_events",
  "emoji_events",
  "repository_update_events",
];

describe("project hooks API", () => {
  let t: TestForge;
  let owner: TestUser;
  let maintainer: TestUser;
  let developer: TestUser;
  let outsider: TestUser;
  let project: TestProject;
  let receiver: HookReceiver;
  let base: string;

  const hookCount = async (): Promise<number> => {
    const row = await t.forge.ctx.db
      .selectFrom("hooks")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("project_id", "=", project.id)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  };

  const addHook = async (body: Record<string, unknown> = {}): Promise<HookJson> => {
    const res = await t.api<HookJson>("POST", `${base}/hooks`, {
      token: maintainer.token,
      body: { url: `${receiver.url}/hook`, ...body },
    });
    assert.equal(res.status, 201, res.text);
    return res.body;
  };

  const storedToken = async (hookId: number): Promise<string | null> => {
    const row = await t.forge.ctx.db
      .selectFrom("hooks")
      .select("token_sealed")
      .where("id", "=", hookId)
      .executeTakeFirstOrThrow();
    return row.token_sealed === null ? null : t.forge.ctx.secrets.open(row.token_sealed);
  };

  before(async () => {
    t = await startTestForge();
    receiver = await startHookReceiver();
    owner = await t.createUser("hook-owner");
    maintainer = await t.createUser("hook-maintainer");
    developer = await t.createUser("hook-developer");
    outsider = await t.createUser("hook-outsider");
    project = await t.createProject(owner, "hooked");
    base = `/projects/${project.id}`;
    for (const [user, level] of [
      [maintainer, 40],
      [developer, 30],
    ] as const) {
      const res = await t.api("POST", `${base}/members`, {
        token: owner.token,
        body: { user_id: user.id, access_level: level },
      });
      assert.equal(res.status, 201, res.text);
    }
  });
  after(async () => {
    await receiver.close();
    await t.stop();
  });
  beforeEach(() => {
    receiver.respond = () => ({ status: 200, body: "ok" });
  });

  describe("GET /projects/:id/hooks", () => {
    it("lists the hooks for a maintainer, with pagination headers and GitLab's schema", async () => {
      const created = await addHook({ token: "list-secret" });
      const res = await t.api<HookJson[]>("GET", `${base}/hooks`, { token: maintainer.token });
      assert.equal(res.status, 200);
      for (const header of ["x-total", "x-total-pages", "x-per-page", "x-page", "link"]) {
        assert.ok(res.headers.has(header), header);
      }
      const listed = res.body.find((h) => h.id === created.id);
      assert.ok(listed);
      assert.deepEqual(Object.keys(listed).sort(), HOOK_KEYS);
      assert.ok(!("token" in listed));
      assert.ok(!res.text.includes("list-secret"));
    });

    it("answers 403 to a developer, 401 to anonymous, 404 to a non-member", async () => {
      const dev = await t.api("GET", `${base}/hooks`, { token: developer.token });
      assert.equal(dev.status, 403);
      assert.deepEqual(dev.body, { message: "403 Forbidden" });
      const anon = await t.api("GET", `${base}/hooks`, { token: null });
      assert.equal(anon.status, 401);
      assert.deepEqual(anon.body, { message: "401 Unauthorized" });
      const stranger = await t.api("GET", `${base}/hooks`, { token: outsider.token });
      assert.equal(stranger.status, 404);
      assert.deepEqual(stranger.body, { message: "404 Project Not Found" });
    });
  });

  describe("GET /projects/:id/hooks/:hook_id", () => {
    it("returns a hook with its url; an unknown id is 404", async () => {
      const hook = await addHook();
      const res = await t.api<HookJson>("GET", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
      });
      assert.equal(res.status, 200);
      assert.equal(res.body.url, `${receiver.url}/hook`);
      assert.equal(res.body.alert_status, "executable");
      assert.equal(res.body.disabled_until, null);
      const missing = await t.api("GET", `${base}/hooks/${hook.id + 1000}`, {
        token: maintainer.token,
      });
      assert.equal(missing.status, 404);
      assert.deepEqual(missing.body, { message: "404 Not found" });
    });

    it("shows alert_status disabled past the permanent threshold", async () => {
      const hook = await addHook();
      const policy = t.forge.ctx.config.webhooks;
      await t.forge.ctx.db
        .updateTable("hooks")
        .set({ recent_failures: policy.permanentDisableAfter + 1 })
        .where("id", "=", hook.id)
        .execute();
      const res = await t.api<HookJson>("GET", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
      });
      assert.equal(res.body.alert_status, "disabled");
    });

    it("shows temporarily_disabled and disabled_until (ISO 8601, milliseconds) when backed off", async () => {
      const hook = await addHook();
      const until = new Date(Date.now() + 60_000).toISOString();
      await t.forge.ctx.db
        .updateTable("hooks")
        .set({
          recent_failures: t.forge.ctx.config.webhooks.temporaryDisableAfter + 1,
          disabled_until: until,
        })
        .where("id", "=", hook.id)
        .execute();
      const res = await t.api<HookJson>("GET", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
      });
      assert.equal(res.body.alert_status, "temporarily_disabled");
      assert.equal(res.body.disabled_until, until);
      assert.match(String(res.body.disabled_until), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    });

    it("answers 403 to a developer and 401 to anonymous", async () => {
      const hook = await addHook();
      assert.equal(
        (await t.api("GET", `${base}/hooks/${hook.id}`, { token: developer.token })).status,
        403,
      );
      assert.equal((await t.api("GET", `${base}/hooks/${hook.id}`, { token: null })).status, 401);
    });
  });

  describe("POST /projects/:id/hooks", () => {
    it("creates a hook with every event flag; supported ones are echoed, no token key", async () => {
      const events = Object.fromEntries(
        [
          "push_events",
          "tag_push_events",
          "merge_requests_events",
          "enable_ssl_verification",
          ...UNSUPPORTED_EVENTS,
        ].map((k) => [k, true]),
      );
      const res = await t.api<HookJson>("POST", `${base}/hooks`, {
        token: maintainer.token,
        body: {
          url: "http://example.com/all",
          name: "all events",
          description: "every flag",
          push_events_branch_filter: "some-branch",
          token: "s3cret",
          ...events,
        },
      });
      assert.equal(res.status, 201, res.text);
      const hook = res.body;
      assert.equal(hook.url, "http://example.com/all");
      assert.equal(hook.name, "all events");
      assert.equal(hook.description, "every flag");
      assert.equal(hook.project_id, project.id);
      assert.equal(hook.push_events, true);
      assert.equal(hook.tag_push_events, true);
      assert.equal(hook.merge_requests_events, true);
      assert.equal(hook.enable_ssl_verification, true);
      assert.equal(hook.push_events_branch_filter, "some-branch");
      assert.equal(hook.branch_filter_strategy, "wildcard");
      assert.deepEqual(hook.url_variables, []);
      assert.deepEqual(hook.custom_headers, []);
      // The forge never emits these events, so it reports them off.
      for (const flag of UNSUPPORTED_EVENTS) assert.equal(hook[flag], false, flag);
      assert.ok(!("token" in hook));
      assert.equal(await storedToken(hook.id), "s3cret");
    });

    it("stores a token sealed, never in clear in the database", async () => {
      const hook = await addHook({ token: "plain-token-value" });
      const row = await t.forge.ctx.db
        .selectFrom("hooks")
        .select("token_sealed")
        .where("id", "=", hook.id)
        .executeTakeFirstOrThrow();
      assert.ok(row.token_sealed && !row.token_sealed.includes("plain-token-value"));
      assert.equal(await storedToken(hook.id), "plain-token-value");
    });

    it("defaults to push events only and SSL verification on", async () => {
      const res = await t.api<HookJson>("POST", `${base}/hooks`, {
        token: maintainer.token,
        body: { url: "http://mep.mep" },
      });
      assert.equal(res.status, 201);
      assert.equal(res.body.enable_ssl_verification, true);
      assert.equal(res.body.push_events, true);
      for (const flag of ["tag_push_events", "merge_requests_events", ...UNSUPPORTED_EVENTS]) {
        assert.equal(res.body[flag], false, flag);
      }
    });

    it("accepts a form-encoded body as GitLab does", async () => {
      const res = await t.api<HookJson>("POST", `${base}/hooks`, {
        token: maintainer.token,
        body: "url=http%3A%2F%2Fexample.com%2Fform&push_events=false&tag_push_events=true",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.push_events, false);
      assert.equal(res.body.tag_push_events, true);
    });

    it("refuses a missing url or no parameters with 400", async () => {
      const noUrl = await t.api("POST", `${base}/hooks`, {
        token: maintainer.token,
        body: { push_events: true },
      });
      assert.equal(noUrl.status, 400);
      assert.deepEqual(noUrl.body, { error: "url is missing" });
      const empty = await t.api("POST", `${base}/hooks`, { token: maintainer.token, body: {} });
      assert.equal(empty.status, 400);
      assert.deepEqual(empty.body, { error: "url is missing" });
      const bodyless = await t.api("POST", `${base}/hooks`, { token: maintainer.token });
      assert.equal(bodyless.status, 400);
      assert.deepEqual(bodyless.body, { error: "url is missing" });
    });

    it("refuses a token with a newline and a non-http url with 422", async () => {
      const before = await hookCount();
      const token = await t.api("POST", `${base}/hooks`, {
        token: maintainer.token,
        body: { url: "http://example.com", token: "aaa\nbbb" },
      });
      assert.equal(token.status, 422);
      assert.deepEqual(token.body, { error: "Token is invalid" });
      for (const url of ["ftp://example.com", "javascript:alert(1)", "file:///etc/passwd", ""]) {
        const res = await t.api("POST", `${base}/hooks`, {
          token: maintainer.token,
          body: { url },
        });
        assert.equal(res.status, 422, url);
        assert.deepEqual(res.body, { error: "Invalid url given" }, url);
      }
      assert.equal(await hookCount(), before);
    });

    it("refuses loopback and private literal hosts unless local webhooks are allowed", async () => {
      const config = t.forge.ctx.config;
      config.allowLocalWebhooks = false;
      try {
        for (const url of [
          "http://127.0.0.1:9/x",
          "http://[::1]/x",
          "http://169.254.169.254/latest/meta-data",
          "http://10.0.0.5/",
          "http://0.0.0.0/",
          "http://[::ffff:127.0.0.1]/",
          "http://2130706433/",
          "http://localhost:8080/",
        ]) {
          const res = await t.api("POST", `${base}/hooks`, {
            token: maintainer.token,
            body: { url },
          });
          assert.equal(res.status, 422, url);
          assert.deepEqual(res.body, { error: "Invalid url given" }, url);
        }
        const publicUrl = await t.api("POST", `${base}/hooks`, {
          token: maintainer.token,
          body: { url: "https://hooks.example.com/x" },
        });
        assert.equal(publicUrl.status, 201);
      } finally {
        config.allowLocalWebhooks = true;
      }
      const local = await t.api("POST", `${base}/hooks`, {
        token: maintainer.token,
        body: { url: "http://127.0.0.1:9/x" },
      });
      assert.equal(local.status, 201);
    });

    it("is refused to a developer (403) and to anonymous (401)", async () => {
      const before = await hookCount();
      const dev = await t.api("POST", `${base}/hooks`, {
        token: developer.token,
        body: { url: "http://example.com" },
      });
      assert.equal(dev.status, 403);
      const anon = await t.api("POST", `${base}/hooks`, {
        token: null,
        body: { url: "http://example.com" },
      });
      assert.equal(anon.status, 401);
      assert.equal(await hookCount(), before);
    });
  });

  describe("PUT /projects/:id/hooks/:hook_id", () => {
    it("updates the given attributes and echoes them", async () => {
      const hook = await addHook();
      const res = await t.api<HookJson>("PUT", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
        body: {
          name: "renamed",
          description: "now with a description",
          push_events: false,
          tag_push_events: true,
          job_events: true,
          push_events_branch_filter: "production",
        },
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.name, "renamed");
      assert.equal(res.body.description, "now with a description");
      assert.equal(res.body.push_events, false);
      assert.equal(res.body.tag_push_events, true);
      assert.equal(res.body.job_events, false, "job events are not emitted by the forge");
      assert.equal(res.body.push_events_branch_filter, "production");
      assert.equal(res.body.url, hook.url);
    });

    it("sets a new url and token (not returned); a new url without a token drops it", async () => {
      const hook = await addHook({ token: "first" });
      const res = await t.api<HookJson>("PUT", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
        body: { url: "http://example.com/new", token: "second" },
      });
      assert.equal(res.status, 200);
      assert.equal(res.body.url, "http://example.com/new");
      assert.ok(!("token" in res.body));
      assert.equal(await storedToken(hook.id), "second");

      const sameUrl = await t.api("PUT", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
        body: { url: "http://example.com/new", name: "keeps token" },
      });
      assert.equal(sameUrl.status, 200);
      assert.equal(await storedToken(hook.id), "second");

      const moved = await t.api("PUT", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
        body: { url: "http://example.com/elsewhere" },
      });
      assert.equal(moved.status, 200);
      assert.equal(await storedToken(hook.id), null);
    });

    it("answers 404 for an unknown hook and 400 with no parameters", async () => {
      const hook = await addHook();
      const missing = await t.api("PUT", `${base}/hooks/${hook.id + 1000}`, {
        token: maintainer.token,
        body: { url: "http://example.com" },
      });
      assert.equal(missing.status, 404);
      for (const body of [undefined, {}, { unknown_param: 1 }]) {
        const none = await t.api("PUT", `${base}/hooks/${hook.id}`, {
          token: maintainer.token,
          body,
        });
        assert.equal(none.status, 400);
        assert.deepEqual(none.body, { error: "No parameters provided" });
      }
    });

    it("refuses a non-http url and a token with a newline with 422", async () => {
      const hook = await addHook();
      const ftp = await t.api("PUT", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
        body: { url: "ftp://example.com" },
      });
      assert.equal(ftp.status, 422);
      assert.deepEqual(ftp.body, { error: "Invalid url given" });
      const token = await t.api("PUT", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
        body: { token: "a\nb" },
      });
      assert.equal(token.status, 422);
      assert.deepEqual(token.body, { message: { token: ["is invalid"] } });
      const unchanged = await t.api<HookJson>("GET", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
      });
      assert.equal(unchanged.body.url, hook.url);
    });

    it("is refused to a developer", async () => {
      const hook = await addHook();
      const res = await t.api("PUT", `${base}/hooks/${hook.id}`, {
        token: developer.token,
        body: { name: "nope" },
      });
      assert.equal(res.status, 403);
    });
  });

  describe("DELETE /projects/:id/hooks/:hook_id", () => {
    it("deletes a hook (204, one fewer); an unknown id is 404", async () => {
      const hook = await addHook();
      const before = await hookCount();
      const res = await t.api("DELETE", `${base}/hooks/${hook.id}`, { token: maintainer.token });
      assert.equal(res.status, 204);
      assert.equal(res.text, "");
      assert.equal(await hookCount(), before - 1);
      const again = await t.api("DELETE", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
      });
      assert.equal(again.status, 404);
    });

    it("answers 404 without a hook id", async () => {
      const res = await t.api("DELETE", `${base}/hooks`, { token: maintainer.token });
      assert.equal(res.status, 404);
    });

    it("is refused to a developer and the hook is kept", async () => {
      const hook = await addHook();
      const before = await hookCount();
      const res = await t.api("DELETE", `${base}/hooks/${hook.id}`, { token: developer.token });
      assert.equal(res.status, 403);
      assert.equal(await hookCount(), before);
    });

    it("honours If-Unmodified-Since: 412 when the hook changed after it, 204 otherwise", async () => {
      const hook = await addHook();
      const stale = await t.api("DELETE", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
        headers: { "if-unmodified-since": "1990-01-12T00:00:48-0600" },
      });
      assert.equal(stale.status, 412);
      assert.deepEqual(stale.body, { message: "412 Precondition Failed" });
      assert.equal(
        (await t.api("GET", `${base}/hooks/${hook.id}`, { token: maintainer.token })).status,
        200,
      );
      const fresh = await t.api("DELETE", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
        headers: { "if-unmodified-since": new Date().toUTCString() },
      });
      assert.equal(fresh.status, 204);
      assert.equal(fresh.text, "");
    });
  });

  describe("branch filter", () => {
    it("defaults to the wildcard strategy and echoes a regex strategy", async () => {
      const wildcard = await addHook({ push_events_branch_filter: "some-wildcard" });
      assert.equal(wildcard.branch_filter_strategy, "wildcard");
      assert.equal(wildcard.push_events_branch_filter, "some-wildcard");
      const regex = await addHook({
        push_events_branch_filter: "^release/\\d+$",
        branch_filter_strategy: "regex",
      });
      assert.equal(regex.branch_filter_strategy, "regex");
      assert.equal(regex.push_events_branch_filter, "^release/\\d+$");
      // Valid RE2, which never backtracks: GitLab takes it, and so does the forge.
      const nested = await addHook({
        push_events_branch_filter: "^(a+)+$",
        branch_filter_strategy: "regex",
      });
      assert.equal(nested.push_events_branch_filter, "^(a+)+$");
      const all = await addHook({
        push_events_branch_filter: "ignored",
        branch_filter_strategy: "all_branches",
      });
      assert.equal(all.branch_filter_strategy, "all_branches");
      assert.equal(all.push_events_branch_filter, null);
    });

    it("refuses an unknown strategy (400) and an invalid filter (422)", async () => {
      const bad = await t.api("POST", `${base}/hooks`, {
        token: maintainer.token,
        body: { url: "http://example.com", branch_filter_strategy: "bla" },
      });
      assert.equal(bad.status, 400);
      assert.deepEqual(bad.body, { error: "branch_filter_strategy does not have a valid value" });
      for (const [filter, strategy] of [
        ["~badbranchname/", "wildcard"],
        ["(unclosed", "regex"],
        ["(?=main)", "regex"],
        ["a{1000}".repeat(11), "regex"],
      ]) {
        const res = await t.api("POST", `${base}/hooks`, {
          token: maintainer.token,
          body: {
            url: "http://example.com",
            push_events_branch_filter: filter,
            branch_filter_strategy: strategy,
          },
        });
        assert.equal(res.status, 422, filter);
        assert.deepEqual(res.body, { error: "Invalid branch filter given" });
      }
      const hook = await addHook();
      const put = await t.api("PUT", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
        body: { push_events_branch_filter: "~badbranchname/" },
      });
      assert.equal(put.status, 422);
      assert.deepEqual(put.body, { error: "Invalid branch filter given" });
    });
  });

  describe("POST /projects/:id/hooks/:hook_id/test/:trigger", () => {
    it("sends a sample push (201) and records it in the hook's events", async () => {
      const hook = await addHook({ token: "test-secret" });
      const before = receiver.requests.length;
      const res = await t.api("POST", `${base}/hooks/${hook.id}/test/push_events`, {
        token: maintainer.token,
      });
      assert.equal(res.status, 201, res.text);
      const request = receiver.requests[before];
      assert.ok(request);
      assert.equal(request.path, "/hook");
      assert.equal(request.headers["x-gitlab-event"], "Push Hook");
      assert.equal(request.headers["x-gitlab-token"], "test-secret");
      const sample = JSON.parse(request.body) as Record<string, unknown>;
      assert.equal(sample.object_kind, "push");
      assert.equal(sample.ref, "refs/heads/main");
      assert.deepEqual(sample.commits, []);

      const events = await t.api<Array<Record<string, unknown>>>(
        "GET",
        `${base}/hooks/${hook.id}/events`,
        { token: maintainer.token },
      );
      assert.equal(events.status, 200);
      assert.equal(events.headers.get("x-total"), "1");
      const [event] = events.body;
      assert.ok(event);
      assert.equal(event.trigger, "push_hooks");
      assert.equal(event.response_status, "200");
      // The receiver is on a loopback address the test allowed: its answer is not kept.
      assert.equal(event.response_body, "");
      assert.equal(event.request_id, request.headers["x-gitlab-webhook-uuid"]);
      assert.deepEqual(
        (event.request_headers as Record<string, string>)["X-Gitlab-Token"],
        "[REDACTED]",
      );
      assert.ok(!events.text.includes("test-secret"));

      const filtered = async (status: string): Promise<number> => {
        const res = await t.api<unknown[]>(
          "GET",
          `${base}/hooks/${hook.id}/events?status=${status}`,
          { token: maintainer.token },
        );
        assert.equal(res.status, 200, res.text);
        return res.body.length;
      };
      assert.equal(await filtered("200"), 1);
      assert.equal(await filtered("successful"), 1);
      assert.equal(await filtered("500"), 0);
      assert.equal(await filtered("client_failure"), 0);
      const bogus = await t.api("GET", `${base}/hooks/${hook.id}/events?status=bogus`, {
        token: maintainer.token,
      });
      assert.equal(bogus.status, 400);
      const devEvents = await t.api("GET", `${base}/hooks/${hook.id}/events`, {
        token: developer.token,
      });
      assert.equal(devEvents.status, 403);
    });

    it("answers 422 when the receiver answers an error, without a local receiver's body", async () => {
      const hook = await addHook();
      receiver.respond = () => ({ status: 400, body: "Error response" });
      const res = await t.api("POST", `${base}/hooks/${hook.id}/test/push_events`, {
        token: maintainer.token,
      });
      assert.equal(res.status, 422);
      // GitLab shows a public receiver's body; a local one's could be an internal service's.
      assert.deepEqual(res.body, { message: "HTTP 400" });
    });

    it("reaches exactly the local hosts the operator allowed; another loopback address never sees a connection", async () => {
      const other = await startHookReceiver();
      const { createServer } = await import("node:net");
      let connections = 0;
      const bystander = createServer((socket) => {
        connections++;
        socket.destroy();
      });
      await new Promise<void>((resolve) => bystander.listen(0, "127.0.0.2", resolve));
      const bystanderPort = (bystander.address() as { port: number }).port;
      const config = t.forge.ctx.config;
      config.allowLocalWebhooks = false;
      config.allowedWebhookHosts = [new URL(receiver.url).host];
      try {
        const allowed = await addHook();
        const before = receiver.requests.length;
        const ok = await t.api("POST", `${base}/hooks/${allowed.id}/test/push_events`, {
          token: maintainer.token,
        });
        assert.equal(ok.status, 201, ok.text);
        assert.equal(receiver.requests.length, before + 1);

        for (const url of [`http://127.0.0.2:${bystanderPort}/x`, `${other.url}/hook`]) {
          const refused = await t.api("POST", `${base}/hooks`, {
            token: maintainer.token,
            body: { url },
          });
          assert.equal(refused.status, 422, url);
          assert.deepEqual(refused.body, { error: "Invalid url given" });
        }

        // A hook saved while its address was allowed is refused when it no longer is.
        config.allowedWebhookHosts = [`127.0.0.2:${bystanderPort}`];
        const saved = await t.api<{ id: number }>("POST", `${base}/hooks`, {
          token: maintainer.token,
          body: { url: `http://127.0.0.2:${bystanderPort}/x` },
        });
        assert.equal(saved.status, 201, saved.text);
        config.allowedWebhookHosts = [];
        const blocked = await t.api<{ message: string }>(
          "POST",
          `${base}/hooks/${saved.body.id}/test/push_events`,
          { token: maintainer.token },
        );
        assert.equal(blocked.status, 422);
        assert.match(blocked.body.message, /refused: .*SLIPWAY_FORGE_ALLOWED_WEBHOOK_HOSTS/);
        assert.equal(connections, 0, "the bystander on 127.0.0.2 was never connected to");
        assert.equal(other.requests.length, 0);
      } finally {
        config.allowLocalWebhooks = true;
        config.allowedWebhookHosts = [];
        await other.close();
        await new Promise((resolve) => bystander.close(resolve));
      }
    });

    it("refuses an unknown trigger (400) and explains triggers it has no data for (422)", async () => {
      const hook = await addHook();
      const res = await t.api("POST", `${base}/hooks/${hook.id}/test/xyz`, {
        token: maintainer.token,
      });
      assert.equal(res.status, 400);
      assert.deepEqual(res.body, { error: "trigger does not have a valid value" });
      const mr = await t.api("POST", `${base}/hooks/${hook.id}/test/merge_requests_events`, {
        token: maintainer.token,
      });
      assert.equal(mr.status, 422);
      assert.deepEqual(mr.body, { message: "Ensure the project has merge requests." });
    });

    it("re-enables a disabled hook when the test succeeds", async () => {
      const hook = await addHook();
      await t.forge.ctx.db
        .updateTable("hooks")
        .set({ recent_failures: t.forge.ctx.config.webhooks.permanentDisableAfter + 1 })
        .where("id", "=", hook.id)
        .execute();
      receiver.respond = () => ({ status: 500, body: "still down" });
      const failing = await t.api("POST", `${base}/hooks/${hook.id}/test/push_events`, {
        token: maintainer.token,
      });
      assert.equal(failing.status, 422);
      const stillDisabled = await t.api<HookJson>("GET", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
      });
      assert.equal(stillDisabled.body.alert_status, "disabled");

      receiver.respond = () => ({ status: 200, body: "back" });
      const ok = await t.api("POST", `${base}/hooks/${hook.id}/test/push_events`, {
        token: maintainer.token,
      });
      assert.equal(ok.status, 201);
      const enabled = await t.api<HookJson>("GET", `${base}/hooks/${hook.id}`, {
        token: maintainer.token,
      });
      assert.equal(enabled.body.alert_status, "executable");
    });

    it("is refused to a developer", async () => {
      const hook = await addHook();
      const res = await t.api("POST", `${base}/hooks/${hook.id}/test/push_events`, {
        token: developer.token,
      });
      assert.equal(res.status, 403);
    });
  });

  describe("@gitbeaker/rest ProjectHooks", () => {
    it("adds, lists, shows, edits and removes a hook", async () => {
      const api = new Gitlab({ host: t.url, token: maintainer.token });
      const created = await api.ProjectHooks.add(project.id, "http://example.com/gitbeaker", {
        pushEvents: true,
        tagPushEvents: true,
        pushEventsBranchFilter: "main",
        token: "gb-secret",
      });
      assert.equal(created.url, "http://example.com/gitbeaker");
      assert.equal(created.tag_push_events, true);
      assert.equal(created.push_events_branch_filter, "main");
      assert.ok(!("token" in created));

      const all = await api.ProjectHooks.all(project.id, { perPage: 2 });
      assert.ok(all.some((h) => h.id === created.id));
      assert.equal(all.length, await hookCount(), "follows Link rel=next across pages");

      const shown = await api.ProjectHooks.show(project.id, created.id);
      assert.equal(shown.id, created.id);

      const edited = await api.ProjectHooks.edit(
        project.id,
        created.id,
        "http://example.com/gitbeaker",
        { pushEvents: false },
      );
      assert.equal(edited.push_events, false);
      assert.equal(await storedToken(created.id), "gb-secret", "same url keeps the token");

      await api.ProjectHooks.remove(project.id, created.id);
      await assert.rejects(api.ProjectHooks.show(project.id, created.id), (error: Error) => {
        assert.match(error.message, /404 Not found/);
        return true;
      });
    });

    it("surfaces GitLab's error for an invalid url", async () => {
      const api = new Gitlab({ host: t.url, token: maintainer.token });
      await assert.rejects(
        api.ProjectHooks.add(project.id, "ftp://example.com"),
        (error: Error) => {
          assert.equal(error.message, "Invalid url given");
          return true;
        },
      );
    });
  });
});
