import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { chromiumAvailable, launchBrowser, type TestBrowser } from "../helpers/browser.ts";
import { publishFiles } from "../helpers/acme.ts";
import { edgeGet, type EdgeResponse } from "../helpers/e2e.ts";
import { startTestPlatform, type Tenant, type TestPlatform } from "../helpers/platform.ts";
import { createSite, type SiteBody } from "../helpers/sites.ts";
import { poll } from "../helpers/wait.ts";

/**
 * Password-protected sites as a visitor meets them, with `curl`-like requests and Chromium: a
 * site whose previews are private (branch deploys, deploy previews and permalinks ask for the
 * password, production does not), the cookie that the right password sets and that a new
 * password ends, wrong passwords slowed down, Netlify's `Basic-Auth` in `_headers`, and answers
 * no shared cache may keep.
 */

const PASSWORD = "open sesame 42";
const CUSTOM_DOMAIN = "garden.example.test";

describe("password-protected sites and previews", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let site: SiteBody;
  let productionDeploy: string;

  const host = (label: string): string =>
    `${label === "" ? "" : `${label}--`}${site.name}.localhost`;
  const get = (label: string, path = "/", headers: Record<string, string> = {}) =>
    edgeGet(t.url, host(label), path, { headers });
  const submit = (label: string, password: string, path = "/") =>
    edgeGet(t.url, host(label), path, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ password }).toString(),
    });
  const cookieOf = (res: EdgeResponse): string => {
    const setCookie = res.headers["set-cookie"];
    assert.ok(Array.isArray(setCookie) && setCookie.length === 1, JSON.stringify(res.headers));
    return setCookie[0]!.split(";", 1)[0]!;
  };
  const assertPrivate = (res: EdgeResponse): void => {
    assert.equal(res.headers["cache-control"], "private, no-store");
    assert.match(String(res.headers.vary), /\bCookie\b/);
    assert.match(String(res.headers.vary), /\bAuthorization\b/);
  };
  const assertPasswordPage = (res: EdgeResponse): void => {
    assert.equal(res.status, 401, res.body);
    assert.match(String(res.headers["content-type"]), /^text\/html/);
    assert.match(res.body, /<form method="post">/);
    assert.match(res.body, /name="password"/);
    assert.doesNotMatch(res.body, /production|staging/);
    assertPrivate(res);
  };

  before(async () => {
    t = await startTestPlatform({ platform: { edgeTtlMs: 50 } });
    alice = await t.createTenant("alice");
    site = await createSite(t, alice.token, { name: "secret-garden" });
    productionDeploy = await publishFiles(t, alice.token, site.id, {
      "index.html": "<h1>production</h1>",
    });
    await publishFiles(
      t,
      alice.token,
      site.id,
      {
        "index.html": "<h1>staging</h1>",
        "private/report.html": "<h1>report</h1>",
        _headers: "/private/*\n  Basic-Auth: carol:hunter2 dave:correct-battery\n",
      },
      { branch: "staging" },
    );
    const patched = await t.api<{ has_password: boolean; password_context: string }>(
      "PATCH",
      `/sites/${site.id}`,
      {
        token: alice.token,
        body: {
          password: PASSWORD,
          password_context: "non_production",
          custom_domain: CUSTOM_DOMAIN,
        },
      },
    );
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.has_password, true);
    assert.equal(patched.body.password_context, "non_production");
    assert.ok(!patched.text.includes(PASSWORD), "the password is never returned");
  });

  after(async () => {
    await t?.stop();
  });

  it("shows whether there is a password, never the password or its hash", async () => {
    const shown = await t.api<Record<string, unknown>>("GET", `/sites/${site.id}`, {
      token: alice.token,
    });
    assert.equal(shown.body.has_password, true);
    assert.equal(shown.body.password_context, "non_production");
    assert.ok(!("password" in shown.body));
    assert.doesNotMatch(shown.text, /open sesame|scrypt\$/);
    assert.ok(!t.logs.join("").includes(PASSWORD), "never logged");
  });

  it("keeps production public when only previews are protected", async () => {
    const res = await get("");
    assert.equal(res.status, 200);
    assert.equal(res.body, "<h1>production</h1>");
    assert.equal(res.headers["cache-control"], "public, max-age=0, must-revalidate");
    assert.equal(res.headers["set-cookie"], undefined);
    const custom = await edgeGet(t.url, CUSTOM_DOMAIN, "/");
    assert.equal(custom.status, 200);
    assert.equal(custom.body, "<h1>production</h1>");
  });

  it("asks for the password on a branch deploy, a deploy preview and a permalink", async () => {
    assertPasswordPage(await get("staging"));
    assertPasswordPage(await get("staging", "/private/report.html"));
    assertPasswordPage(await get("deploy-preview-1"));
    // The permalink of the very deploy production serves is protected too.
    assertPasswordPage(await get(productionDeploy));
    const head = await edgeGet(t.url, host("staging"), "/", { method: "HEAD" });
    assert.equal(head.status, 401);
    assert.equal(head.body, "");
  });

  it("lets the right password in with an HttpOnly cookie, privately", async () => {
    const wrong = await submit("staging", "not it");
    assert.equal(wrong.status, 401);
    assert.match(wrong.body, /not right/);
    assert.equal(wrong.headers["set-cookie"], undefined);

    const right = await submit("staging", PASSWORD, "/private/report.html?x=1");
    assert.equal(right.status, 303);
    assert.equal(right.headers.location, "/private/report.html?x=1");
    const setCookie = String(right.headers["set-cookie"]);
    assert.match(setCookie, /; HttpOnly/);
    assert.match(setCookie, /; SameSite=Lax/);
    assert.match(setCookie, /; Path=\//);
    assert.doesNotMatch(setCookie, /Secure/, "plain HTTP: the cookie cannot be Secure");
    assertPrivate(right);
    const cookie = cookieOf(right);

    const page = await get("staging", "/", { cookie });
    assert.equal(page.status, 200);
    assert.equal(page.body, "<h1>staging</h1>");
    assertPrivate(page);
    // The cookie is the site's: its permalinks open with it too, another site's would not.
    const permalink = await get(productionDeploy, "/", { cookie });
    assert.equal(permalink.status, 200);
    assert.equal(permalink.body, "<h1>production</h1>");
    // A forged or altered cookie is no cookie.
    assertPasswordPage(await get("staging", "/", { cookie: `${cookie.slice(0, -2)}xx` }));
  });

  it("asks for Netlify's Basic-Auth of _headers and never sends the header itself", async () => {
    const right = await submit("staging", PASSWORD);
    const cookie = cookieOf(right);
    const denied = await get("staging", "/private/report.html", { cookie });
    assert.equal(denied.status, 401);
    assert.match(String(denied.headers["www-authenticate"]), /^Basic realm="Protected"/);
    assertPrivate(denied);
    const basic = (pair: string) => `Basic ${Buffer.from(pair).toString("base64")}`;
    const wrong = await get("staging", "/private/report.html", {
      cookie,
      authorization: basic("carol:hunter3"),
    });
    assert.equal(wrong.status, 401);
    for (const pair of ["carol:hunter2", "dave:correct-battery"]) {
      const ok = await get("staging", "/private/report.html", {
        cookie,
        authorization: basic(pair),
      });
      assert.equal(ok.status, 200, pair);
      assert.equal(ok.body, "<h1>report</h1>");
      assert.equal(ok.headers["basic-auth"], undefined, "the credentials are never sent");
      assertPrivate(ok);
    }
    // Paths the rule does not cover need no credentials.
    assert.equal((await get("staging", "/", { cookie })).status, 200);
  });

  it("logs every visitor out when the password changes", async () => {
    const cookie = cookieOf(await submit("staging", PASSWORD));
    assert.equal((await get("staging", "/", { cookie })).status, 200);
    const changed = await t.api("PATCH", `/sites/${site.id}`, {
      token: alice.token,
      body: { password: `${PASSWORD}!` },
    });
    assert.equal(changed.status, 200, changed.text);
    await poll(
      async () => (await get("staging", "/", { cookie })).status === 401,
      "the old cookie to stop working",
      5_000,
      25,
    );
    assertPasswordPage(await get("staging", "/", { cookie }));
    const again = cookieOf(await submit("staging", `${PASSWORD}!`));
    assert.equal((await get("staging", "/", { cookie: again })).status, 200);
    // The context stayed what it was: production is still public.
    assert.equal((await get("")).status, 200);
  });

  it(
    "walks a browser through the password page of a branch deploy",
    { skip: !chromiumAvailable() && "Chromium is not installed (apt-get install chromium)" },
    async () => {
      let browser: TestBrowser | undefined;
      try {
        browser = await launchBrowser();
        const context = await browser.newContext();
        const page = await context.newPage();
        const port = new URL(t.url).port;
        const response = await page.goto(`http://${host("staging")}:${port}/`);
        assert.equal(response?.status(), 401);
        await page.getByLabel("Password").fill("guess");
        await page.getByRole("button", { name: "Continue" }).click();
        await page.getByRole("alert").waitFor();
        assert.match(await page.getByRole("alert").innerText(), /not right/);
        await page.getByLabel("Password").fill(`${PASSWORD}!`);
        await page.getByRole("button", { name: "Continue" }).click();
        await page.getByRole("heading", { name: "staging" }).waitFor();
        const cookies = await context.cookies();
        assert.equal(cookies.length, 1);
        assert.equal(cookies[0]!.httpOnly, true);
        assert.equal(cookies[0]!.sameSite, "Lax");
        // A reload keeps the visitor in; production never asked.
        await page.reload();
        await page.getByRole("heading", { name: "staging" }).waitFor();
        const production = await context.newPage();
        const prod = await production.goto(`http://${host("")}:${port}/`);
        assert.equal(prod?.status(), 200);
        await production.getByRole("heading", { name: "production" }).waitFor();
      } finally {
        await browser?.close();
      }
    },
  );

  it("protects production too with password_context all", async () => {
    const all = await t.api("PATCH", `/sites/${site.id}`, {
      token: alice.token,
      body: { password_context: "all" },
    });
    assert.equal(all.status, 200, all.text);
    await poll(async () => (await get("")).status === 401, "production to be protected", 5_000, 25);
    assertPasswordPage(await get(""));
    assertPasswordPage(await edgeGet(t.url, CUSTOM_DOMAIN, "/"));
    const off = await t.api<{ has_password: boolean }>("PATCH", `/sites/${site.id}`, {
      token: alice.token,
      body: { password: null },
    });
    assert.equal(off.body.has_password, false);
    await poll(
      async () => (await get("staging")).status === 200 && (await get("")).status === 200,
      "the site to be open",
      5_000,
      25,
    );
    assert.equal((await get("")).headers["cache-control"], "public, max-age=0, must-revalidate");
    const refused = await t.api<{ field?: string }>("PATCH", `/sites/${site.id}`, {
      token: alice.token,
      body: { password_context: "non_production" },
    });
    assert.equal(refused.status, 422, refused.text);
  });

  // Last: it blocks this test's address for the throttle's window.
  it("slows down ten wrong passwords in a row with 429 and Retry-After", async () => {
    await t.api("PATCH", `/sites/${site.id}`, {
      token: alice.token,
      body: { password: PASSWORD, password_context: "non_production" },
    });
    await poll(async () => (await get("staging")).status === 401, "protection again", 5_000, 25);
    for (let attempt = 1; attempt <= 10; attempt++) {
      assert.equal((await submit("staging", `wrong ${attempt}`)).status, 401, `attempt ${attempt}`);
    }
    const blocked = await submit("staging", PASSWORD);
    assert.equal(blocked.status, 429);
    const retryAfter = Number(blocked.headers["retry-after"]);
    assert.ok(retryAfter > 0 && retryAfter <= 15 * 60, String(blocked.headers["retry-after"]));
    assert.equal(blocked.headers["set-cookie"], undefined, "not even the right password");
    assert.match(blocked.body, /Too many wrong passwords/);
  });
});
