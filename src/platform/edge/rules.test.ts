import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LocalBlobStore } from "../deploys/local-blob-store.ts";
import { publishDirectory } from "../deploys/publish.ts";
import {
  EMPTY_RULES,
  MAX_RULES_FILE_BYTES,
  applyRedirectRules,
  headersForPath,
  loadDeployRules,
  parseRules,
  type DeployRules,
} from "./rules.ts";
import { compileFromPath } from "./rule-paths.ts";

const req = (path: string, query = "", host = "site.sites.test") => ({ host, path, query });

describe("compileFromPath", () => {
  const matches = (from: string, path: string): boolean =>
    compileFromPath(from).match(path) !== undefined;

  it("matches literal paths with an optional trailing slash, case-sensitively", () => {
    assert.deepEqual(compileFromPath("/About/team").names, []);
    assert.ok(matches("/About/team", "/About/team"));
    assert.ok(matches("/About/team", "/About/team/"));
    assert.ok(!matches("/About/team", "/about/team"));
    assert.ok(!matches("/About/team", "/About/team/x"));
    assert.ok(!matches("/About/team", "/About/teamx"));
  });

  it("captures :placeholders and a final splat, and decodes encoded literals", () => {
    const matcher = compileFromPath("/u/:id/files/*");
    assert.deepEqual(matcher.names, ["id", "splat"]);
    assert.deepEqual(matcher.match("/u/42/files/a/b.txt"), ["42", "a/b.txt"]);
    assert.ok(matches("/authors/c%C3%A9line", "/authors/céline"));
    assert.ok(matches("/", "/"));
    assert.ok(!matches("/", "/x"));
    assert.ok(matches("/a.b", "/a.b"));
    assert.ok(!matches("/a.b", "/axb"), "dots are literal");
  });
});

describe("parseRules and applyRedirectRules", () => {
  let rules: DeployRules;

  before(async () => {
    rules = await parseRules({
      redirects: Buffer.from(
        [
          "# comment",
          "/old          /new                 301",
          "/temp         /new                 302",
          "/default      /new",
          "/blog/*       /posts/:splat        301",
          "/users/:id/profile  /profiles/:id.html  200",
          "/search  q=:term   /results/:term.html  200",
          "/flag    debug     /debug.html  200",
          "/exact   v=2       /v2.html     200",
          "/closed       /store-closed        404",
          "/away/*       https://example.com/x/:splat  302",
          "/proxy        https://example.com  200",
          "/cond         /x   302  Country=us",
          "/forced       /forced-target.html  200!",
          "/app/*        /index.html          200",
          "https://old.sites.test/*  https://new.sites.test/:splat  301!",
          "/unicode/*    /ü/:splat  302",
          "/broken",
        ].join("\n"),
      ),
      headers: Buffer.from(
        [
          "/assets/*",
          "  Cache-Control: public, max-age=31536000, immutable",
          "/*",
          "  X-Frame-Options: DENY",
          "  Content-Length: 5",
          "/about",
          "  X-Frame-Options: SAMEORIGIN",
        ].join("\n"),
      ),
      netlifyToml: Buffer.from(
        [
          "[[redirects]]",
          'from = "/toml"',
          'to = "/docs"',
          "status = 302",
          "",
          "[[headers]]",
          'for = "/data.json"',
          "[headers.values]",
          'Access-Control-Allow-Origin = "*"',
        ].join("\n"),
      ),
    });
  });

  it("reports every ignored line or rule with its reason", () => {
    const errors = rules.errors.join("\n");
    assert.match(errors, /line 18:\s+\/broken\s+Missing destination/);
    assert.match(
      errors,
      /\/proxy https:\/\/example\.com\): proxying to another URL is not supported/,
    );
    assert.match(errors, /\/cond \/x\): conditions \(Country\) are not supported/);
    assert.match(errors, /"Content-Length" is set by the edge/);
    assert.ok(!errors.includes("slipway-rules-"), "temp paths do not leak into messages");
    assert.equal(rules.hasForced, true);
  });

  it("redirects with the rule's status (301 by default) and passes the query string on", () => {
    assert.deepEqual(applyRedirectRules(rules, req("/old"), false), {
      kind: "redirect",
      status: 301,
      location: "/new",
    });
    assert.deepEqual(applyRedirectRules(rules, req("/temp/", "a=1&b=2"), false), {
      kind: "redirect",
      status: 302,
      location: "/new?a=1&b=2",
    });
    assert.equal(applyRedirectRules(rules, req("/default"), false)?.kind, "redirect");
    assert.deepEqual(applyRedirectRules(rules, req("/default"), false), {
      kind: "redirect",
      status: 301,
      location: "/new",
    });
  });

  it("substitutes splats and placeholders, encoding them for the Location header", () => {
    assert.deepEqual(applyRedirectRules(rules, req("/blog/2024/a b"), false), {
      kind: "redirect",
      status: 301,
      location: "/posts/2024/a%20b",
    });
    assert.deepEqual(applyRedirectRules(rules, req("/away/x/y"), false), {
      kind: "redirect",
      status: 302,
      location: "https://example.com/x/x/y",
    });
    assert.deepEqual(applyRedirectRules(rules, req("/unicode/z"), false), {
      kind: "redirect",
      status: 302,
      location: "/%C3%BC/z",
    });
    assert.deepEqual(applyRedirectRules(rules, req("/users/42/profile"), false), {
      kind: "rewrite",
      status: 200,
      path: "/profiles/42.html",
    });
  });

  it("matches and captures query parameters", () => {
    assert.deepEqual(applyRedirectRules(rules, req("/search", "q=kites"), false), {
      kind: "rewrite",
      status: 200,
      path: "/results/kites.html",
    });
    assert.deepEqual(applyRedirectRules(rules, req("/flag", "debug"), false), {
      kind: "rewrite",
      status: 200,
      path: "/debug.html",
    });
    assert.equal(applyRedirectRules(rules, req("/flag", "other=1"), false), undefined);
    assert.equal(applyRedirectRules(rules, req("/exact", "v=1"), false), undefined);
    assert.deepEqual(applyRedirectRules(rules, req("/exact", "v=2"), false), {
      kind: "rewrite",
      status: 200,
      path: "/v2.html",
    });
  });

  it("keeps a captured value that tries to climb out of the deploy inside it", () => {
    // Captures are encoded into the target, which is then decoded and normalised like any
    // request path: a climb above the root is refused, anything else stays in the deploy.
    assert.deepEqual(applyRedirectRules(rules, req("/search", "q=../../../etc/passwd"), false), {
      kind: "not_found",
      status: 404,
    });
    assert.deepEqual(applyRedirectRules(rules, req("/search", "q=..%2Fx"), false), {
      kind: "rewrite",
      status: 200,
      path: "/x.html",
    });
  });

  it("rewrites with a custom status and honours shadowing unless forced", () => {
    assert.deepEqual(applyRedirectRules(rules, req("/closed"), false), {
      kind: "rewrite",
      status: 404,
      path: "/store-closed",
    });
    // An existing file shadows a normal rule…
    assert.equal(applyRedirectRules(rules, req("/app/index.html"), true), undefined);
    assert.deepEqual(applyRedirectRules(rules, req("/app/deep/link"), false), {
      kind: "rewrite",
      status: 200,
      path: "/index.html",
    });
    // …but not a forced one.
    assert.deepEqual(applyRedirectRules(rules, req("/forced"), true), {
      kind: "rewrite",
      status: 200,
      path: "/forced-target.html",
    });
  });

  it("applies host-specific rules only on that host", () => {
    assert.deepEqual(applyRedirectRules(rules, req("/a/b", "", "old.sites.test"), true), {
      kind: "redirect",
      status: 301,
      location: "https://new.sites.test/a/b",
    });
    assert.equal(applyRedirectRules(rules, req("/a/b", "", "other.sites.test"), false), undefined);
  });

  it("takes netlify.toml rules after _redirects", () => {
    assert.deepEqual(applyRedirectRules(rules, req("/toml"), false), {
      kind: "redirect",
      status: 302,
      location: "/docs",
    });
  });

  it("collects header rules per path, later rules overriding earlier ones", () => {
    assert.deepEqual(headersForPath(rules, "/assets/app.js"), [
      ["cache-control", "public, max-age=31536000, immutable"],
      ["x-frame-options", "DENY"],
    ]);
    assert.deepEqual(headersForPath(rules, "/about"), [["x-frame-options", "SAMEORIGIN"]]);
    assert.deepEqual(headersForPath(rules, "/data.json"), [
      ["x-frame-options", "DENY"],
      ["access-control-allow-origin", "*"],
    ]);
  });
});

