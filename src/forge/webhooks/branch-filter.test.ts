import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { branchFilterError, branchFilterMatches, normalizeBranchFilter } from "./branch-filter.ts";

describe("branch filter", () => {
  it("matches wildcards like GitLab's RefMatcher: * spans any characters, slashes included", () => {
    const cases: Array<[string, string, boolean]> = [
      ["main", "main", true],
      ["main", "main2", false],
      ["main", "xmain", false],
      ["feature/*", "feature/login", true],
      ["feature/*", "feature/a/b", true],
      ["feature/*", "feature", false],
      ["feature/**", "feature/a/b", true],
      ["*-stable", "13-1-stable", true],
      ["*-stable", "13-1-stable-x", false],
      ["release/*/hotfix", "release/1.2/hotfix", true],
      ["release/*/hotfix", "release/1.2/hotfix2", false],
      ["v1.0", "v1x0", false],
      ["*", "anything/at/all", true],
    ];
    for (const [filter, branch, expected] of cases) {
      assert.equal(
        branchFilterMatches("wildcard", filter, branch),
        expected,
        `${filter} ~ ${branch}`,
      );
    }
  });

  it("matches regexes unanchored, as RE2's === does", () => {
    assert.equal(branchFilterMatches("regex", "^release/\\d+$", "release/12"), true);
    assert.equal(branchFilterMatches("regex", "^release/\\d+$", "release/12a"), false);
    assert.equal(branchFilterMatches("regex", "hotfix", "team/hotfix-1"), true);
    assert.equal(branchFilterMatches("regex", "(unclosed", "x"), false);
  });

  it("lets everything through for all_branches and for an empty filter", () => {
    assert.equal(branchFilterMatches("all_branches", "main", "dev"), true);
    assert.equal(branchFilterMatches("wildcard", null, "dev"), true);
    assert.equal(branchFilterMatches("regex", null, "dev"), true);
  });

  it("normalises as GitLab stores it", () => {
    assert.equal(normalizeBranchFilter("wildcard", "  feature/*   "), "feature/*");
    assert.equal(normalizeBranchFilter("wildcard", ""), null);
    assert.equal(normalizeBranchFilter("all_branches", "main"), null);
    assert.equal(normalizeBranchFilter("regex", " ^a "), " ^a ");
    assert.equal(normalizeBranchFilter("wildcard", undefined), null);
  });

  it("validates wildcard filters as branch names with * allowed", () => {
    assert.equal(branchFilterError("wildcard", "feature/*"), null);
    assert.equal(branchFilterError("wildcard", "some-wildcard"), null);
    assert.equal(branchFilterError("wildcard", "~badbranchname/"), "is not a valid branch name");
    assert.equal(branchFilterError("wildcard", "a..b"), "is not a valid branch name");
    assert.equal(branchFilterError("wildcard", "-x"), "is not a valid branch name");
    assert.match(branchFilterError("wildcard", "a".repeat(4001)) ?? "", /longer than/);
  });

  it("validates regex filters, refusing what RE2 refuses and what could backtrack badly", () => {
    assert.equal(branchFilterError("regex", "^(main|develop)$"), null);
    assert.equal(branchFilterError("regex", "^release/[0-9]+\\.[0-9]+$"), null);
    assert.equal(branchFilterError("regex", "(?:feature|fix)/.+"), null);
    assert.equal(branchFilterError("regex", "(unclosed"), "not a valid regular expression");
    assert.match(branchFilterError("regex", "(?=main)") ?? "", /look-around/);
    assert.match(branchFilterError("regex", "(a)\\1") ?? "", /back-references/);
    assert.match(branchFilterError("regex", "^(a+)+$") ?? "", /catastrophically/);
    assert.match(branchFilterError("regex", "^(a|a)*$") ?? "", /catastrophically/);
    assert.match(branchFilterError("regex", "^((ab)*c)+$") ?? "", /catastrophically/);
  });
});
