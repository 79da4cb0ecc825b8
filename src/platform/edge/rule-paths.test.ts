import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseAllHeaders } from "@netlify/headers-parser";
import { compileForPath, compileFromPath } from "./rule-paths.ts";
import { applyRedirectRules, headersForPath, parseRules } from "./rules.ts";

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

/** The RegExp Slipway built for a `from` path before, as the reference. */
function formerFromRegExp(path: string): RegExp {
  const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const decode = (segment: string): string => {
    try {
      return decodeURIComponent(segment);
    } catch {
      return segment;
    }
  };
  const segments = path.split("/").filter((segment) => segment !== "");
  let source = "^";
  let splat = false;
  segments.forEach((segment, index) => {
    if (segment === "*" && index === segments.length - 1) {
      splat = true;
      source += "(?:/(.*))?";
    } else if (/^:[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) {
      source += "/([^/]+)";
    } else {
      source += "/" + escape(decode(segment));
    }
  });
  if (!splat) source += segments.length === 0 ? "/" : "/?";
  return new RegExp(source + "$");
}

describe("compileForPath", () => {
  const matches = (forPath: string, path: string): boolean => compileForPath(forPath).match(path);

  it("matches like @netlify/headers-parser's forRegExp", () => {
    const cases: [string, string, boolean][] = [
      ["/assets/*", "/assets/app.js", true],
      ["/assets/*", "/assets", true],
      ["/assets/*", "/assetsfoo", true], // `/?(.*)`: the slash before a lone * is optional
      ["/assets/*", "/other/app.js", false],
      ["/*", "/", true],
      ["/About", "/about/", true], // case-insensitive, optional trailing slash
      ["/:lang/about", "/en/about", true],
      ["/:lang/about", "/en/us/about", false],
      ["/a*b", "/a/x/b", true], // * inside a part crosses slashes
      ["/a*b", "/a/x/b/c", false],
      ["/a/*/c", "/a/b/c", true],
      ["/straße", "/STRAẞE", true],
      ["/*", "/a\u2028b", false], // `.` stops at line terminators
    ];
    for (const [forPath, path, expected] of cases) {
      assert.equal(matches(forPath, path), expected, `${forPath} ~ ${JSON.stringify(path)}`);
    }
  });

  it("treats RegExp syntax in a part with a * as the literal characters Netlify documents", () => {
    // forRegExp leaves these unescaped: `/*.js` matched `/xjs`, `/(a+)+*` backtracked.
    assert.ok(matches("/*.js", "/app.js"));
    assert.ok(!matches("/*.js", "/xjs"));
    assert.ok(matches("/(a+)+*", "/(a+)+x"));
    assert.ok(!matches("/(a+)+*", "/aaaa"));
  });

  it("agrees with forRegExp on random paths (parts with a * and no RegExp syntax)", async () => {
    const next = random(7);
    const pick = <T>(items: readonly T[]): T => items[next(items.length)]!;
    const atoms = ["a", "b", "A", "*", "*", ":x", "ß", "K", "k", " ", "ſ", "\u2028", "-"];
    const chars = ["a", "b", "A", "/", "/", "ẞ", "K", "s", " ", "k", "ß", "\u2028", "-"];
    const fors = Array.from({ length: 400 }, () =>
      Array.from({ length: 1 + next(4) }, () =>
        Array.from({ length: next(5) }, () => pick(atoms)).join(""),
      )
        .map((part) => "/" + part)
        .join(""),
    ).filter((path) => path.trim().startsWith("/"));
    const dir = await mkdtemp(join(tmpdir(), "slipway-rule-paths-"));
    try {
      await writeFile(join(dir, "_headers"), fors.map((f) => `${f}\n  X-A: b`).join("\n"));
      const { headers } = await parseAllHeaders({
        headersFiles: [join(dir, "_headers")],
        configHeaders: [],
        minimal: false,
      });
      let checks = 0;
      let hits = 0;
      for (const header of headers) {
        if (!("forRegExp" in header)) continue;
        const glob = compileForPath(header.for);
        const forRegExp: RegExp = header.forRegExp;
        for (let k = 0; k < 100; k++) {
          // Half the paths are made from the rule's path, so that many of them match.
          const path: string =
            k % 2 === 0
              ? "/" + Array.from({ length: next(14) }, () => pick(chars)).join("")
              : header.for.replace(/\*|:x/g, () => pick(["", "a", "/", "b/K", "\u2028"]));
          const expected = forRegExp.test(path);
          assert.equal(glob.match(path), expected, `${header.for} ~ ${JSON.stringify(path)}`);
          checks++;
          if (expected) hits++;
        }
      }
      assert.ok(checks > 20_000 && hits > 5000, `${checks} checks, ${hits} matches`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("compileFromPath", () => {
  it("captures what the former RegExp captured, on random paths", () => {
    const next = random(11);
    const pick = <T>(items: readonly T[]): T => items[next(items.length)]!;
    const atoms = ["a", "b", "*", ":x", ":y", "%2F", "%", "\u2028", ".", "*"];
    const chars = ["a", "b", "/", "/", "\u2028", ".", "*", "x"];
    let hits = 0;
    for (let i = 0; i < 3000; i++) {
      const from =
        Array.from(
          { length: next(4) },
          () => "/" + Array.from({ length: 1 + next(2) }, () => pick(atoms)).join(""),
        ).join("") + (next(4) === 0 ? "/" : "");
      const former = formerFromRegExp(from || "/");
      const matcher = compileFromPath(from || "/");
      for (let k = 0; k < 30; k++) {
        const path = "/" + Array.from({ length: next(10) }, () => pick(chars)).join("");
        const match = former.exec(path);
        const expected = match ? match.slice(1).map((capture) => capture ?? "") : undefined;
        assert.deepEqual(matcher.match(path), expected, `${from} ~ ${JSON.stringify(path)}`);
        if (expected) hits++;
      }
    }
    assert.ok(hits > 1000, `${hits} matches`);
  });
});

describe("a tenant's rules cannot stop the event loop", () => {
  const N = 8192;

  it("matches /a*a*a*a*a*a*a*a*a*a*a*a*z against an 8 KiB path in linear steps", async (t) => {
    const rules = await parseRules({
      headers: Buffer.from("/a*a*a*a*a*a*a*a*a*a*a*a*z\n  X-Evil: 1\n/*\n  X-Fine: 1\n"),
      netlifyToml: Buffer.from(
        '[[headers]]\nfor = "/*a*a*a*a*a*a*a*a*a*a*a*ab"\n[headers.values]\nX-Toml = "1"\n',
      ),
    });
    assert.deepEqual(rules.errors, []);
    const meter = { steps: 0 };
    const started = performance.now();
    const headers = headersForPath(rules, "/" + "a".repeat(N - 1), meter);
    const ms = performance.now() - started;
    assert.deepEqual(headers, [["x-fine", "1"]]);
    t.diagnostic(`${meter.steps} steps, ${ms.toFixed(2)} ms`);
    // A match costs at most 3 steps per character and floating part, plus the pattern; these
    // rules have none floating but the toml one's eleven `a`s.
    assert.ok(meter.steps <= 3 * (N + 1) * 11 + 200, `${meter.steps} steps`);
    assert.deepEqual(headersForPath(rules, "/" + "a".repeat(N - 2) + "z"), [
      ["x-evil", "1"],
      ["x-fine", "1"],
    ]);
  });

  it("matches a redirect with sixteen wildcards against an 8 KiB path", async () => {
    const from = "/" + Array.from({ length: 15 }, (_, i) => `:p${i}`).join("/") + "/*";
    const rules = await parseRules({ redirects: Buffer.from(`${from} /to/:p14/:splat 302\n`) });
    assert.deepEqual(rules.errors, []);
    const path = "/" + Array.from({ length: 15 }, () => "a".repeat(500)).join("/") + "/x/y";
    assert.deepEqual(applyRedirectRules(rules, { host: "h", path, query: "" }, false), {
      kind: "redirect",
      status: 302,
      location: `/to/${"a".repeat(500)}/x/y`,
    });
    assert.equal(
      applyRedirectRules(rules, { host: "h", path: "/" + "a".repeat(N - 1), query: "" }, false),
      undefined,
    );
  });
});
