import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodePath, parseRequestTarget } from "./request-path.ts";

function pathOf(target: string): string {
  const parsed = parseRequestTarget(target);
  assert.ok(parsed.ok, `${target} should parse, got ${JSON.stringify(parsed)}`);
  return parsed.path;
}

function statusOf(target: string): number {
  const parsed = parseRequestTarget(target);
  assert.ok(!parsed.ok, `${target} should be refused, got ${JSON.stringify(parsed)}`);
  return parsed.status;
}

describe("parseRequestTarget", () => {
  it("passes canonical paths through and splits off the query", () => {
    assert.deepEqual(parseRequestTarget("/"), { ok: true, path: "/", query: "" });
    assert.deepEqual(parseRequestTarget("/a/b.html?x=1&y"), {
      ok: true,
      path: "/a/b.html",
      query: "x=1&y",
    });
    assert.equal(pathOf("/docs/"), "/docs/");
    assert.equal(pathOf("/a/b#frag"), "/a/b");
  });

  it("decodes once and normalises dots, slashes and backslashes inside the root", () => {
    assert.equal(pathOf("/caf%C3%A9.html"), "/café.html");
    assert.equal(pathOf("/my%20file.html"), "/my file.html");
    assert.equal(pathOf("//about"), "/about");
    assert.equal(pathOf("/a//b///c"), "/a/b/c");
    assert.equal(pathOf("/a/./b"), "/a/b");
    assert.equal(pathOf("/a/../b"), "/b");
    assert.equal(pathOf("/a/%2e%2e/index.html"), "/index.html");
    assert.equal(pathOf("/a%2fb"), "/a/b");
    assert.equal(pathOf("/a%5cb"), "/a/b");
    assert.equal(pathOf("/a\\b"), "/a/b");
    assert.equal(pathOf("/docs/."), "/docs/");
    assert.equal(pathOf("/docs/sub/.."), "/docs/");
    assert.equal(pathOf("/.well-known/x"), "/.well-known/x");
    // %252e decodes once to the literal "%2e", a name, not a dot segment.
    assert.equal(pathOf("/%252e%252e/x"), "/%2e%2e/x");
  });

  it("refuses climbing above the root, control characters and malformed encoding with 400", () => {
    for (const target of [
      "/../../etc/passwd",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/..%2f..%2fetc/passwd",
      "/%5c..%5cx",
      "/a/../../b",
      "/..",
      "/a%00.html",
      "/a%0d%0aSet-Cookie:x",
      "/%E0%A4%A",
      "/%",
      "*",
      "garbage",
    ]) {
      assert.equal(statusOf(target), 400, target);
    }
    assert.equal(statusOf("/" + "a".repeat(9000)), 414);
  });

  it("accepts the absolute form that proxies send", () => {
    assert.deepEqual(parseRequestTarget("http://site.example/a/b?q=1"), {
      ok: true,
      path: "/a/b",
      query: "q=1",
    });
    assert.equal(pathOf("https://site.example"), "/");
  });

  it("encodes a decoded path segment by segment", () => {
    assert.equal(encodePath("/a b/c?d#e/é"), "/a%20b/c%3Fd%23e/%C3%A9");
  });
});
