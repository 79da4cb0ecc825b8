import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { assertSpecResponse } from "../../../../test/helpers/open-api.ts";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";
import { createSite, type SiteBody } from "../../../../test/helpers/sites.ts";

interface HookBody {
  id: string;
  site_id: string;
  type: string;
  event: string;
  data: Record<string, unknown>;
  disabled: boolean;
  created_at: string;
  updated_at: string;
}

interface HookTypeBody {
  name: string;
  events: string[];
  fields: Array<{ name: string }>;
}

const SECRET = "jws-secret-never-shown-0123456789";
const SLACK_URL = "https://hooks.slack.com/services/T000/B000/slack-capability-token";

describe("deploy notification hooks (/api/v1/hooks)", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let bob: Tenant;
  let site: SiteBody;

  const create = async (body: unknown, siteId = site.id): Promise<HookBody> => {
    const res = await t.api<HookBody>("POST", `/hooks?site_id=${siteId}`, {
      token: alice.token,
      body,
    });
    assert.equal(res.status, 201, res.text);
    assertSpecResponse("createHookBySiteId", 201, res.body);
    return res.body;
  };

  before(async () => {
    t = await startTestPlatform({
      platform: { buildWorkers: false },
      config: {
        notifications: {
          smtpUrl: "smtp://127.0.0.1:2525",
          smtpFrom: undefined,
          allowedPrivateHosts: ["127.0.0.1:8099"],
        },
      },
    });
    alice = await t.createTenant("alice");
    bob = await t.createTenant("bob");
    site = await createSite(t, alice.token, { name: "notified" });
  });
  after(() => t.stop());

  it("lists the hook types with Netlify's event names", async () => {
    const res = await t.api<HookTypeBody[]>("GET", "/hooks/types", { token: alice.token });
    assert.equal(res.status, 200, res.text);
    assertSpecResponse("listHookTypes", 200, res.body);
    assert.deepEqual(
      res.body.map((type) => type.name),
      ["url", "slack", "email"],
    );
    for (const type of res.body) {
      for (const event of [
        "deploy_created",
        "deploy_building",
        "deploy_failed",
        "deploy_succeeded",
      ]) {
        assert.ok(type.events.includes(event), `${type.name}: ${event}`);
      }
    }
    const url = res.body.find((type) => type.name === "url")!;
    assert.deepEqual(
      url.fields.map((field) => field.name),
      ["url", "signature_secret"],
    );
  });

  it("creates, lists, shows, updates and deletes hooks, never showing their secrets", async () => {
    const hook = await create({
      type: "url",
      event: "deploy_succeeded",
      data: { url: "https://receiver.example/netlify", signature_secret: SECRET },
    });
    assert.match(hook.id, /^[0-9a-f]{24}$/);
    assert.equal(hook.site_id, site.id);
    assert.equal(hook.disabled, false);
    assert.deepEqual(hook.data, {
      url: "https://receiver.example/netlify",
      has_signature_secret: true,
    });
    const slack = await create({ type: "slack", event: "deploy_failed", data: { url: SLACK_URL } });
    assert.deepEqual(slack.data, { url: "https://hooks.slack.com/…" });
    const email = await create(
      { type: "email", event: "deploy_failed", data: { email: "ops@example.test" } },
      site.name,
    );
    assert.deepEqual(email.data, { email: "ops@example.test" });

    const list = await t.api<HookBody[]>("GET", `/hooks?site_id=${site.id}`, {
      token: alice.token,
    });
    assert.equal(list.status, 200, list.text);
    assertSpecResponse("listHooksBySiteId", 200, list.body);
    assert.deepEqual(
      list.body.map((h) => h.id),
      [hook.id, slack.id, email.id],
    );

    const shown = await t.api<HookBody>("GET", `/hooks/${hook.id}`, { token: alice.token });
    assertSpecResponse("getHook", 200, shown.body);
    assert.deepEqual(shown.body, hook);

    // A PUT without the secret keeps it; a new event and `disabled` apply.
    const put = await t.api<HookBody>("PUT", `/hooks/${hook.id}`, {
      token: alice.token,
      body: { event: "deploy_failed", data: { url: "https://other.example/hook" }, disabled: true },
    });
    assert.equal(put.status, 200, put.text);
    assertSpecResponse("updateHook", 200, put.body);
    assert.equal(put.body.event, "deploy_failed");
    assert.equal(put.body.disabled, true);
    assert.deepEqual(put.body.data, {
      url: "https://other.example/hook",
      has_signature_secret: true,
    });
    const enabled = await t.api<HookBody>("POST", `/hooks/${hook.id}/enable`, {
      token: alice.token,
    });
    assert.equal(enabled.body.disabled, false);
    const unsigned = await t.api<HookBody>("PUT", `/hooks/${hook.id}`, {
      token: alice.token,
      body: { data: { signature_secret: "" } },
    });
    assert.equal(unsigned.body.data.has_signature_secret, false);

    // Sealed at rest: neither secret is in the database's row, nor in any answer or log line.
    const rows = await t.platform.ctx.db
      .withTables<{ notification_hooks: { id: string; data_sealed: string } }>()
      .selectFrom("notification_hooks")
      .select("data_sealed")
      .execute();
    const stored = rows.map((row) => row.data_sealed).join("\n");
    for (const secret of [SECRET, "slack-capability-token"]) {
      assert.ok(!stored.includes(secret), "sealed at rest");
      assert.ok(!t.responses.some((text) => text.includes(secret)), "never answered");
      assert.ok(!t.logs.some((line) => line.includes(secret)), "never logged");
    }

    const deleted = await t.api("DELETE", `/hooks/${slack.id}`, { token: alice.token });
    assert.equal(deleted.status, 204);
    assertSpecResponse("deleteHook", 204, deleted.text);
    assert.equal((await t.api("GET", `/hooks/${slack.id}`, { token: alice.token })).status, 404);

    // Audited in alice's account: what changed by name, never a value.
    const audit = await t.platform.ctx.db
      .selectFrom("audit_events")
      .select(["action", "account_id", "target_id", "fields", "actor_email"])
      .where("target_type", "=", "notification_hook")
      .orderBy("id")
      .execute();
    assert.deepEqual(
      audit.filter((e) => e.target_id === hook.id).map((e) => [e.action, JSON.parse(e.fields)]),
      [
        ["notification_hook.create", ["data", "disabled", "event", "type"]],
        ["notification_hook.update", ["data", "disabled", "event"]],
        ["notification_hook.update", ["disabled"]],
        ["notification_hook.update", ["data"]],
      ],
    );
    assert.deepEqual(
      audit.filter((e) => e.target_id === slack.id).map((e) => e.action),
      ["notification_hook.create", "notification_hook.delete"],
    );
    assert.ok(
      audit.every((e) => e.account_id === alice.accountId && e.actor_email === alice.email),
    );
    assert.ok(!JSON.stringify(audit).includes(SECRET));
  });

  it("refuses bad input with 422 naming the field", async () => {
    const cases: Array<[unknown, string]> = [
      [{ event: "deploy_succeeded", data: { url: "https://a.example/" } }, "type"],
      [{ type: "pager", event: "deploy_succeeded", data: {} }, "type"],
      [{ type: "url", event: "deploy_exploded", data: { url: "https://a.example/" } }, "event"],
      [{ type: "url", event: "deploy_succeeded", data: {} }, "data.url"],
      [{ type: "url", event: "deploy_succeeded", data: { url: "ftp://a.example/" } }, "data.url"],
      [{ type: "url", event: "deploy_succeeded", data: { url: "not a url" } }, "data.url"],
      [
        { type: "url", event: "deploy_succeeded", data: { url: "https://u:p@a.example/" } },
        "data.url",
      ],
      [
        { type: "url", event: "deploy_succeeded", data: { url: "http://127.0.0.1:8080/" } },
        "data.url",
      ],
      [{ type: "url", event: "deploy_succeeded", data: { url: "http://10.0.0.7/" } }, "data.url"],
      [
        { type: "url", event: "deploy_succeeded", data: { url: "http://localhost:8099/" } },
        "data.url",
      ],
      [{ type: "url", event: "deploy_succeeded", data: { url: "http://[::1]/" } }, "data.url"],
      [
        { type: "slack", event: "deploy_failed", data: { url: "http://169.254.169.254/" } },
        "data.url",
      ],
      [
        { type: "url", event: "deploy_succeeded", data: { url: "https://a.example/", x: 1 } },
        "data.x",
      ],
      [
        {
          type: "url",
          event: "deploy_succeeded",
          data: { url: "https://a.example/", signature_secret: 7 },
        },
        "data.signature_secret",
      ],
      [{ type: "email", event: "deploy_failed", data: { email: "a@b.c, d@e.f" } }, "data.email"],
      [{ type: "email", event: "deploy_failed", data: { email: "no-at-sign" } }, "data.email"],
    ];
    for (const [body, field] of cases) {
      const res = await t.api<{ field?: string; message: string }>(
        "POST",
        `/hooks?site_id=${site.id}`,
        { token: alice.token, body },
      );
      assert.equal(res.status, 422, `${JSON.stringify(body)}: ${res.text}`);
      assert.equal(res.body.field, field, res.text);
    }
    const local = await t.api<{ message: string }>("POST", `/hooks?site_id=${site.id}`, {
      token: alice.token,
      body: { type: "url", event: "deploy_succeeded", data: { url: "http://127.0.0.1:8080/" } },
    });
    assert.match(local.body.message, /SLIPWAY_ALLOW_PRIVATE_NOTIFICATION_HOSTS=127\.0\.0\.1:8080/);
    // The operator's allowance lets exactly that host and port through.
    await create({
      type: "url",
      event: "deploy_succeeded",
      data: { url: "http://127.0.0.1:8099/hook" },
    });
    const noSite = await t.api<{ field?: string }>("POST", "/hooks", {
      token: alice.token,
      body: { type: "url", event: "deploy_succeeded", data: { url: "https://a.example/" } },
    });
    assert.equal(noSite.status, 422, noSite.text);
    assert.equal(noSite.body.field, "site_id");
  });

  it("hides another account's hooks and sites (404)", async () => {
    const hook = await create({
      type: "url",
      event: "deploy_created",
      data: { url: "https://a.example/" },
    });
    for (const [method, path, body] of [
      ["GET", `/hooks/${hook.id}`, undefined],
      ["PUT", `/hooks/${hook.id}`, { event: "deploy_failed" }],
      ["POST", `/hooks/${hook.id}/enable`, undefined],
      ["DELETE", `/hooks/${hook.id}`, undefined],
      ["GET", `/hooks/${hook.id}/deliveries`, undefined],
      ["GET", `/hooks?site_id=${site.id}`, undefined],
      [
        "POST",
        `/hooks?site_id=${site.id}`,
        { type: "url", event: "deploy_created", data: { url: "https://b.example/" } },
      ],
    ] as const) {
      const res = await t.api(method, path, { token: bob.token, body });
      assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
    }
    const still = await t.api<HookBody>("GET", `/hooks/${hook.id}`, { token: alice.token });
    assert.equal(still.body.event, "deploy_created");
  });
});

describe("e-mail hooks without an SMTP server", () => {
  let t: TestPlatform;
  before(async () => {
    t = await startTestPlatform({ platform: { buildWorkers: false } });
  });
  after(() => t.stop());

  it("are refused with the setting that enables them", async () => {
    const site = await createSite(t, undefined, { name: "no-mail" });
    const res = await t.api<{ field?: string; message: string }>(
      "POST",
      `/hooks?site_id=${site.id}`,
      {
        body: { type: "email", event: "deploy_failed", data: { email: "ops@example.test" } },
      },
    );
    assert.equal(res.status, 422, res.text);
    assert.equal(res.body.field, "type");
    assert.match(res.body.message, /SLIPWAY_SMTP_URL/);
  });
});
