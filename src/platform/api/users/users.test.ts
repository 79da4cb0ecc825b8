import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";

interface UserBody {
  id: string;
  email: string;
  full_name: string;
  site_count: number;
  admin: boolean;
}
interface AccountBody {
  id: string;
  slug: string;
  name: string;
  default: boolean;
  role?: string;
  owner_ids?: string[];
}

describe("users, accounts and access tokens", () => {
  let t: TestPlatform;
  let alice: Tenant;

  before(async () => {
    t = await startTestPlatform();
    alice = await t.createTenant("alice");
  });
  after(() => t.stop());

  it("GET /user returns the caller with Netlify's user fields", async () => {
    const res = await t.api<UserBody>("GET", "/user", { token: alice.token });
    assert.equal(res.status, 200);
    assert.equal(res.body.id, alice.userId);
    assert.match(res.body.id, /^[0-9a-f]{24}$/);
    assert.equal(res.body.email, "alice@example.test");
    assert.equal(res.body.full_name, "alice");
    assert.equal(res.body.site_count, 0);
    assert.equal(res.body.admin, false);

    const admin = await t.api<UserBody>("GET", "/user");
    assert.equal(admin.body.admin, true);
    assert.equal(admin.body.email, "admin@localhost");
  });

  it("GET /accounts lists the caller's accounts, the personal one as default; ?minimal=true is slim", async () => {
    const res = await t.api<AccountBody[]>("GET", "/accounts", { token: alice.token });
    assert.equal(res.status, 200);
    assert.equal(res.body.length, 1);
    const [account] = res.body;
    assert.equal(account?.id, alice.accountId);
    assert.equal(account?.slug, "alice");
    assert.equal(account?.default, true);
    assert.equal(account?.role, "Owner");
    assert.deepEqual(account?.owner_ids, [alice.userId]);

    const minimal = await t.api<AccountBody[]>("GET", "/accounts?minimal=true", {
      token: alice.token,
    });
    assert.deepEqual(minimal.body, [
      { id: alice.accountId, name: "alice", slug: "alice", type: "personal", default: true },
    ]);
  });

  it("POST /admin/users creates a user, an account and a working token (admin only)", async () => {
    const res = await t.api<{ user: UserBody; account: AccountBody; token: string }>(
      "POST",
      "/admin/users",
      { body: { email: "Carol@Example.test", full_name: "Carol C", account_slug: "carol-team" } },
    );
    assert.equal(res.status, 201);
    assert.equal(res.body.user.email, "carol@example.test");
    assert.equal(res.body.account.slug, "carol-team");
    assert.equal(res.body.account.default, true);
    assert.match(res.body.token, /^slp_/);
    const me = await t.api<UserBody>("GET", "/user", { token: res.body.token });
    assert.equal(me.body.id, res.body.user.id);

    const forbidden = await t.api<{ code: number; message: string }>("POST", "/admin/users", {
      token: alice.token,
      body: { email: "mallory@example.test" },
    });
    assert.equal(forbidden.status, 403);
    assert.deepEqual(forbidden.body, {
      code: 403,
      message: "Only platform administrators may do this",
    });
  });

  it("gives generated slugs a suffix when taken and refuses bad or duplicate input with 422", async () => {
    const again = await t.api<{ account: AccountBody }>("POST", "/admin/users", {
      body: { email: "alice@other.test" },
    });
    assert.equal(again.status, 201);
    assert.equal(again.body.account.slug, "alice-2");

    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ email: "alice@example.test" }, "email", /already exists/],
      [{ email: "not-an-email" }, "email", /is not an e-mail address/],
      [{}, "email", /email is required/],
      [{ email: 42 }, "email", /./],
      [{ email: "d@example.test", account_slug: "Bad Slug" }, "account_slug", /lower-case letters/],
      [{ email: "e@example.test", account_slug: "sites" }, "account_slug", /reserved/],
      [{ email: "f@example.test", account_slug: "carol-team" }, "account_slug", /already taken/],
    ];
    for (const [body, field, message] of cases) {
      const res = await t.api<{ code: number; message: string; field: string }>(
        "POST",
        "/admin/users",
        { body },
      );
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(res.body.code, 422);
      assert.equal(res.body.field, field, JSON.stringify(body));
      assert.match(res.body.message, message);
    }
  });

  it("answers 401 with {code, message} without a valid bearer token", async () => {
    const cases: Array<Record<string, string> | null> = [
      null,
      { authorization: "Bearer slp_not-a-real-token" },
      { authorization: "Basic YWxpY2U6c2VjcmV0" },
      { authorization: "Bearer" },
    ];
    for (const headers of cases) {
      const res = await t.api<{ code: number; message: string }>("GET", "/user", {
        token: null,
        headers: headers ?? {},
      });
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.equal(res.body.code, 401);
      assert.match(res.body.message, /Access denied/);
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="slipway"');
    }
    const query = await t.api("GET", `/user?access_token=${alice.token}`, { token: null });
    assert.equal(query.status, 401, "tokens in the query string are not accepted");
  });

  it("stores tokens only as digests", async () => {
    const rows = await t.platform.ctx.db
      .selectFrom("access_tokens")
      .select("token_digest")
      .execute();
    assert.ok(rows.length >= 2);
    for (const row of rows) {
      assert.match(row.token_digest, /^[0-9a-f]{64}$/);
      assert.notEqual(row.token_digest, alice.token);
    }
  });
});
