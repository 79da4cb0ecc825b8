import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";

interface SessionBody {
  user: { id: string; email: string; admin: boolean };
  session: { id: string; method: string; expires_at: string } | null;
  csrf_token: string | null;
}

interface Answer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/** A browser's view of the API: a cookie jar, the page's origin, and the CSRF token it was given. */
class Browser {
  cookie: string | undefined;
  csrf: string | undefined;

  constructor(
    private readonly base: string,
    private readonly origin: string = base,
  ) {}

  async call<T = unknown>(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; csrf?: boolean } = {},
  ): Promise<Answer<T>> {
    const headers: Record<string, string> = { origin: this.origin, ...options.headers };
    if (this.cookie !== undefined) headers.cookie = this.cookie;
    if (options.csrf !== false && this.csrf !== undefined) headers["x-csrf-token"] = this.csrf;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    const response = await fetch(`${this.base}/api/v1${path}`, { method, headers, body });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const value = pair?.slice(pair.indexOf("=") + 1) ?? "";
      this.cookie = /Max-Age=0\b/.test(line) ? undefined : `slipway_session=${value}`;
    }
    const text = await response.text();
    const parsed: unknown = text === "" ? undefined : JSON.parse(text);
    const answer = { status: response.status, headers: response.headers, body: parsed as T };
    const csrf = (parsed as { csrf_token?: unknown } | undefined)?.csrf_token;
    if (response.ok && typeof csrf === "string") this.csrf = csrf;
    return answer;
  }

  signIn(body: Record<string, string>): Promise<Answer<SessionBody>> {
    return this.call<SessionBody>("POST", "/session", { body });
  }
}

