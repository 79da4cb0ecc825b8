import { compileGlob, type GlobSyntax, type GlobToken, type Glob } from "./src/lib/glob-match.ts";
const PATHS: GlobSyntax = { foldCase: true, starExcludes: [0x0a, 0x0d, 0x2028, 0x2029] };
const PLAIN: GlobSyntax = { foldCase: false, starExcludes: [] };
const lit = (text: string): GlobToken => ({ kind: "literal", text }); const seg: GlobToken = { kind: "segment" }; const star: GlobToken = { kind: "star" };
function reference(tokens: readonly GlobToken[], syntax: GlobSyntax, slash: boolean): RegExp {
  const escape = (text: string) => text.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
  const source = tokens.map((t) => (t.kind === "literal" ? escape(t.text) : t.kind === "segment" ? "[^/]+" : ".*")).join("");
  return new RegExp(`^${source}${slash ? "/?" : ""}$`, `u${syntax.foldCase ? "i" : ""}${syntax.starExcludes.length === 0 ? "s" : ""}`);
}
let state = Number(process.argv[2] ?? 1);
const next = (n: number) => { state = (state + 0x6d2b79f5) | 0; let t = Math.imul(state ^ (state >>> 15), 1 | state); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) % n; };
const pick = <T,>(a: readonly T[]) => a[next(a.length)]!;
const pieces = ["a", "b", "/", "/a/", "/z", "A", "\u2028", "k", "/b"];
const chars = ["a", "b", "/", "/", "\u2028", "\u2028", "k", "z"];
let checks = 0, matches = 0, bad = 0;
for (let round = 0; round < 60000; round++) {
  const syntax = round % 3 === 0 ? PLAIN : PATHS;
  const tokens: GlobToken[] = [];
  for (let i = 0, count = 1 + next(9); i < count; i++) {
    const c = next(6);
    if (c < 2) tokens.push(lit(pick(pieces))); else if (c < 4) tokens.push(star); else { tokens.push(lit(pick(["/", "/a/", "a/"]))); tokens.push(seg); }
  }
  const slash = next(2) === 0;
  let glob: Glob; try { glob = compileGlob(tokens, syntax, { optionalTrailingSlash: slash }); } catch { continue; }
  const re = reference(tokens, syntax, slash);
  for (let k = 0; k < 30; k++) {
    const text = k % 2 ? Array.from({ length: next(20) }, () => pick(chars)).join("") :
      tokens.map((t) => t.kind === "literal" ? t.text : pick(["", "a", "/b/", "k\u2028", "\u2028a", "a/\u2028/b"])).join("");
    const want = re.test(text); const got = glob.match(text); checks++; if (want) matches++;
    if (want !== got) { bad++; if (bad < 8) console.log("MISMATCH", String(re), JSON.stringify(text), want, got); }
  }
}
console.log("checks", checks, "matches", matches, "bad", bad);
