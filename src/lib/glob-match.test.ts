import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  compileGlob,
  foldCodePoint,
  GlobText,
  type Glob,
  type GlobSyntax,
  type GlobToken,
} from "./glob-match.ts";

const PLAIN: GlobSyntax = { foldCase: false, starExcludes: [] };
const PATHS: GlobSyntax = { foldCase: true, starExcludes: [0x0a, 0x0d, 0x2028, 0x2029] };
const lit = (text: string): GlobToken => ({ kind: "literal", text });
const seg: GlobToken = { kind: "segment" };
const star: GlobToken = { kind: "star" };

/**
 * The RegExp the tokens stand for, which the matcher must agree with: `.` stops where the
 * syntax's stars stop (line terminators without the `s` flag), `i` for case folding.
 */
function reference(tokens: readonly GlobToken[], syntax: GlobSyntax, slash: boolean): RegExp {
  const escape = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
  const source = tokens
    .map((t) => (t.kind === "literal" ? escape(t.text) : t.kind === "segment" ? "[^/]+" : ".*"))
    .join("");
  const flags = `u${syntax.foldCase ? "i" : ""}${syntax.starExcludes.length === 0 ? "s" : ""}`;
  return new RegExp(`^${source}${slash ? "/?" : ""}$`, flags);
}

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

/** Steps a match may take: 3 per text position and floating piece, plus the pattern twice. */
function bound(glob: Glob, n: number, m: number): number {
  return 3 * (n + 1) * glob.floatingPieces + 3 * m + 3;
}

describe("compileGlob", () => {
  it("matches literals, segments and stars, anchored, with an optional trailing slash", () => {
    const glob = compileGlob([lit("/a/"), seg, lit("/x"), star, lit(".js")], PATHS, {
      optionalTrailingSlash: true,
    });
    assert.ok(glob.match("/a/b/x.js"));
    assert.ok(glob.match("/a/b/x/deep/path.js/"));
    assert.ok(glob.match("/A/B/X.JS"), "case-insensitive");
    assert.ok(!glob.match("/a//x.js"), "a segment is not empty");
    assert.ok(!glob.match("/a/b/c/x.js"), "a segment holds no slash");
    assert.ok(!glob.match("/a/b/x.jsx"));
    assert.ok(!glob.match("/a/b/x\u2028.js"), "a star does not cross a line terminator");
    assert.ok(compileGlob([lit("/a/"), seg], PATHS).match("/a/b\u2028c"), "a segment does");
    assert.equal(glob.wildcards, 2);
  });

  it("follows every line a segment can carry a star into", () => {
    // The segment after "/p" ends before the line terminator, the one after "/a" beyond it;
    // only the second can reach "/z".
    const tokens = [lit("/"), star, lit("/"), seg, star, lit("/z"), star, lit("/end")];
    const glob = compileGlob(tokens, PATHS);
    for (const text of ["/p/a/b\u2028c/z/end", "/p/a\u2028/z/end", "/p/a/b\u2028/z/end"]) {
      assert.equal(glob.match(text), reference(tokens, PATHS, false).test(text), text);
    }
    assert.ok(glob.match("/p/a/b\u2028c/z/end"));
  });

  it("folds case like a RegExp with the iu flags", () => {
    const glob = compileGlob([lit("/straße/k")], PATHS);
    assert.ok(glob.match("/STRAẞE/\u212a"), "ẞ folds to ß, the Kelvin sign to k");
    assert.ok(!glob.match("/strasse/k"), "no full case folding (ß is not ss)");
    assert.ok(!compileGlob([lit("/i")], PATHS).match("/\u0131"), "dotless i folds only in Turkic");
    assert.ok(!compileGlob([lit("/a")], PLAIN).match("/A"));
  });

  it("merges stars and literals, and refuses a segment that could end inside a segment", () => {
    assert.equal(compileGlob([lit("a"), star, star, lit(""), lit("b")], PLAIN).floatingPieces, 0);
    assert.throws(() => compileGlob([lit("/"), seg, lit("x")], PATHS), /segment must be followed/);
    assert.throws(() => compileGlob([lit("/"), seg, star, lit("x")], PATHS), /segment must/);
    assert.throws(() => compileGlob([lit("/"), seg, seg], PATHS), /segment must/);
  });

  it("agrees with the RegExp for random patterns and texts", () => {
    const next = random(13);
    const pick = <T>(items: readonly T[]): T => items[next(items.length)]!;
    const pieces = ["a", "b", "/", "/a/", "/z", "A", "ß", "\u2028", "k", "/b"];
    const chars = ["a", "b", "/", "/", "\u2028", "\u2028", "k", "K", "z", "ẞ"];
    const fillings = ["", "a", "/b/", "k\u2028", "\u2028a", "a/\u2028/b"];
    let checks = 0;
    let matches = 0;
    for (let round = 0; round < 6000; round++) {
      const syntax = round % 3 === 0 ? PLAIN : PATHS;
      const tokens: GlobToken[] = [];
      for (let i = 0, count = 1 + next(9); i < count; i++) {
        const choice = next(6);
        if (choice < 2) tokens.push(lit(pick(pieces)));
        else if (choice < 4) tokens.push(star);
        else tokens.push(lit(pick(["/", "/a/", "a/"])), seg);
      }
      const slash = next(2) === 0;
      let glob: Glob;
      try {
        glob = compileGlob(tokens, syntax, { optionalTrailingSlash: slash });
      } catch {
        continue; // a segment in a place the matcher refuses
      }
      const regexp = reference(tokens, syntax, slash);
      for (let k = 0; k < 20; k++) {
        // Half the texts are made from the pattern, so that many of them match.
        const text =
          k % 2 === 0
            ? Array.from({ length: next(20) }, () => pick(chars)).join("")
            : tokens.map((t) => (t.kind === "literal" ? t.text : pick(fillings))).join("");
        const expected = regexp.test(text);
        assert.equal(glob.match(text), expected, `${String(regexp)} on ${JSON.stringify(text)}`);
        checks++;
        if (expected) matches++;
      }
    }
    assert.ok(checks > 50_000 && matches > checks / 10, `${checks} checks, ${matches} matches`);
  });
});

