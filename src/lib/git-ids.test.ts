import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GIT_OBJECT_ID_SOURCE, isGitObjectId } from "./git-ids.ts";

describe("isGitObjectId", () => {
  it("accepts full SHA-1 and SHA-256 ids in lowercase", () => {
    assert.equal(isGitObjectId("a".repeat(40)), true);
    assert.equal(isGitObjectId("0123456789abcdef".repeat(4)), true);
  });

  it("refuses abbreviated, other lengths, uppercase and non-hex", () => {
    for (const value of ["", "abc1234", "a".repeat(39), "a".repeat(41), "a".repeat(63)]) {
      assert.equal(isGitObjectId(value), false, value);
    }
    assert.equal(isGitObjectId("A".repeat(40)), false);
    assert.equal(isGitObjectId(`${"a".repeat(39)}g`), false);
    assert.equal(isGitObjectId(`${"a".repeat(40)}\n`), false);
  });

  it("gives the unanchored pattern for larger ones", () => {
    const line = new RegExp(`^(${GIT_OBJECT_ID_SOURCE}) (refs/\\S+)$`);
    assert.deepEqual(line.exec(`${"b".repeat(64)} refs/heads/main`)?.slice(1), [
      "b".repeat(64),
      "refs/heads/main",
    ]);
  });
});