describe("loadDeployRules", () => {
  let work: string;
  let blobs: LocalBlobStore;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "slipway-rules-test-"));
    blobs = await LocalBlobStore.open(join(work, "store"));
  });
  after(() => rm(work, { recursive: true, force: true }));

  it("reads the deploy's own rule files, or the repository's netlify.toml when given", async () => {
    const out = join(work, "out");
    await mkdir(out, { recursive: true });
    await writeFile(join(out, "_redirects"), "/a /b 302\n");
    await writeFile(join(out, "netlify.toml"), '[[redirects]]\nfrom = "/c"\nto = "/d"\n');
    const { manifest } = await publishDirectory(out, { blobs });
    const own = await loadDeployRules({ manifest, blobs });
    assert.deepEqual(
      own.redirects.map((r) => [r.from, r.to, r.status]),
      [
        ["/a", "/b", 302],
        ["/c", "/d", 301],
      ],
    );
    const repo = await loadDeployRules({
      manifest,
      blobs,
      netlifyToml: '[[redirects]]\nfrom = "/e"\nto = "/f"\nstatus = 302\n',
    });
    assert.deepEqual(
      repo.redirects.map((r) => r.from),
      ["/a", "/e"],
    );
    const staging = join(work, "staging");
    await mkdir(staging);
    await loadDeployRules({ manifest, blobs, tmpDir: staging });
    assert.deepEqual(await readdir(staging), [], "the staging directory is removed");
  });

  it("returns the shared empty rules when a deploy has no rule files", async () => {
    const out = join(work, "plain");
    await mkdir(out, { recursive: true });
    await writeFile(join(out, "index.html"), "hi");
    const { manifest } = await publishDirectory(out, { blobs });
    assert.equal(await loadDeployRules({ manifest, blobs }), EMPTY_RULES);
  });

  it("ignores an oversize rule file with an error", async () => {
    const rules = await parseRules({ redirects: Buffer.alloc(MAX_RULES_FILE_BYTES + 1, 0x20) });
    assert.deepEqual(rules.redirects, []);
    assert.match(rules.errors[0] ?? "", /_redirects is larger than/);
  });
});
