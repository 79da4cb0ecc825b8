import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { type BlobReader } from "../deploys/blob-store.ts";
import { LocalBlobStore } from "../deploys/local-blob-store.ts";
import { MemorySiteResolver, type ResolvedDeploy } from "./hosts.ts";
import { sha1 } from "../../../test/helpers/digests.ts";
import {
  makeDeploy,
  rawRequest,
  startEdge,
  type RawResponse,
  type RunningEdge,
} from "../../../test/helpers/edge.ts";
const DOMAIN = "sites.test";
const HOST = `hello.${DOMAIN}`;

const INDEX = `<!doctype html><title>home</title>${"<p>welcome to the hello site</p>".repeat(20)}`;
const APP_JS = `console.log("app");\n${"export const x = 'some javascript';\n".repeat(1500)}`;
const PNG = randomBytes(3000);
const BIG = Buffer.from("0123456789".repeat(10_000));
const SECRET = "TOP-SECRET-OTHER-SITE";
const NOT_FOUND_PAGE = `<!doctype html><h1>custom not found</h1>${"<p>try the home page</p>".repeat(20)}`;

const HELLO_FILES: Record<string, string | Buffer> = {
  "index.html": INDEX,
  "about.html": "<h1>about</h1>",
  "docs/index.html": "<h1>docs index</h1>",
  "docs/guide.html": "<h1>guide</h1>",
  "404.html": NOT_FOUND_PAGE,
  "shadowed.html": "<h1>the real shadowed file</h1>",
  "forced.html": "<h1>forced file that is never served</h1>",
  "store-closed.html": "<h1>store closed</h1>",
  "profiles/42.html": "<h1>profile 42</h1>",
  "results/kites.html": "<h1>kites</h1>",
  "assets/app.js": APP_JS,
  "assets/logo.png": PNG,
  "assets/tiny.css": "a{b:c}",
  "data.json": '{"hello":"world"}',
  noext: "no extension",
  "big.txt": BIG,
  _redirects: [
    "/old-path          /about               301",
    "/temp              /about               302",
    "/blog/*            /posts/:splat        301",
    "/users/:id/profile /profiles/:id.html   200",
    "/search  q=:term   /results/:term.html  200",
    "/closed            /store-closed        404",
    "/shadowed          /about.html          200",
    "/forced            /about.html          200!",
    "/spa/*             /index.html          200",
    "/missing-target    /nope.html           200",
    "/proxy             https://example.com  200",
  ].join("\n"),
  _headers: [
    "/assets/*",
    "  Cache-Control: public, max-age=31536000, immutable",
    "/*",
    "  X-Frame-Options: DENY",
    "/about",
    "  X-Custom: about-page",
    "  Content-Length: 5",
  ].join("\n"),
  "netlify.toml": [
    "[[redirects]]",
    'from = "/toml-redirect"',
    'to = "/docs/guide"',
    "status = 302",
    "[[headers]]",
    'for = "/data.json"',
    "[headers.values]",
    'Access-Control-Allow-Origin = "*"',
  ].join("\n"),
};

