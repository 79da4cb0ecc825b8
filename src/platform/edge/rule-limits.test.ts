import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  MAX_BLANK_RUN,
  MAX_HEADER_FLOATING_PARTS,
  MAX_HEADER_LINES,
  MAX_HEADER_RULES,
  MAX_HEADER_VALUES,
  MAX_REDIRECT_RULES,
  MAX_RULE_WILDCARDS,
  MAX_TOML_BLANK_RUN,
  tomlBlankRun,
} from "./rule-limits.ts";
import { parseRules } from "./rules.ts";

const lines = (count: number, line: (i: number) => string): string =>
  Array.from({ length: count }, (_, i) => line(i)).join("\n");

describe("rule limits", () => {
  it("skips a rule with more wildcards than allowed, and says so", async () => {
    const many = "/" + Array.from({ length: MAX_RULE_WILDCARDS + 1 }, (_, i) => `:p${i}`).join("/");
    const stars = "/" + "a*".repeat(MAX_RULE_WILDCARDS + 1);
    const enough = "/" + "a*".repeat(MAX_RULE_WILDCARDS);
    const rules = await parseRules({
      redirects: Buffer.from(`${many} /x 302\n/ok /y 302\n`),
      headers: Buffer.from(`${stars}\n  X-A: 1\n${enough}\n  X-B: 1\n`),
    });
    assert.deepEqual(
      rules.redirects.map((r) => r.from),
      ["/ok"],
    );
    assert.deepEqual(
      rules.headers.map((h) => h.for),
      [enough],
    );
    assert.deepEqual(rules.errors, [
      `redirect 1 (${many} /x): 17 wildcards (* and :placeholders); a rule may have at most 16, so it was ignored`,
      `headers for ${stars}: 17 wildcards (* and :placeholders); a rule may have at most 16, so it was ignored`,
    ]);
  });

  it("uses the first rules up to the limits per deploy", async () => {
    const rules = await parseRules({
      redirects: Buffer.from(lines(MAX_REDIRECT_RULES + 5, (i) => `/r${i} /t 302`)),
      headers: Buffer.from(lines(MAX_HEADER_RULES + 5, (i) => `/h${i}\n  X-A: 1`)),
      netlifyToml: Buffer.from('[[redirects]]\nfrom = "/toml"\nto = "/t"\n'),
    });
    assert.equal(rules.redirects.length, MAX_REDIRECT_RULES);
    assert.equal(rules.redirects.at(-1)?.from, `/r${MAX_REDIRECT_RULES - 1}`);
    assert.equal(rules.headers.length, MAX_HEADER_RULES);
    assert.deepEqual(rules.errors, [
      `_redirects has ${MAX_REDIRECT_RULES + 5} rules; only the first ${MAX_REDIRECT_RULES} are used (the limit per deploy)`,
      `_headers has ${MAX_HEADER_RULES + 5} rules; only the first ${MAX_HEADER_RULES} are used (the limit per deploy)`,
      `${MAX_REDIRECT_RULES + 1} redirect rules in _redirects and netlify.toml; only the first ${MAX_REDIRECT_RULES} are used (the limit per deploy)`,
    ]);
  });

  it("bounds the parts of header paths that must be searched for", async () => {
    // Each `/*/x<i>/*` has one part between two stars; the rules past the budget are skipped.
    const rules = await parseRules({
      headers: Buffer.from(lines(MAX_HEADER_FLOATING_PARTS + 2, (i) => `/*/x${i}/*\n  X-A: 1`)),
    });
    assert.equal(rules.headers.length, MAX_HEADER_FLOATING_PARTS);
    assert.equal(rules.errors.length, 2);
    assert.match(
      rules.errors[0]!,
      /headers for \/\*\/x256\/\*: .* more than 256 parts between two \*/,
    );
  });

  it("cuts _headers down before Netlify's parser can spend quadratic time on it", async () => {
    const blanks = " ".repeat(MAX_BLANK_RUN + 1);
    const text = [
      "X-Orphan: 1",
      "X-Orphan: 2",
      "X-Orphan: 3",
      "/a",
      `  X-Long: a${blanks}b`,
      `  X-Fine: a${" ".repeat(MAX_BLANK_RUN)}b`,
      "/b",
      lines(MAX_HEADER_VALUES + 3, (i) => `  X-${i}: v`),
      "/c",
      "  X-C: 1",
    ].join("\n");
    const rules = await parseRules({ headers: Buffer.from(text) });
    assert.deepEqual(
      rules.headers.map((h) => [h.for, h.values.length]),
      [
        ["/a", 1],
        ["/b", MAX_HEADER_VALUES],
        ["/c", 1],
      ],
    );
    assert.deepEqual(rules.errors, [
      "_headers line 2: more header lines before the first path were ignored",
      `_headers line 5: more than ${MAX_BLANK_RUN} blank characters in a row; the line was ignored`,
      `_headers line ${8 + MAX_HEADER_VALUES}: a path may have at most ${MAX_HEADER_VALUES} header lines; the ones from here to the next path were ignored`,
      'Path should come before header "X-Orphan"',
    ]);

    // 500 paths with 10 header lines each, and one more line.
    const long = await parseRules({
      headers: Buffer.from(
        lines(MAX_HEADER_LINES + 1, (i) => (i % 11 ? `  X-${i % 11}: 1` : `/p${i}`)),
      ),
    });
    assert.deepEqual(long.errors, [
      `_headers has more than ${MAX_HEADER_LINES} lines of rules; lines from ${MAX_HEADER_LINES + 1} on were ignored`,
    ]);
  });

  it("ignores the rules of a netlify.toml that can spell a long run of blanks", async () => {
    assert.equal(tomlBlankRun('a = "x\\u0020\\t \\n\\\\t"'), 4);
    const escaped = `[[headers]]\nfor = "/a"\n[headers.values]\nX = "a${"\\u0020".repeat(MAX_TOML_BLANK_RUN + 1)}b"\n`;
    const rules = await parseRules({ netlifyToml: Buffer.from(escaped) });
    assert.deepEqual(rules.headers, []);
    assert.deepEqual(rules.errors, [
      `netlify.toml has more than ${MAX_TOML_BLANK_RUN} blank characters in a row; its redirect and header rules were ignored`,
    ]);
  });
});