describe("glob matching stays linear in the text", () => {
  const N = 8192;
  const headerGlob = (tokens: GlobToken[]): Glob =>
    compileGlob(tokens, PATHS, { optionalTrailingSlash: true });
  /** `/a*a*…*z` with `stars` stars: a RegExp of `(.*)`s backtracks on it without end. */
  const evil = (stars: number): GlobToken[] => [
    lit("/a"),
    ...Array.from({ length: stars - 1 }, () => [star, lit("a")]).flat(),
    star,
    lit("z"),
  ];

  it("answers /a*a*a*a*a*a*a*a*a*a*a*a*z on an 8 KiB path in a few steps per character", (t) => {
    const glob = headerGlob(evil(12));
    const meter = { steps: 0 };
    const started = performance.now();
    assert.equal(glob.match("/" + "a".repeat(N - 1), meter), false);
    assert.equal(glob.match("/" + "a".repeat(N - 2) + "z"), true);
    t.diagnostic(`${meter.steps} steps, ${(performance.now() - started).toFixed(2)} ms`);
    assert.ok(meter.steps <= bound(glob, N, 26), `${meter.steps} steps`);
  });

  it("keeps every adversarial family within 3 steps per character and floating piece", (t) => {
    const floating = [...Array.from({ length: 15 }, () => [lit("/"), seg]).flat(), lit("/z")];
    const cases: [string, GlobToken[], string][] = [
      ["stars, no match", [lit("/"), star, ...evil(15)], "/" + "a".repeat(N - 1)],
      ["stars, line terminators", evil(15), "/" + "a\u2028".repeat(N / 2 - 1)],
      [
        "unmatched middle",
        [
          lit("/"),
          star,
          ...Array(15)
            .fill([lit("ab"), star])
            .flat(),
          lit("z"),
        ],
        "/" + "a".repeat(N - 1),
      ],
      [
        "self-overlapping literal",
        [lit("/"), star, lit("a".repeat(500) + "b"), star, lit("c")],
        "/" + "a".repeat(N - 1),
      ],
      ["segments between stars", [lit("/"), star, ...floating, star], "/" + "a/".repeat(N / 2 - 1)],
      [
        "same, line terminators",
        [lit("/"), star, ...floating, star],
        "/" + "a\u2028/".repeat(N / 3 - 1),
      ],
      [
        "segments after the last star",
        [lit("/"), star, ...floating.slice(0, -1)],
        "/" + "a/".repeat(N / 2 - 1),
      ],
      [
        "segment before a star",
        [lit("/"), seg, star, lit("/a"), star, lit("/z")],
        "/" + "\u2028a/".repeat(N / 3 - 1),
      ],
    ];
    for (const [name, tokens, text] of cases) {
      const glob = headerGlob(tokens);
      const m = tokens.reduce((sum, t) => sum + (t.kind === "literal" ? t.text.length : 1), 0);
      const meter = { steps: 0 };
      const started = performance.now();
      glob.match(new GlobText(text, PATHS), meter);
      const ms = (performance.now() - started).toFixed(2);
      t.diagnostic(`${name}: n=${text.length}, ${meter.steps} steps, ${ms} ms`);
      assert.ok(meter.steps <= bound(glob, text.length, m), `${name}: ${meter.steps} steps`);
    }
  });

  it("takes twice the steps for twice the text, not more", () => {
    const glob = headerGlob([
      lit("/"),
      star,
      ...Array(15)
        .fill([lit("ab"), star])
        .flat(),
      lit("z"),
    ]);
    const steps = (n: number): number => {
      const meter = { steps: 0 };
      glob.match("/" + "a".repeat(n), meter);
      return meter.steps;
    };
    const small = steps(2048);
    const large = steps(8192);
    assert.ok(large <= 4.2 * small, `${small} steps for 2 KiB, ${large} for 8 KiB`);
  });
});

