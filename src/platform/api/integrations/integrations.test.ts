import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestPlatform, type TestPlatform } from "../../../../test/helpers/platform.ts";

describe("extensions lookups at the host root (what @netlify/config asks during a deploy)", () => {
  let t: TestPlatform;
  let site: { id: string; account_id: string };

  before(async () => {
    t = await startTestPlatform({ platform: { buildWorkers: false } });
    const alice = await t.createTenant("alice");
    const created = await t.api<{ id: string; account_id: string }>("POST", "/sites", {
      token: alice.token,
      body: { name: "with-extensions" },
    });
    site = created.body;
  });
  after(() => t.stop());

  const get = async (path: string) => {
    const res = await fetch(`${t.url}${path}`);
    return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
  };

  it("answers 200 [] without a token, as the client (which sends none) needs", async () => {
    for (const path of [
      `/team/${site.account_id}/integrations/installations/meta/${site.id}`,
      `/site/${site.id}/integrations/safe`,
    ]) {
      const res = await get(path);
      assert.equal(res.status, 200, path);
      assert.match(res.type ?? "", /application\/json/);
      assert.equal(res.text, "[]");
    }
  });

  it("answers the same for ids of no site at all, so it tells nobody which sites exist", async () => {
    const unknown = "00000000-0000-4000-8000-000000000000";
    const known = await get(`/team/${site.account_id}/integrations/installations/meta/${site.id}`);
    const other = await get(
      `/team/000000000000000000000000/integrations/installations/meta/${unknown}`,
    );
    assert.deepEqual(other, known);
    assert.deepEqual(await get(`/site/${unknown}/integrations/safe`), known);
    // A site_id may be the site's name or domain, as everywhere in the API.
    assert.deepEqual(await get("/site/with-extensions.localhost/integrations/safe"), known);
  });

  it("refuses malformed ids with a JSON 4xx", async () => {
    const res = await get("/site/a%20b/integrations/safe");
    assert.equal(res.status, 422);
    assert.match(res.text, /"code":422/);
  });
});
