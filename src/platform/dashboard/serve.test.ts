import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { after, before, describe, it } from "node:test";
import { rawRequest } from "../../../test/helpers/edge.ts";
import { startTestPlatform, type TestPlatform } from "../../../test/helpers/platform.ts";

const INDEX = '<!doctype html><script type="module" src="/assets/index-abc123.js"></script>';
const SCRIPT = "console.log('dashboard');\n".repeat(50);

describe("the platform serves the dashboard on its own host", () => {
  let t: TestPlatform;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "slipway-web-"));
    await mkdir(join(dir, "assets"));
    await writeFile(join(dir, "index.html"), INDEX);
    await writeFile(join(dir, "assets", "index-abc123.js"), SCRIPT);
    await writeFile(join(dir, "assets", "index-abc123.js.gz"), gzipSync(SCRIPT));
    t = await startTestPlatform({ platform: { dashboardDir: dir } });
  });
  after(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${t.url}${path}`, { headers });

  it("answers the app's own paths with index.html, revalidated on every load", async () => {
    for (const path of [
      "/",
      "/sign-in",
      "/sites",
      "/sites/hello",
      "/sites/hello/deploys/0123456789abcdef01234567",
      "/sites/hello/settings",
      "/invite/sli_abc",
      "/account/tokens",
      "/new",
      "/users",
    ]) {
      const res = await get(path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("cache-control"), "no-cache", path);
      assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
      assert.equal(await res.text(), INDEX, path);
    }
    const page = await get("/");
    assert.match(page.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
    assert.equal(page.headers.get("referrer-policy"), "no-referrer");
    assert.equal(page.headers.get("x-frame-options"), "DENY");
  });

  it("sends hashed assets cached for a year, pre-compressed when the browser accepts it", async () => {
    const plain = await get("/assets/index-abc123.js", { "accept-encoding": "identity" });
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.match(plain.headers.get("content-type") ?? "", /javascript/);
    assert.equal(await plain.text(), SCRIPT);

    // fetch() asks for gzip and decodes it; the length on the wire is the compressed one.
    const zipped = await get("/assets/index-abc123.js");
    assert.equal(zipped.headers.get("content-encoding"), "gzip");
    assert.equal(await zipped.text(), SCRIPT);

    assert.equal((await get("/assets/missing-000.js")).status, 404);
    const port = Number(new URL(t.url).port);
    for (const target of ["/assets/..%2Findex.html", "/assets/../index.html", "/assets/.env"]) {
      const res = await rawRequest(port, `127.0.0.1:${port}`, target);
      assert.equal(res.status, 404, target);
    }
  });

  it("keeps the API, webhooks and unknown paths their own answers", async () => {
    const api = await get("/api/v1/user");
    assert.equal(api.status, 401);
    assert.match(api.headers.get("content-type") ?? "", /json/);
    const unknown = await get("/api/v1/nothing-here");
    assert.equal(unknown.status, 404);
    assert.match(await unknown.text(), /"code":404/);
    const hook = await fetch(`${t.url}/webhooks/sites/00000000-0000-4000-8000-000000000000`, {
      method: "POST",
    });
    assert.notEqual(hook.headers.get("content-type")?.startsWith("text/html"), true);
    assert.equal((await get("/not-a-dashboard-page")).status, 404);
    assert.equal((await get("/healthz")).status, 200);
  });

  it("is not served on site hosts: a site's own paths stay the site's", async () => {
    const port = Number(new URL(t.url).port);
    const site = await rawRequest(port, `hello.localhost:${port}`, "/sites/hello");
    assert.equal(site.status, 404);
    assert.ok(!site.text.includes(INDEX));
    const root = await rawRequest(port, `hello.localhost:${port}`, "/");
    assert.ok(!root.text.includes(INDEX));
  });

  it("says how to build the dashboard when it was not built", async () => {
    const empty = await mkdtemp(join(tmpdir(), "slipway-web-empty-"));
    const bare = await startTestPlatform({ platform: { dashboardDir: empty } });
    try {
      const res = await fetch(`${bare.url}/`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /npm run build/);
    } finally {
      await bare.stop();
      await rm(empty, { recursive: true, force: true });
    }
  });
});