describe("foldCodePoint", () => {
  const hex = (cp: number): string => cp.toString(16);
  const folded: number[] = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (foldCodePoint(cp) !== cp) folded.push(cp);
  }

  it("maps each code point to one the iu RegExp engine treats as equal", () => {
    for (const cp of folded) {
      const same = new RegExp(`^\\u{${hex(foldCodePoint(cp))}}$`, "iu");
      assert.ok(same.test(String.fromCodePoint(cp)), `U+${hex(cp)}`);
    }
  });

  it("keeps apart what the engine keeps apart", () => {
    // Every code point with a case is one that folds or one that something folds to.
    const cased = new Set(folded.flatMap((cp) => [cp, foldCodePoint(cp)]));
    const anyCased = new RegExp(`^[${[...cased].map((cp) => `\\u{${hex(cp)}}`).join("")}]$`, "iu");
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      if (!cased.has(cp) && anyCased.test(String.fromCodePoint(cp))) {
        assert.fail(`U+${hex(cp)} matches a cased code point but folds to itself`);
      }
    }
    // And two cased code points with different folds never match each other.
    const pair = /^(.)\1$/iu;
    for (const cp of cased) {
      const text = String.fromCodePoint(cp);
      for (const other of [
        text.toUpperCase(),
        text.toLowerCase(),
        String.fromCodePoint(foldCodePoint(cp)),
      ]) {
        if ([...other].length !== 1) continue;
        const same = foldCodePoint(other.codePointAt(0)!) === foldCodePoint(cp);
        assert.equal(pair.test(text + other), same, `U+${hex(cp)} and ${JSON.stringify(other)}`);
      }
    }
  });
});
