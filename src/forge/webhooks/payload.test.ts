import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { commitTitle } from "./hook-attrs.ts";
import { classifyUpdates, withinHookLimit } from "./ref-changes.ts";

const Z = "0".repeat(40);
const A = "a".repeat(40);
const B = "b".repeat(40);

describe("push payload helpers", () => {
  it("classifies branch and tag updates and ignores everything else", () => {
    const changes = classifyUpdates([
      { ref: "refs/heads/main", before: Z, after: A },
      { ref: "refs/heads/feature/x", before: A, after: B },
      { ref: "refs/heads/gone", before: A, after: Z },
      { ref: "refs/tags/v1", before: Z, after: B },
      { ref: "refs/merge-requests/1/head", before: Z, after: A },
      { ref: "refs/heads/same", before: A, after: A },
      { ref: "refs/heads/bad", before: "nope", after: A },
      { ref: "refs/heads/", before: Z, after: A },
    ]);
    assert.deepEqual(
      changes.map((c) => [c.kind, c.action, c.name]),
      [
        ["branch", "create", "main"],
        ["branch", "update", "feature/x"],
        ["branch", "remove", "gone"],
        ["tag", "create", "v1"],
      ],
    );
  });

  it("drops a (ref type, action) group larger than the limit, as GitLab does", () => {
    const created = ["a", "b", "c", "d"].map((n) => ({
      ref: `refs/heads/${n}`,
      before: Z,
      after: A,
    }));
    const updated = { ref: "refs/heads/main", before: A, after: B };
    const tag = { ref: "refs/tags/v1", before: Z, after: A };
    const kept = withinHookLimit(classifyUpdates([...created, updated, tag]));
    assert.deepEqual(
      kept.map((c) => c.ref),
      ["refs/heads/main", "refs/tags/v1"],
    );
    assert.equal(withinHookLimit(classifyUpdates(created.slice(0, 3))).length, 3);
  });

  it("titles commits like GitLab's Commit#title", () => {
    assert.equal(commitTitle("Fix the thing\n\nbody"), "Fix the thing");
    assert.equal(commitTitle("Windows line\r\nbody"), "Windows line");
    assert.equal(commitTitle(""), "No commit message");
    assert.equal(commitTitle("  \n"), "No commit message");
    const long = `${"word ".repeat(30)}end`;
    const title = commitTitle(long);
    assert.ok(title.endsWith("…"));
    assert.ok(Array.from(title).length <= 81);
    assert.ok(!title.slice(0, -1).endsWith(" "));
    const unbroken = "x".repeat(120);
    assert.equal(commitTitle(unbroken), `${"x".repeat(80)}…`);
    assert.equal(commitTitle("y".repeat(99)), "y".repeat(99));
  });
});
