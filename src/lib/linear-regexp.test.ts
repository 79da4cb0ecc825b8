import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileLinearRegExp, LinearRegExpError, MAX_STATES } from "./linear-regexp.ts";

/** A small deterministic pseudo-random generator (mulberry32). */
function random(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

describe("compileLinearRegExp", () => {
  it("agrees with RegExp (u flag) on random patterns and texts", () => {
    const next = random(3);
    const pick = <T>(items: readonly T[]): T => items[next(items.length)]!;
    const atoms = [
      "a",
      "b",
      ".",
      "\\d",
      "\\w",
      "\\s",
      "\\W",
      "[ab]",
      "[^a]",
      "[a-c]",
      "[\\d_]",
      "\\.",
      "\\/",
      "-",
      "\\u0061",
      "\\x62",
      "[\\s\\S]",
      "[]",
      "[^]",
      "\\u{1F600}",
      "😀",
      "\\b",
      "^",
      "$",
      "é",
      "\\n",
      "[\\b]",
      "\\0",
      "\\cJ",
      "\\uD83D\\uDE00",
    ];
    const quantifiers = ["", "", "", "*", "+", "?", "{2}", "{1,3}", "{0,}", "*?", "+?", "{2,}"];
    const pattern = (depth: number): string =>
      Array.from({ length: 1 + next(4) }, () => {
        if (depth > 0 && next(5) === 0) {
          const open = pick(["(", "(?:", "(?<g>"]);
          const alternative = next(3) === 0 ? "|" + pattern(depth - 1) : "";
          return `${open}${pattern(depth - 1)}${alternative})${pick(quantifiers)}`;
        }
        const atom = pick(atoms);
        return ["\\b", "^", "$"].includes(atom) ? atom : atom + pick(quantifiers);
      }).join("") + (next(6) === 0 ? "|" + pattern(0) : "");
    const chars = ["a", "b", "c", "1", " ", "\n", "_", ".", "/", "-", "😀", "é", "\u0000", "\b"];
    let checks = 0;
    let matches = 0;
    for (let round = 0; round < 3000; round++) {
      const source = pattern(2);
      let reference: RegExp;
      try {
        reference = new RegExp(source, "u");
      } catch {
        continue; // e.g. a named group twice
      }
      const linear = compileLinearRegExp(source);
      for (let k = 0; k < 20; k++) {
        const text = Array.from({ length: next(8) }, () => pick(chars)).join("");
        const expected = reference.test(text);
        assert.equal(linear.test(text), expected, `/${source}/u on ${JSON.stringify(text)}`);
        checks++;
        if (expected) matches++;
      }
    }
    assert.ok(checks > 50_000 && matches > checks / 5, `${checks} checks, ${matches} matches`);
  });

  it("takes time linear in the text where a backtracking engine explodes", (t) => {
    // V8 needs minutes for the first on 30 characters; the others are the classic cases.
    for (const source of ["^a*a*a*a*a*a*a*a*a*a*a*a*b", "^(a+)+$", "(a|a)*c", "^(\\w+\\s?)*$"]) {
      const linear = compileLinearRegExp(source);
      const steps = (n: number): number => {
        const meter = { steps: 0 };
        assert.equal(linear.test("a".repeat(n) + "!", meter), false);
        return meter.steps;
      };
      const started = performance.now();
      const small = steps(1000);
      const large = steps(4000);
      t.diagnostic(
        `${source}: ${large} steps for 4000, ${(performance.now() - started).toFixed(1)} ms`,
      );
      assert.ok(large <= 4.2 * small, `${source}: ${small} then ${large} steps`);
    }
  });

  it("refuses what no automaton (or this one) does, saying so", () => {
    const refusal = (source: string): string => {
      try {
        compileLinearRegExp(source);
      } catch (error) {
        assert.ok(error instanceof LinearRegExpError);
        return error.message;
      }
      return "accepted";
    };
    assert.match(refusal("(?=a)"), /look-ahead/);
    assert.match(refusal("(?<!a)b"), /look-behind/);
    assert.match(refusal("(a)\\1"), /back-references/);
    assert.match(refusal("(?<x>a)\\k<x>"), /back-references/);
    assert.match(refusal("\\p{L}"), /Unicode property escapes/);
    assert.match(refusal(`a{${MAX_STATES}}`), /too complex/);
    assert.equal(refusal("a{100}"), "accepted");
  });
});
