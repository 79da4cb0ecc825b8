import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_COMMIT_TEXT, parseCommitObject } from "./commit-info.ts";

describe("a commit's author and subject", () => {
  it("reads the author's name and the message's first line", () => {
    const raw =
      "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n" +
      "parent 1111111111111111111111111111111111111111\n" +
      "author Ada Lovelace <ada@example.test> 1700000000 +0100\n" +
      "committer Bot <bot@example.test> 1700000001 +0000\n" +
      "\n" +
      "Fix the \x1b[31mheader\x1b[0m\n\nA longer body.\n";
    assert.deepEqual(parseCommitObject(raw), {
      author: "Ada Lovelace",
      subject: "Fix the  [31mheader [0m",
    });
  });

  it("gives null for what a commit lacks, and caps long text", () => {
    assert.deepEqual(parseCommitObject("tree x\nauthor  <a@b> 1 +0000\n\n\n"), {
      author: null,
      subject: null,
    });
    const long = "x".repeat(1000);
    const parsed = parseCommitObject(`tree x\nauthor ${long} <a@b> 1 +0000\n\n${long}\n`);
    assert.equal(parsed.author?.length, MAX_COMMIT_TEXT);
    assert.ok(parsed.subject?.endsWith("…"));
  });
});