describe("edge", () => {
  let work: string;
  let blobs: LocalBlobStore;
  let resolver: MemorySiteResolver;
  let t: RunningEdge;
  let hello: ResolvedDeploy;
  let helloOld: ResolvedDeploy;
  let other: ResolvedDeploy;
  const get = (
    target: string,
    headers: Record<string, string> = {},
    host = HOST,
  ): Promise<RawResponse> => rawRequest(t.port, host, target, { headers });
  const head = (target: string, headers: Record<string, string> = {}): Promise<RawResponse> =>
    rawRequest(t.port, HOST, target, { method: "HEAD", headers });

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "slipway-edge-"));
    blobs = await LocalBlobStore.open(join(work, "store"));
    // A file next to the store that no request may ever reach.
    await writeFile(join(work, "outside-secret.txt"), SECRET);
    resolver = new MemorySiteResolver(DOMAIN);
    helloOld = await makeDeploy(blobs, "0ld0ld", { "index.html": "<h1>the previous deploy</h1>" });
    hello = await makeDeploy(blobs, "c0ffee01", HELLO_FILES);
    other = await makeDeploy(blobs, "0ther01", {
      "index.html": `<h1>${SECRET}</h1>`,
      "secret.html": SECRET,
    });
    resolver.addDeploy("hello", helloOld);
    resolver.publish("hello", hello);
    resolver.setBranch("hello", "staging", helloOld);
    resolver.publish("other", other);
    t = await startEdge({ resolver, maxCachedFileBytes: 64 * 1024 });
  });
  after(async () => {
    await t.close();
    await rm(work, { recursive: true, force: true });
  });

  describe("files", () => {
    it("serves index.html at / with type, length, ETag and the default Cache-Control", async () => {
      const res = await get("/");
      assert.equal(res.status, 200);
      assert.equal(res.text, INDEX);
      assert.equal(res.headers["content-type"], "text/html; charset=utf-8");
      assert.equal(res.headers["content-length"], String(Buffer.byteLength(INDEX)));
      assert.equal(res.headers.etag, `"${sha1(INDEX)}"`);
      assert.equal(res.headers["cache-control"], "public, max-age=0, must-revalidate");
      assert.equal(res.headers["accept-ranges"], "bytes");
    });

    it("serves directory indexes and pretty URLs", async () => {
      const cases: [string, string][] = [
        ["/about", "<h1>about</h1>"],
        ["/about.html", "<h1>about</h1>"],
        ["/docs", "<h1>docs index</h1>"],
        ["/docs/", "<h1>docs index</h1>"],
        ["/docs/index.html", "<h1>docs index</h1>"],
        ["/docs/guide", "<h1>guide</h1>"],
        ["/docs/guide.html", "<h1>guide</h1>"],
        ["/about?utm=1", "<h1>about</h1>"],
      ];
      for (const [target, body] of cases) {
        const res = await get(target);
        assert.equal(res.status, 200, target);
        assert.equal(res.text, body, target);
      }
    });

    it("sets Content-Type from the file name", async () => {
      const types: [string, string][] = [
        ["/assets/app.js", "text/javascript; charset=utf-8"],
        ["/assets/logo.png", "image/png"],
        ["/assets/tiny.css", "text/css; charset=utf-8"],
        ["/data.json", "application/json; charset=utf-8"],
        ["/noext", "application/octet-stream"],
      ];
      for (const [target, type] of types) {
        assert.equal((await get(target)).headers["content-type"], type, target);
      }
      assert.deepEqual((await get("/assets/logo.png")).body, PNG);
    });

    it("answers 404 with the deploy's 404.html, and a plain 404 when it has none", async () => {
      const res = await get("/no/such/page");
      assert.equal(res.status, 404);
      assert.equal(res.text, NOT_FOUND_PAGE);
      assert.equal(res.headers["content-type"], "text/html; charset=utf-8");
      const bare = await get("/nothing", {}, `other.${DOMAIN}`);
      assert.equal(bare.status, 404);
      assert.equal(bare.text, "Not Found\n");
    });

    it("never serves the rule files or inherited object keys", async () => {
      for (const target of [
        "/_redirects",
        "/_headers",
        "/constructor",
        "/__proto__",
        "/toString",
        "/hasOwnProperty",
      ]) {
        const res = await get(target);
        assert.equal(res.status, 404, target);
        assert.equal(res.text, NOT_FOUND_PAGE, target);
      }
    });

    it("answers HEAD with the GET headers and no body", async () => {
      const full = await get("/about");
      const res = await head("/about");
      assert.equal(res.status, 200);
      assert.equal(res.body.length, 0);
      assert.equal(res.headers["content-length"], full.headers["content-length"]);
      assert.equal(res.headers.etag, full.headers.etag);
      const missing = await head("/missing");
      assert.equal(missing.status, 404);
      assert.equal(missing.body.length, 0);
      const brotli = await head("/assets/app.js", { "accept-encoding": "br" });
      assert.equal(brotli.headers["content-encoding"], "br");
      assert.equal(brotli.body.length, 0);
      const real = await get("/assets/app.js", { "accept-encoding": "br" });
      assert.equal(brotli.headers["content-length"], String(real.body.length));
    });

    it("refuses methods other than GET and HEAD with 405", async () => {
      for (const method of ["POST", "PUT", "DELETE", "OPTIONS"]) {
        const res = await rawRequest(t.port, HOST, "/", { method });
        assert.equal(res.status, 405, method);
        assert.equal(res.headers.allow, "GET, HEAD");
      }
    });
  });

  describe("conditional requests and caching headers", () => {
    it("answers If-None-Match with 304 for the current ETag (strong, weak, listed or *)", async () => {
      const etag = `"${sha1("<h1>about</h1>")}"`;
      for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, "*"]) {
        const res = await get("/about", { "if-none-match": inm });
        assert.equal(res.status, 304, inm);
        assert.equal(res.body.length, 0);
        assert.equal(res.headers.etag, etag);
        assert.equal(res.headers["cache-control"], "public, max-age=0, must-revalidate");
      }
      const stale = await get("/about", { "if-none-match": `"${sha1("old content")}"` });
      assert.equal(stale.status, 200);
      assert.equal(stale.text, "<h1>about</h1>");
    });

    it("applies _headers and netlify.toml header rules, but never lets them set framing headers", async () => {
      const asset = await get("/assets/app.js");
      assert.equal(asset.headers["cache-control"], "public, max-age=31536000, immutable");
      assert.equal(asset.headers["x-frame-options"], "DENY");
      const about = await get("/about");
      assert.equal(about.headers["x-custom"], "about-page");
      assert.equal(about.headers["content-length"], String("<h1>about</h1>".length));
      assert.equal(about.text, "<h1>about</h1>");
      const data = await get("/data.json");
      assert.equal(data.headers["access-control-allow-origin"], "*");
      assert.equal(data.headers["cache-control"], "public, max-age=0, must-revalidate");
      const notModified = await get("/assets/app.js", {
        "if-none-match": asset.headers.etag as string,
      });
      assert.equal(notModified.status, 304);
      assert.equal(notModified.headers["cache-control"], "public, max-age=31536000, immutable");
    });
  });

  describe("compression", () => {
    it("serves brotli or gzip by Accept-Encoding, with Vary and a per-encoding ETag", async () => {
      const br = await get("/assets/app.js", { "accept-encoding": "gzip, deflate, br" });
      assert.equal(br.status, 200);
      assert.equal(br.headers["content-encoding"], "br");
      assert.equal(br.headers.vary, "Accept-Encoding");
      assert.equal(br.headers.etag, `"${sha1(APP_JS)}-br"`);
      assert.equal(brotliDecompressSync(br.body).toString(), APP_JS);
      assert.ok(br.body.length < Buffer.byteLength(APP_JS) / 4);
      assert.equal(br.headers["content-length"], String(br.body.length));

      const gz = await get("/assets/app.js", { "accept-encoding": "gzip" });
      assert.equal(gz.headers["content-encoding"], "gzip");
      assert.equal(gz.headers.etag, `"${sha1(APP_JS)}-gzip"`);
      assert.equal(gunzipSync(gz.body).toString(), APP_JS);

      const preferGzip = await get("/assets/app.js", { "accept-encoding": "br;q=0.5, gzip;q=1" });
      assert.equal(preferGzip.headers["content-encoding"], "gzip");
      const noBr = await get("/assets/app.js", { "accept-encoding": "br;q=0" });
      assert.equal(noBr.headers["content-encoding"], undefined);

      const identity = await get("/assets/app.js");
      assert.equal(identity.headers["content-encoding"], undefined);
      assert.equal(identity.headers.vary, "Accept-Encoding");
      assert.equal(identity.text, APP_JS);

      const revalidate = await get("/assets/app.js", {
        "accept-encoding": "br",
        "if-none-match": br.headers.etag as string,
      });
      assert.equal(revalidate.status, 304);
    });

    it("does not compress images or tiny files", async () => {
      const png = await get("/assets/logo.png", { "accept-encoding": "br, gzip" });
      assert.equal(png.headers["content-encoding"], undefined);
      assert.equal(png.headers.vary, undefined);
      assert.deepEqual(png.body, PNG);
      const tiny = await get("/assets/tiny.css", { "accept-encoding": "br, gzip" });
      assert.equal(tiny.headers["content-encoding"], undefined);
      assert.equal(tiny.text, "a{b:c}");
    });

    it("compresses the custom 404 page too, keeping its status", async () => {
      const res = await get("/gone", { "accept-encoding": "gzip" });
      assert.equal(res.status, 404);
      assert.equal(res.headers["content-encoding"], "gzip");
      assert.equal(gunzipSync(res.body).toString(), NOT_FOUND_PAGE);
    });
  });

  describe("ranges", () => {
    const text = HELLO_FILES["index.html"] as string;

    it("serves a single byte range with 206, also as a suffix or open range", async () => {
      const first = await get("/", { range: "bytes=0-9" });
      assert.equal(first.status, 206);
      assert.equal(first.text, text.slice(0, 10));
      assert.equal(first.headers["content-range"], `bytes 0-9/${text.length}`);
      assert.equal(first.headers["content-length"], "10");
      const suffix = await get("/", { range: "bytes=-5" });
      assert.equal(suffix.status, 206);
      assert.equal(suffix.text, text.slice(-5));
      const open = await get("/", { range: `bytes=${text.length - 3}-` });
      assert.equal(open.text, text.slice(-3));
      const clamped = await get("/", { range: `bytes=5-${text.length + 100}` });
      assert.equal(clamped.status, 206);
      assert.equal(clamped.text, text.slice(5));
    });

    it("answers 416 for an unsatisfiable range and ignores multi-range and invalid ones", async () => {
      const res = await get("/", { range: `bytes=${text.length}-` });
      assert.equal(res.status, 416);
      assert.equal(res.headers["content-range"], `bytes */${text.length}`);
      for (const range of ["bytes=0-1,3-4", "bytes=5-2", "items=0-1", "bytes=-"]) {
        const full = await get("/", { range });
        assert.equal(full.status, 200, range);
        assert.equal(full.text, text);
      }
    });

    it("honours If-Range and serves ranges uncompressed", async () => {
      const etag = `"${sha1(text)}"`;
      const match = await get("/", { range: "bytes=0-3", "if-range": etag });
      assert.equal(match.status, 206);
      const changed = await get("/", { range: "bytes=0-3", "if-range": `"${sha1("x")}"` });
      assert.equal(changed.status, 200);
      assert.equal(changed.text, text);
      const encoded = await get("/assets/app.js", { range: "bytes=0-15", "accept-encoding": "br" });
      assert.equal(encoded.status, 206);
      assert.equal(encoded.headers["content-encoding"], undefined);
      assert.equal(encoded.text, APP_JS.slice(0, 16));
    });

    it("streams files larger than the cache limit, with ranges", async () => {
      const full = await get("/big.txt", { "accept-encoding": "br" });
      assert.equal(full.status, 200);
      assert.equal(full.headers["content-encoding"], undefined);
      assert.deepEqual(full.body, BIG);
      const part = await get("/big.txt", { range: "bytes=99990-99999" });
      assert.equal(part.status, 206);
      assert.equal(part.text, "0123456789");
      assert.equal(part.headers["content-range"], `bytes 99990-99999/${BIG.length}`);
      const headOnly = await head("/big.txt");
      assert.equal(headOnly.headers["content-length"], String(BIG.length));
      assert.equal(headOnly.body.length, 0);
    });
  });

  describe("redirect rules", () => {
    it("redirects with 301 and 302, carrying splats and the query string", async () => {
      const moved = await get("/old-path");
      assert.equal(moved.status, 301);
      assert.equal(moved.headers.location, "/about");
      const temp = await get("/temp?ref=mail");
      assert.equal(temp.status, 302);
      assert.equal(temp.headers.location, "/about?ref=mail");
      const splat = await get("/blog/2024/hello%20world");
      assert.equal(splat.status, 301);
      assert.equal(splat.headers.location, "/posts/2024/hello%20world");
      const toml = await get("/toml-redirect");
      assert.equal(toml.status, 302);
      assert.equal(toml.headers.location, "/docs/guide");
      const headOnly = await head("/old-path");
      assert.equal(headOnly.status, 301);
      assert.equal(headOnly.body.length, 0);
    });

    it("rewrites with 200 to files of the deploy, with placeholders and query captures", async () => {
      const profile = await get("/users/42/profile");
      assert.equal(profile.status, 200);
      assert.equal(profile.text, "<h1>profile 42</h1>");
      const search = await get("/search?q=kites");
      assert.equal(search.status, 200);
      assert.equal(search.text, "<h1>kites</h1>");
      const spa = await get("/spa/deep/client/route");
      assert.equal(spa.status, 200);
      assert.equal(spa.text, INDEX);
      assert.equal(spa.headers.etag, `"${sha1(INDEX)}"`);
    });

    it("serves a custom-status rewrite and falls back to 404 when the target is missing", async () => {
      const closed = await get("/closed");
      assert.equal(closed.status, 404);
      assert.equal(closed.text, "<h1>store closed</h1>");
      const missing = await get("/missing-target");
      assert.equal(missing.status, 404);
      assert.equal(missing.text, NOT_FOUND_PAGE);
    });

    it("lets an existing file shadow a rule unless the rule is forced", async () => {
      const shadowed = await get("/shadowed");
      assert.equal(shadowed.text, "<h1>the real shadowed file</h1>");
      const forced = await get("/forced");
      assert.equal(forced.text, "<h1>about</h1>");
    });

    it("does not proxy to other URLs", async () => {
      const res = await get("/proxy");
      assert.equal(res.status, 404);
      assert.equal(res.text, NOT_FOUND_PAGE);
    });
  });

  describe("path tricks never leave the deploy", () => {
    it("refuses or contains every traversal spelling", async () => {
      const targets = [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E/%2E%2E/outside-secret.txt",
        "/..%2f..%2foutside-secret.txt",
        "/..%2F..%2F..%2Fetc%2Fpasswd",
        "//etc/passwd",
        "/%5c..%5c..%5coutside-secret.txt",
        "/\\..\\..\\outside-secret.txt",
        "/a%00.html",
        "/index.html%00",
        "/%00",
        "/..",
        "/./../outside-secret.txt",
        "/store/blobs",
        "/" + "a".repeat(10_000),
        "/%c0%ae%c0%ae/etc/passwd",
        "/%252e%252e/%252e%252e/etc/passwd",
      ];
      for (const target of targets) {
        const res = await get(target);
        assert.ok([400, 404, 414].includes(res.status), `${target} → ${res.status}`);
        assert.ok(!res.text.includes(SECRET), target);
        assert.ok(!res.text.includes("root:"), target);
      }
    });

    it("normalises harmless spellings to the deploy's own files", async () => {
      const cases: [string, string][] = [
        ["/docs/%2e%2e/about", "<h1>about</h1>"],
        ["/docs/../about", "<h1>about</h1>"],
        ["//about", "<h1>about</h1>"],
        ["/docs//guide", "<h1>guide</h1>"],
        ["/docs%2fguide", "<h1>guide</h1>"],
        ["/docs\\guide", "<h1>guide</h1>"],
        ["/./about", "<h1>about</h1>"],
        ["/%61bout", "<h1>about</h1>"],
      ];
      for (const [target, body] of cases) {
        const res = await get(target);
        assert.equal(res.status, 200, target);
        assert.equal(res.text, body, target);
      }
    });
  });

  describe("hosts", () => {
    it("serves a site under any spelling of its host", async () => {
      for (const host of [
        HOST,
        `HELLO.${DOMAIN}`,
        `${HOST}.`,
        `${HOST}:8080`,
        `Hello.Sites.Test.:443`,
      ]) {
        const res = await get("/", {}, host);
        assert.equal(res.status, 200, host);
        assert.equal(res.text, INDEX, host);
      }
    });

    it("serves a deploy by id and a branch, and never another site's deploy", async () => {
      const byId = await get("/", {}, `0ld0ld--hello.${DOMAIN}`);
      assert.equal(byId.text, "<h1>the previous deploy</h1>");
      const published = await get("/", {}, `c0ffee01--hello.${DOMAIN}`);
      assert.equal(published.text, INDEX);
      const branch = await get("/", {}, `staging--hello.${DOMAIN}`);
      assert.equal(branch.text, "<h1>the previous deploy</h1>");
      const foreign = await get("/secret.html", {}, `0ther01--hello.${DOMAIN}`);
      assert.equal(foreign.status, 404);
      assert.ok(!foreign.text.includes(SECRET));
    });

    it("answers unknown hosts with a plain 404 that shows no site", async () => {
      for (const host of [
        `nobody.${DOMAIN}`,
        DOMAIN,
        "evil.example",
        `hello.${DOMAIN}.evil.example`,
        `x.hello.${DOMAIN}`,
        `unknown--hello.${DOMAIN}`,
        "127.0.0.1",
        "[::1]:80",
      ]) {
        for (const target of ["/", "/secret.html", "/index.html"]) {
          const res = await get(target, {}, host);
          assert.equal(res.status, 404, `${host}${target}`);
          assert.equal(res.text, "Not Found\n");
        }
      }
      const malformed = await get("/", {}, "bad host");
      assert.equal(malformed.status, 400);
    });
  });

  describe("hot-file cache", () => {
    it("reads each blob from the store once, then answers from memory", async () => {
      const counted = new Map<string, number>();
      const reader: BlobReader = {
        get: (id) => {
          counted.set(id, (counted.get(id) ?? 0) + 1);
          return blobs.get(id);
        },
        read: (id, range) => blobs.read(id, range),
        size: (id) => blobs.size(id),
      };
      const files = {
        "index.html": `<p>${"cached page ".repeat(100)}</p>`,
        _redirects: "/x /index.html 200",
      };
      const deploy = await makeDeploy(blobs, "cache01", files, { reader });
      const local = new MemorySiteResolver(DOMAIN);
      local.publish("cached", deploy);
      const edge = await startEdge({ resolver: local });
      try {
        for (let i = 0; i < 20; i++) {
          const res = await rawRequest(edge.port, `cached.${DOMAIN}`, i % 2 ? "/" : "/x", {
            headers: { "accept-encoding": i % 3 ? "br" : "identity" },
          });
          assert.equal(res.status, 200);
        }
        const indexSha = sha1(files["index.html"]);
        assert.equal(counted.get(indexSha), 1, "one store read for the page");
        assert.equal(counted.get(sha1(files._redirects)), 1, "rules parsed once per deploy");
        const stats = edge.edge.stats();
        assert.ok(stats.cache.hits >= 18, `hits ${stats.cache.hits}`);
        assert.equal(stats.deploys, 1);
      } finally {
        await edge.close();
      }
    });

    it("stays within its byte bound while serving more than fits", async () => {
      const files: Record<string, Buffer> = {};
      for (let i = 0; i < 12; i++) files[`f${i}.bin`] = randomBytes(4096);
      const deploy = await makeDeploy(blobs, "bound01", files);
      const local = new MemorySiteResolver(DOMAIN);
      local.publish("bounded", deploy);
      const edge = await startEdge({ resolver: local, cacheBytes: 16 * 1024 });
      try {
        for (let round = 0; round < 2; round++) {
          for (const [name, content] of Object.entries(files)) {
            const res = await rawRequest(edge.port, `bounded.${DOMAIN}`, `/${name}`);
            assert.deepEqual(res.body, content);
            assert.ok(edge.edge.stats().cache.bytes <= 16 * 1024);
          }
        }
        assert.ok(edge.edge.stats().cache.evictions > 0);
      } finally {
        await edge.close();
      }
    });

    it("refuses to serve a blob whose bytes do not match its SHA-1", async () => {
      const deploy = await makeDeploy(blobs, "corrupt01", { "index.html": "genuine" });
      const tampered: BlobReader = {
        get: async () => Buffer.from("tampered"),
        read: (id, range) => blobs.read(id, range),
        size: (id) => blobs.size(id),
      };
      const local = new MemorySiteResolver(DOMAIN);
      local.publish("corrupt", { ...deploy, blobs: tampered });
      const edge = await startEdge({ resolver: local });
      try {
        const res = await rawRequest(edge.port, `corrupt.${DOMAIN}`, "/");
        assert.equal(res.status, 500);
        assert.ok(!res.text.includes("tampered"));
      } finally {
        await edge.close();
      }
    });

    it("answers 503 while a deploy's rules cannot be read, and recovers", async () => {
      let failing = true;
      const flaky: BlobReader = {
        get: (id) => (failing ? Promise.reject(new Error("store unreachable")) : blobs.get(id)),
        read: (id, range) => blobs.read(id, range),
        size: (id) => blobs.size(id),
      };
      const deploy = await makeDeploy(
        blobs,
        "flaky01",
        { "index.html": "ok", _redirects: "/a /index.html 200" },
        { reader: flaky },
      );
      const local = new MemorySiteResolver(DOMAIN);
      local.publish("flaky", deploy);
      const edge = await startEdge({ resolver: local });
      try {
        assert.equal((await rawRequest(edge.port, `flaky.${DOMAIN}`, "/a")).status, 503);
        failing = false;
        const res = await rawRequest(edge.port, `flaky.${DOMAIN}`, "/a");
        assert.equal(res.status, 200);
        assert.equal(res.text, "ok");
      } finally {
        await edge.close();
      }
    });
  });
});