describe("dashboard sign-in: passwords, sessions, CSRF, throttling, invites, access tokens", () => {
  let t: TestPlatform;
  let adminPassword: string;
  let bob: Tenant;

  before(async () => {
    t = await startTestPlatform();
    adminPassword = (await readFile(join(t.dataDir, "admin-password"), "utf8")).trim();
    bob = await t.createTenant("bob");
  });
  after(() => t.stop());

  it("gives the first administrator a generated password, printed once and kept in a 0600 file", async () => {
    const generated = t.platform.generatedAdminPassword;
    assert.equal(generated?.email, "admin@localhost");
    assert.equal(generated?.password, adminPassword);
    assert.equal(generated?.file, join(t.dataDir, "admin-password"));
    const { stat } = await import("node:fs/promises");
    assert.equal((await stat(join(t.dataDir, "admin-password"))).mode & 0o777, 0o600);
    const row = await t.platform.ctx.db
      .selectFrom("user_passwords")
      .select("password_hash")
      .executeTakeFirstOrThrow();
    assert.match(row.password_hash, /^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    assert.ok(!row.password_hash.includes(adminPassword));
  });

  it("signs in with e-mail and password: an HttpOnly SameSite cookie, stored only as a digest", async () => {
    const browser = new Browser(t.url);
    const res = await browser.signIn({ email: "Admin@Localhost", password: adminPassword });
    assert.equal(res.status, 201);
    const setCookie = res.headers.getSetCookie()[0] ?? "";
    assert.match(
      setCookie,
      /^slipway_session=sls_[\w-]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/,
    );
    assert.equal(res.body.user.email, "admin@localhost");
    assert.equal(res.body.session?.method, "password");
    assert.equal(typeof res.body.csrf_token, "string");

    const token = browser.cookie?.split("=")[1] ?? "";
    const rows = await t.platform.ctx.db.selectFrom("sessions").selectAll().execute();
    assert.ok(rows.length >= 1);
    assert.ok(rows.every((r) => r.token_digest !== token && !JSON.stringify(r).includes(token)));

    const me = await browser.call<{ email: string }>("GET", "/user");
    assert.equal(me.status, 200);
    assert.equal(me.body.email, "admin@localhost");
    const session = await browser.call<SessionBody>("GET", "/session");
    assert.equal(session.body.csrf_token, res.body.csrf_token);
    assert.equal(session.headers.get("cache-control"), "no-store");
  });

  it("answers a wrong password and an unknown address alike, with a 401", async () => {
    const browser = new Browser(t.url);
    const wrong = await browser.signIn({ email: bob.email, password: "not-bobs-password" });
    const unknown = await browser.signIn({ email: "nobody@example.test", password: "whatever-1" });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(browser.cookie, undefined);
    // bob has no password yet: the answer says how to get in.
    assert.match(
      (wrong.body as unknown as { message: string }).message,
      /no password yet: sign in with an access token, or ask an administrator for an invite link/,
    );
    assert.equal(
      (unknown.body as unknown as { message: string }).message,
      "The e-mail address or the password is wrong",
    );
  });

  it("refuses a cookie request that changes state without the CSRF token or from another origin", async () => {
    const browser = new Browser(t.url);
    await browser.signIn({ email: "admin@localhost", password: adminPassword });

    const noToken = await browser.call<{ message: string }>("POST", "/deploy_keys", {
      csrf: false,
    });
    assert.equal(noToken.status, 403);
    assert.match(noToken.body.message, /CSRF token in the X-CSRF-Token header/);

    const badToken = await browser.call("POST", "/deploy_keys", {
      headers: { "x-csrf-token": "forged" },
      csrf: false,
    });
    assert.equal(badToken.status, 403);

    const evil = new Browser(t.url, "http://evil.example");
    evil.cookie = browser.cookie;
    evil.csrf = browser.csrf;
    const crossOrigin = await evil.call<{ message: string }>("POST", "/deploy_keys");
    assert.equal(crossOrigin.status, 403);
    assert.match(crossOrigin.body.message, /comes from another site/);

    const ok = await browser.call("POST", "/deploy_keys");
    assert.equal(ok.status, 201);
    // Reading needs no CSRF token (the browser's GETs, the log's EventSource).
    assert.equal((await browser.call("GET", "/deploy_keys", { csrf: false })).status, 200);
    // A bearer token is not sent by browsers on their own: no CSRF token needed.
    assert.equal((await t.api("POST", "/deploy_keys")).status, 201);
  });

  it("refuses sign-ins posted from another site or as a form (login CSRF)", async () => {
    const evil = new Browser(t.url, "http://evil.example");
    const res = await evil.signIn({ email: "admin@localhost", password: adminPassword });
    assert.equal(res.status, 403);
    const form = await fetch(`${t.url}/api/v1/session`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ email: "admin@localhost", password: adminPassword }),
    });
    assert.equal(form.status, 400);
  });

  it("signs out: the session ends in the database and the cookie is cleared", async () => {
    const browser = new Browser(t.url);
    await browser.signIn({ email: "admin@localhost", password: adminPassword });
    const cookie = browser.cookie;
    const out = await browser.call("DELETE", "/session");
    assert.equal(out.status, 204);
    assert.match(out.headers.getSetCookie()[0] ?? "", /^slipway_session=; .*Max-Age=0/);
    const replay = new Browser(t.url);
    replay.cookie = cookie;
    const after = await replay.call<{ message: string }>("GET", "/user");
    assert.equal(after.status, 401);
  });

  it("ends a session at its expiry, and removes it", async () => {
    const browser = new Browser(t.url);
    const res = await browser.signIn({ email: "admin@localhost", password: adminPassword });
    const id = res.body.session?.id ?? "";
    assert.ok(Date.parse(res.body.session?.expires_at ?? "") > Date.now() + 6 * 86_400_000);
    await t.platform.ctx.db
      .updateTable("sessions")
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where("id", "=", id)
      .execute();
    assert.equal((await browser.call("GET", "/user")).status, 401);
    const left = await t.platform.ctx.db
      .selectFrom("sessions")
      .select("id")
      .where("id", "=", id)
      .executeTakeFirst();
    assert.equal(left, undefined);
  });

  it("signs in with a pasted access token; revoking the token ends that session", async () => {
    const created = await t.api<{ id: string; token: string }>("POST", "/access_tokens", {
      token: bob.token,
      body: { name: "laptop" },
    });
    assert.equal(created.status, 201);
    const browser = new Browser(t.url);
    const res = await browser.signIn({ token: created.body.token });
    assert.equal(res.status, 201);
    assert.equal(res.body.user.email, bob.email);
    assert.equal(res.body.session?.method, "token");
    assert.equal((await browser.call("GET", "/user")).status, 200);

    const bad = await new Browser(t.url).signIn({ token: "slp_not-a-token" });
    assert.equal(bad.status, 401);

    const revoked = await t.api("DELETE", `/access_tokens/${created.body.id}`, {
      token: bob.token,
    });
    assert.equal(revoked.status, 204);
    assert.equal((await browser.call("GET", "/user")).status, 401);
  });

  it("lists, creates (shown once) and revokes personal access tokens, only the caller's own", async () => {
    const created = await t.api<{ id: string; token: string; name: string; expires_at: string }>(
      "POST",
      "/access_tokens",
      { token: bob.token, body: { name: "netlify-cli", expires_in_days: 30 } },
    );
    assert.equal(created.status, 201);
    assert.match(created.body.token, /^slp_/);
    assert.ok(Date.parse(created.body.expires_at) > Date.now() + 29 * 86_400_000);
    const works = await t.api<{ email: string }>("GET", "/user", { token: created.body.token });
    assert.equal(works.body.email, bob.email);

    const list = await t.api<Array<{ id: string; name: string; current: boolean }>>(
      "GET",
      "/access_tokens",
      { token: bob.token },
    );
    assert.equal(list.status, 200);
    assert.ok(list.body.some((x) => x.id === created.body.id && x.name === "netlify-cli"));
    assert.ok(list.body.some((x) => x.current && x.name === "first token"));
    assert.ok(!list.text.includes(created.body.token));

    const adminList = await t.api<Array<{ id: string }>>("GET", "/access_tokens");
    assert.ok(!adminList.body.some((x) => x.id === created.body.id));
    const foreign = await t.api("DELETE", `/access_tokens/${created.body.id}`);
    assert.equal(foreign.status, 404);

    const empty = await t.api<{ field: string }>("POST", "/access_tokens", {
      token: bob.token,
      body: { name: "   " },
    });
    assert.equal(empty.status, 422);
    assert.equal(empty.body.field, "name");

    assert.equal(
      (await t.api("DELETE", `/access_tokens/${created.body.id}`, { token: bob.token })).status,
      204,
    );
    assert.equal((await t.api("GET", "/user", { token: created.body.token })).status, 401);
  });

  it("lets an administrator set a password, and a user change their own (other sessions end)", async () => {
    const carol = await t.createTenant("carol");
    const short = await t.api<{ field: string }>("PUT", `/admin/users/${carol.userId}/password`, {
      body: { password: "short" },
    });
    assert.equal(short.status, 422);
    assert.equal(short.body.field, "password");
    const set = await t.api("PUT", `/admin/users/${carol.userId}/password`, {
      body: { password: "carol-first-password" },
    });
    assert.equal(set.status, 204);
    const notAdmin = await t.api("PUT", `/admin/users/${carol.userId}/password`, {
      token: bob.token,
      body: { password: "bob-sets-carols" },
    });
    assert.equal(notAdmin.status, 403);

    const phone = new Browser(t.url);
    assert.equal(
      (await phone.signIn({ email: carol.email, password: "carol-first-password" })).status,
      201,
    );
    const laptop = new Browser(t.url);
    await laptop.signIn({ email: carol.email, password: "carol-first-password" });

    const wrongCurrent = await laptop.call<{ field: string }>("PUT", "/user/password", {
      body: { current_password: "nope-nope", password: "carol-second-password" },
    });
    assert.equal(wrongCurrent.status, 422);
    assert.equal(wrongCurrent.body.field, "current_password");
    const changed = await laptop.call("PUT", "/user/password", {
      body: { current_password: "carol-first-password", password: "carol-second-password" },
    });
    assert.equal(changed.status, 204);
    assert.equal((await laptop.call("GET", "/user")).status, 200);
    assert.equal((await phone.call("GET", "/user")).status, 401);
    assert.equal(
      (await new Browser(t.url).signIn({ email: carol.email, password: "carol-second-password" }))
        .status,
      201,
    );

    const users = await t.api<Array<{ email: string; has_password: boolean }>>(
      "GET",
      "/admin/users",
    );
    assert.equal(users.status, 200);
    assert.equal(users.body.find((u) => u.email === carol.email)?.has_password, true);
    assert.equal(users.body.find((u) => u.email === bob.email)?.has_password, false);
    assert.equal((await t.api("GET", "/admin/users", { token: bob.token })).status, 403);
  });

  it("makes one-time invite links with which a user sets a password and is signed in", async () => {
    const dave = await t.createTenant("dave");
    const invite = await t.api<{ url: string; email: string; expires_at: string }>(
      "POST",
      `/admin/users/${dave.userId}/invite`,
    );
    assert.equal(invite.status, 201);
    assert.equal(invite.body.email, dave.email);
    const prefix = `${t.url}/invite/`;
    assert.ok(invite.body.url.startsWith(prefix), invite.body.url);
    const token = invite.body.url.slice(prefix.length);

    const shown = await t.api<{ email: string }>("GET", `/invites/${token}`, { token: null });
    assert.equal(shown.status, 200);
    assert.equal(shown.body.email, dave.email);

    const browser = new Browser(t.url);
    const tooShort = await browser.call<{ field: string }>("POST", `/invites/${token}/accept`, {
      body: { password: "2short" },
    });
    assert.equal(tooShort.status, 422);
    const accepted = await browser.call<SessionBody>("POST", `/invites/${token}/accept`, {
      body: { password: "dave-chose-this" },
    });
    assert.equal(accepted.status, 201);
    assert.equal(accepted.body.user.email, dave.email);
    assert.equal((await browser.call("GET", "/user")).status, 200);

    const again = await new Browser(t.url).call<{ message: string }>(
      "POST",
      `/invites/${token}/accept`,
      { body: { password: "someone-else" } },
    );
    assert.equal(again.status, 410);
    assert.match(again.body.message, /expired or was already used/);
    assert.equal(
      (await new Browser(t.url).signIn({ email: dave.email, password: "dave-chose-this" })).status,
      201,
    );
  });

  it("throttles sign-ins per account: 429 with Retry-After, even for the right password", async () => {
    const erin = await t.createTenant("erin");
    await t.api("PUT", `/admin/users/${erin.userId}/password`, {
      body: { password: "erin-password" },
    });
    const browser = new Browser(t.url);
    for (let i = 0; i < 5; i++) {
      const res = await browser.signIn({ email: erin.email, password: `wrong-${i}-password` });
      assert.equal(res.status, 401);
    }
    const blocked = await browser.signIn({ email: erin.email, password: "erin-password" });
    assert.equal(blocked.status, 429);
    const retryAfter = Number(blocked.headers.get("retry-after"));
    assert.ok(retryAfter > 800 && retryAfter <= 900, String(retryAfter));
    assert.match(
      (blocked.body as unknown as { message: string }).message,
      /Too many failed sign-ins to this account; try again in 15 minutes/,
    );
    // Other accounts are not affected by erin's count.
    const admin = await browser.signIn({ email: "admin@localhost", password: adminPassword });
    assert.equal(admin.status, 201);
  });

  it("throttles sign-ins per client address across accounts", async () => {
    const browser = new Browser(t.url);
    let status = 0;
    let attempts = 0;
    // Earlier tests failed a few times from this address too; the limit is 30 in the window.
    while (attempts < 40) {
      attempts++;
      const res = await browser.signIn({
        email: `ghost${attempts}@example.test`,
        password: "guessing-1",
      });
      status = res.status;
      if (status === 429) {
        assert.ok(Number(res.headers.get("retry-after")) > 0);
        assert.match(
          (res.body as unknown as { message: string }).message,
          /Too many failed sign-ins from your address/,
        );
        break;
      }
      assert.equal(status, 401);
    }
    assert.equal(status, 429);
    // A pasted token is refused from that address too, before it is looked at.
    const token = await browser.signIn({ token: t.adminToken });
    assert.equal(token.status, 429);
  });
});
