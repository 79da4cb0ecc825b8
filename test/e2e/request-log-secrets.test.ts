import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { createLogger, redactUrl } from "../../src/lib/logger.ts";
import { startTestForge, type TestForge } from "../helpers/forge.ts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform.ts";
import { createSite } from "../helpers/sites.ts";

// Capability URLs (build hooks, invites) and tokens in query strings must not reach the request
// logs of either server: whoever reads the logs could otherwise start builds or take accounts.

/** Every `req.url` the request log holds. */
function loggedUrls(lines: string[]): string[] {
  return lines
    .map((text) => JSON.parse(text) as { req?: { url?: string } })
    .flatMap((line) => (line.req?.url === undefined ? [] : [line.req.url]));
}

describe("request logs hold no secret", () => {
  let t: TestPlatform;

  before(async () => {
    t = await startTestPlatform({ platform: { buildWorkers: false } });
  });
  after(() => t.stop());

  it("redacts build hook ids, invite tokens and token query parameters on the platform", async () => {
    const tenant = await t.createTenant("logged");
    const site = await createSite(t, tenant.token, {
      name: "logged-site",
      repo: { repo_url: "git@github.com:logged/site.git", repo_branch: "main" },
    });
    const hook = await t.api<{ id: string; url: string }>("POST", `/sites/${site.id}/build_hooks`, {
      token: tenant.token,
      body: { title: "ci", branch: "main" },
    });
    assert.equal(hook.status, 201, hook.text);
    const invite = await t.api<{ url: string }>("POST", `/admin/users/${tenant.userId}/invite`);
    assert.equal(invite.status, 201, invite.text);
    const inviteToken = invite.body.url.split("/invite/")[1] ?? "";
    assert.notEqual(inviteToken, "");

    const mark = t.logs.length;
    await (await fetch(hook.body.url, { method: "POST", body: "{}" })).text();
    await t.api("GET", `/sites/${site.id}/build_hooks/${hook.body.id}`, { token: tenant.token });
    await t.api("GET", `/invites/${inviteToken}`, { token: null });
    await (await fetch(`${t.url}/invite/${inviteToken}`)).text();
    await t.api("GET", `/sites?access_token=${tenant.token}`, { token: null });
    await t.api("GET", `/sites?per_page=1&token=${tenant.token}`, { token: null });

    const urls = loggedUrls(t.logs.slice(mark));
    assert.ok(urls.length >= 6, urls.join("\n"));
    const text = t.logs.slice(mark).join("");
    for (const secret of [hook.body.id, inviteToken, tenant.token]) {
      assert.equal(text.includes(secret), false, `${secret} is in the log:\n${urls.join("\n")}`);
    }
    assert.ok(urls.includes("/build_hooks/[redacted]"), urls.join("\n"));
    assert.ok(urls.includes("/api/v1/sites?per_page=1&token=[redacted]"), urls.join("\n"));
  });
});

describe("the forge's request log holds no token", () => {
  let forge: TestForge;
  const lines: string[] = [];

  before(async () => {
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString("utf8"));
        callback();
      },
    });
    forge = await startTestForge({
      logger: createLogger({ name: "forge-test", level: "info", destination }),
    });
  });
  after(() => forge.stop());

  it("redacts ?private_token= (which it also refuses)", async () => {
    const user = await forge.createUser("logged");
    const mark = lines.length;
    const answer = await fetch(`${forge.url}/api/v4/projects?private_token=${user.token}`);
    assert.equal(answer.status, 401);
    await answer.text();
    const text = lines.slice(mark).join("");
    assert.equal(text.includes(user.token), false, text);
    assert.ok(
      loggedUrls(lines.slice(mark)).includes("/api/v4/projects?private_token=[redacted]"),
      text,
    );
  });
});

describe("redactUrl", () => {
  it("keeps what is not a secret, and malformed escapes as sent", () => {
    assert.equal(redactUrl("/api/v1/sites?page=2"), "/api/v1/sites?page=2");
    assert.equal(redactUrl("/api/v1/admin/users/u1/invite"), "/api/v1/admin/users/u1/invite");
    assert.equal(
      redactUrl("/api/v1/invites/abc/accept?%ZZ=1&Access_Token=x"),
      "/api/v1/invites/[redacted]/accept?%ZZ=1&Access_Token=[redacted]",
    );
  });
});
