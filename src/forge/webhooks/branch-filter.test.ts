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

  it("matches wildcards exactly as the former `.*?` RegExp did, on random filters", () => {
    let state = 5;
    const next = (n: number): number => {
      state = (state * 48271) % 2147483647;
      return state % n;
    };
    const atoms = ["a", "b", "/", "*", "*", ".", "-", "é", "😀"];
    let matches = 0;
    for (let i = 0; i < 2000; i++) {
      const filter = Array.from({ length: 1 + next(7) }, () => atoms[next(atoms.length)]).join("");
      const escaped = filter.split("*").map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"));
      const former = new RegExp(`^${escaped.join(".*?")}$`, "su");
      for (let k = 0; k < 20; k++) {
        const branch = Array.from({ length: next(9) }, () => atoms[next(atoms.length)]).join("");
        const expected = former.test(branch);
        assert.equal(
          branchFilterMatches("wildcard", filter, branch),
          expected,
          `${filter} ~ ${branch}`,
        );
        if (expected) matches++;
      }
    }
    assert.ok(matches > 1000, `${matches} matches`);
  });

  it("answers a pathological wildcard or regex filter on a long branch in linear steps", () => {
    const wildcard = "*a*a*a*a*a*a*a*a*a*a*a*a*b";
    // The regex needs no nested group to make a backtracking engine take minutes.
    const regex = "^a*a*a*a*a*a*a*a*a*a*a*a*b";
    assert.equal(branchFilterError("wildcard", wildcard), null);
    assert.equal(branchFilterError("regex", regex), null);
    for (const length of [200, 4000]) {
      const branch = "a".repeat(length);
      const meter = { steps: 0 };
      assert.equal(branchFilterMatches("wildcard", wildcard, branch, meter), false);
      assert.ok(meter.steps <= 3 * (length + 1) * 12 + 100, `wildcard: ${meter.steps} steps`);
      const regexMeter = { steps: 0 };
      assert.equal(branchFilterMatches("regex", regex, branch, regexMeter), false);
      // Each position steps each of the pattern's 38 instructions at most a few times.
      assert.ok(regexMeter.steps <= 4 * (length + 1) * 40, `regex: ${regexMeter.steps} steps`);
      assert.equal(branchFilterMatches("wildcard", wildcard, branch + "b"), true);
      assert.equal(branchFilterMatches("regex", regex, branch + "b"), true);
    }
  });

  it("matches regex filters like JavaScript's RegExp, without its backtracking", () => {
    const filters = [
      "^(main|develop)$",
      "^release/[0-9]+\\.[0-9]+$",
      "(?:feature|fix)/.+",
      "^v\\d+\\.\\d+(?:\\.\\d)?$",
      "\\bhotfix\\b",
      "^[^/]+$",
      "é|\\u{1F600}",
      "^(?<team>[a-z]+)/\\w+-\\d{2,4}$",
    ];
    const branches = [
      "main",
      "develop",
      "release/1.2",
      "release/1.2.3",
      "feature/x",
      "fix/",
      "v1",
      "v1.2.3",
      "v1.2.3.4",
      "team/hotfix-1",
      "hotfixes",
      "a/b",
      "café",
      "😀",
      "ops/task-123",
      "ops/task-1",
    ];
    for (const filter of filters) {
      assert.equal(branchFilterError("regex", filter), null, filter);
      const reference = new RegExp(filter, "u");
      for (const branch of branches) {
        assert.equal(
          branchFilterMatches("regex", filter, branch),
          reference.test(branch),
          `${filter} ~ ${branch}`,
        );
      }
    }
  });

  it("refuses regex filters the linear matcher cannot run, saying why", () => {
    assert.match(branchFilterError("regex", "\\p{L}+") ?? "", /Unicode property escapes/);
    assert.match(branchFilterError("regex", "(?:a{100}){200}") ?? "", /too complex/);
    assert.equal(branchFilterMatches("regex", "\\p{L}+", "main"), false);
  });
});
