import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseProjectPath } from "./access.ts";
import { isValidGitProtocol, parsePushLog } from "./runtime.ts";

describe("parseProjectPath", () => {
  it("accepts namespace/project with an optional leading slash and .git suffix", () => {
    assert.equal(parseProjectPath("alice/site"), "alice/site");
    assert.equal(parseProjectPath("/alice/site.git"), "alice/site");
    assert.equal(parseProjectPath("Group_1/my-site.v2.git"), "Group_1/my-site.v2");
    assert.equal(parseProjectPath("alice/foo."), "alice/foo.");
  });

  it("refuses anything that is not exactly two plain segments", () => {
    for (const path of [
      "",
      "/",
      "alice",
      "/etc/passwd/x",
      "alice/../bob",
      "../alice/site",
      "alice/site/..",
      "alice/a..b",
      "alice/%2e%2e",
      "%2e%2e/site",
      "alice/.git",
      "./site",
      "alice//site",
      "//alice/site",
      "~alice/site",
      "-alice/site",
      "alice/-site",
      "alice/site.git.git/x",
      "alice/si te",
      "alice/site\n",
      "alice\\site/x",
      `alice/${"a".repeat(256)}`,
    ]) {
      assert.equal(parseProjectPath(path), undefined, JSON.stringify(path));
    }
  });
});

describe("isValidGitProtocol", () => {
  it("accepts only version=0..2", () => {
    assert.equal(isValidGitProtocol("version=2"), true);
    assert.equal(isValidGitProtocol("version=1"), true);
    for (const value of ["version=3", "version=2:x=y", "--split-string=x", "version=2\n", ""]) {
      assert.equal(isValidGitProtocol(value), false, JSON.stringify(value));
    }
  });
});

describe("parsePushLog", () => {
  it("reads post-receive lines and skips anything malformed", () => {
    const a = "a".repeat(40);
    const b = "b".repeat(40);
    const text = `${a} ${b} refs/heads/main\n${"0".repeat(40)} ${b} refs/tags/v1\ngarbage\n${a} ${b}\n`;
    assert.deepEqual(parsePushLog(text), [
      { before: a, after: b, ref: "refs/heads/main" },
      { before: "0".repeat(40), after: b, ref: "refs/tags/v1" },
    ]);
  });
});
