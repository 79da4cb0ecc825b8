import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RE2JS } from "re2js";
import {
  branchFilterError,
  branchFilterMatches,
  normalizeBranchFilter,
  programSizeBound,
} from "./branch-filter.ts";

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

  it("validates regex filters as RE2 does, saying what is wrong", () => {
    assert.equal(branchFilterError("regex", "^(main|develop)$"), null);
    assert.equal(branchFilterError("regex", "^release/[0-9]+\\.[0-9]+$"), null);
    assert.equal(branchFilterError("regex", "(?:feature|fix)/.+"), null);
    assert.equal(
      branchFilterError("regex", "(unclosed"),
      "not valid RE2 syntax: missing closing ): `(unclosed`",
    );
    assert.match(
      branchFilterError("regex", "(?=main)") ?? "",
      /^not valid RE2 syntax: look-around/,
    );
    assert.match(branchFilterError("regex", "(?<!a)b") ?? "", /look-around/);
    assert.match(branchFilterError("regex", "(a)\\1") ?? "", /back-references/);
    // RE2 never backtracks, so nested quantifiers are as safe as any other pattern.
    assert.equal(branchFilterError("regex", "^(a+)+$"), null);
    assert.equal(branchFilterError("regex", "^(a|a)*$"), null);
    assert.equal(branchFilterError("regex", "^((ab)*c)+$"), null);
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

  it("answers a pathological wildcard filter on a long branch in linear steps", () => {
    const wildcard = "*a*a*a*a*a*a*a*a*a*a*a*a*b";
    assert.equal(branchFilterError("wildcard", wildcard), null);
    for (const length of [200, 4000]) {
      const branch = "a".repeat(length);
      const meter = { steps: 0 };
      assert.equal(branchFilterMatches("wildcard", wildcard, branch, meter), false);
      assert.ok(meter.steps <= 3 * (length + 1) * 12 + 100, `wildcard: ${meter.steps} steps`);
      assert.equal(branchFilterMatches("wildcard", wildcard, branch + "b"), true);
    }
  });

  it("answers catastrophic regex filters on a long branch in steps linear in its length", () => {
    // A backtracking engine (JavaScript's RegExp) takes minutes on 30 characters for each of
    // these; RE2 walks the branch once per engine it tries. The meter counts every read of the
    // branch's bytes, which every step of every RE2 engine makes; the work a step does is
    // bounded by the program, whose size the validation bounds.
    const regexes = [
      "(a+)+$",
      "^(a+)+$",
      "^(a+)+b$",
      "(a|a)*c",
      "^(a|aa)+$",
      "^(\\w+\\s?)*$",
      "^a*a*a*a*a*a*a*a*a*a*a*a*b",
    ];
    for (const regex of regexes) {
      assert.equal(branchFilterError("regex", regex), null, regex);
      const steps = (length: number): number => {
        const meter = { steps: 0 };
        // "!b": the literal b is there, so RE2 cannot rule the branch out without running.
        const branch = "a".repeat(length) + "!b";
        assert.equal(branchFilterMatches("regex", regex, branch, meter), false, regex);
        return meter.steps;
      };
      for (const length of [1000, 4000]) {
        const taken = steps(length);
        assert.ok(taken >= length, `${regex}: the meter saw ${taken} steps`);
        assert.ok(taken <= 4 * (length + 2), `${regex}: ${taken} steps for ${length}`);
      }
    }
    assert.equal(branchFilterMatches("regex", "^(a+)+b$", "a".repeat(4000) + "b"), true);
  });

  it("matches regex filters like JavaScript's RegExp where the two dialects agree", () => {
    const filters = [
      "^(main|develop)$",
      "^release/[0-9]+\\.[0-9]+$",
      "(?:feature|fix)/.+",
      "^v\\d+\\.\\d+(?:\\.\\d)?$",
      "\\bhotfix\\b",
      "^[^/]+$",
      "é|😀",
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

  it("follows RE2's syntax where it differs from JavaScript's, as GitLab does", () => {
    const matches = (regex: string, branch: string): boolean => {
      assert.equal(branchFilterError("regex", regex), null, regex);
      return branchFilterMatches("regex", regex, branch);
    };
    assert.equal(matches("^\\p{L}+$", "café"), true);
    assert.equal(matches("^\\pL+$", "café1"), false);
    assert.equal(matches("\\x{1F600}", "emoji-😀"), true);
    assert.equal(matches("(?i)^main$", "MAIN"), true);
    assert.equal(matches("^\\Qv1.0\\E$", "v1x0"), false);
    assert.equal(matches("^[[:digit:]]+$", "123"), true);
    assert.equal(matches("^(?P<team>[a-z]+)/", "ops/x"), true);
    assert.equal(matches("\\Amain\\z", "main"), true);
    for (const regex of ["\\u0061", "\\u{61}", "\\cJ", "[]", "[^]", "a{2}{3}"]) {
      assert.match(branchFilterError("regex", regex) ?? "", /^not valid RE2 syntax: /, regex);
      assert.equal(branchFilterMatches("regex", regex, "a"), false, regex);
    }
  });

  it("refuses regex filters that compile to too large a program, saying why", () => {
    // RE2 allows counts up to 1000; eleven of them make a program of some 11000 instructions.
    assert.equal(branchFilterError("regex", "a{1000}".repeat(9)), null);
    assert.match(branchFilterError("regex", "a{1000}".repeat(11)) ?? "", /too complex/);
    assert.match(branchFilterError("regex", "(?:[a-z]{1000})".repeat(260)) ?? "", /too complex/);
    assert.match(
      branchFilterError("regex", "((a{10}){10}){10}" + "b{1000}".repeat(9)) ?? "",
      /too complex/,
    );
    assert.match(branchFilterError("regex", "(?:a{100}){200}") ?? "", /repeat count|too complex/);
    assert.equal(branchFilterMatches("regex", "a{1000}".repeat(11), "a"), false);
  });

  it("bounds a regex's program size from above before compiling it, on random patterns", () => {
    let state = 11;
    const next = (n: number): number => {
      state = (state * 48271) % 2147483647;
      return state % n;
    };
    const pick = <T>(items: readonly T[]): T => items[next(items.length)]!;
    const atoms = [
      "",
      ..."a é 😀 . (?s). \\d \\W \\pL \\p{Greek} \\x{41} \\( (?i)k ^ $ \\b \\z () (?:)".split(" "),
      ..."[a-c] [^)] []a] [[:alpha:](] [\\d\\pL_-] (?i)[a-z] \\Q(a\\E \\Q\\E \\Qab".split(" "),
    ];
    const counts = ["", "", "*", "+?", "??", "{0}", "{3}", "{0,7}", "{2,}", "{1000}", "{1,1000}"];
    const pattern = (depth: number): string =>
      Array.from({ length: 1 + next(4) }, () => {
        if (depth > 0 && next(3) === 0) {
          const open = pick(["(", "(?:", "(?P<g>", "(?i:"]);
          const alternative = next(3) === 0 ? "|" + (next(2) ? pattern(depth - 1) : "") : "";
          return `${open}${pattern(depth - 1)}${alternative})${pick([...counts, "\\Q\\E{5}"])}`;
        }
        return pick(atoms) + pick(counts);
      }).join("") + (next(8) === 0 ? "|" : "");
    let compiled = 0;
    for (let round = 0; round < 3000; round++) {
      const source = pattern(3);
      let size: number;
      try {
        size = RE2JS.compile(source).programSize();
      } catch {
        continue; // e.g. a count over 1000 in all
      }
      compiled++;
      assert.ok(programSizeBound(source) >= size, `${source}: ${size} instructions`);
    }
    assert.ok(compiled > 1000, `${compiled} compiled`);
  });
});
