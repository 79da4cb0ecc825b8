import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { publishFiles } from "../../../test/helpers/acme.ts";
import { rawRequest } from "../../../test/helpers/edge.ts";
import { startTestPlatform, type TestPlatform } from "../../../test/helpers/platform.ts";

/**
 * The front, the edge's resolver and the password check each cache what they found for a host
 * (its custom-domain route, its deploy, its password), so that a request reads no database. A
 * change must still be seen by the very next request: the caches here never expire on their own
 * (an hour), so only their invalidation (a publish, a site's change through the API) can explain
 * what the second request sees.
 */
describe("the edge's per-host caches", () => {
  let t: TestPlatform;
  let port: number;
  let siteId: string;

  before(async () => {
    t = await startTestPlatform({ platform: { buildWorkers: false, edgeTtlMs: 3_600_000 } });
    port = Number(new URL(t.url).port);
    const site = await t.api<{ id: string }>("POST", "/sites", {
      body: { name: "cached", custom_domain: "one.example.com" },
    });
    assert.equal(site.status, 201, site.text);
    siteId = site.body.id;
    await publishFiles(t, t.adminToken, siteId, { "index.html": "first" });
  });
  after(() => t?.stop());

  const get = async (host: string) => {
    const res = await rawRequest(port, host, "/");
    return `${res.status} ${res.status === 200 ? res.text : ""}`.trim();
  };

  it("serves a new publish at a custom domain on the next request", async () => {
    assert.equal(await get("one.example.com"), "200 first");
    await publishFiles(t, t.adminToken, siteId, { "index.html": "second" });
    assert.equal(await get("one.example.com"), "200 second");
  });

  it("follows a change of custom domain on the next request, both ways", async () => {
    assert.equal(await get("one.example.com"), "200 second");
    // No site's yet (the API's listener answers it: its dashboard), and remembered so.
    assert.notEqual(await get("two.example.com"), "200 second");
    const patched = await t.api("PATCH", `/sites/${siteId}`, {
      body: { custom_domain: "two.example.com" },
    });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(await get("two.example.com"), "200 second");
    assert.notEqual(await get("one.example.com"), "200 second");
  });

  it("asks for a new password on the next request, and stops when it is removed", async () => {
    assert.equal(await get("two.example.com"), "200 second");
    const locked = await t.api("PATCH", `/sites/${siteId}`, {
      body: { password: "correct horse battery", password_context: "all" },
    });
    assert.equal(locked.status, 200, locked.text);
    assert.equal(await get("two.example.com"), "401");
    assert.equal(await get("cached.localhost"), "401", "the site's own host too");
    const unlocked = await t.api("PATCH", `/sites/${siteId}`, { body: { password: "" } });
    assert.equal(unlocked.status, 200, unlocked.text);
    assert.equal(await get("two.example.com"), "200 second");
  });
});
