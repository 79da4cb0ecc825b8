import { compileGlob, type Glob, type GlobSyntax, type GlobToken } from "../../lib/glob-match.ts";

/**
 * The path patterns of redirect and header rules, matched without a RegExp built from the rule:
 * a tenant's pattern must not be able to make the event loop backtrack. Each keeps exactly the
 * semantics of the RegExp that Slipway (for `from`) or `@netlify/headers-parser` (for `for`)
 * built before, except where `compileForPath` says otherwise.
 */

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const SLASH = 0x2f;
const PLACEHOLDER = /^:[A-Za-z_][A-Za-z0-9_]*$/;

/** Where the last line terminator of `text` is (what `.` in a RegExp stops at), or -1. */
export function lastLineTerminator(text: string): number {
  for (let i = text.length - 1; i >= 0; i--) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029) return i;
  }
  return -1;
}

type FromPiece = { kind: "literal"; text: string } | { kind: "placeholder" };

/**
 * A compiled `from` path: literal segments (percent-decoded, case-sensitive), `:name`
 * segments, and a final `*`, with a trailing slash optional on both sides, as on Netlify. It
 * matches like the RegExp `^/lit/([^/]+)…(?:/(.*))?$` (or `…/?$` without a splat) and in one
 * pass: a placeholder can only end at the next "/" or the end, so there is never a choice.
 */
export class FromPathMatcher {
  constructor(
    readonly names: readonly string[],
    private readonly pieces: readonly FromPiece[],
    private readonly splat: boolean,
  ) {}

  /** The captures (in the order of `names`; an absent splat is ""), or undefined. */
  match(path: string, lineTerminator = lastLineTerminator(path)): string[] | undefined {
    const captures: string[] = [];
    let pos = 0;
    for (const piece of this.pieces) {
      if (piece.kind === "literal") {
        if (!path.startsWith(piece.text, pos)) return undefined;
        pos += piece.text.length;
        continue;
      }
      if (path.charCodeAt(pos) !== SLASH) return undefined;
      const slash = path.indexOf("/", pos + 1);
      const end = slash === -1 ? path.length : slash;
      if (end === pos + 1) return undefined;
      captures.push(path.slice(pos + 1, end));
      pos = end;
    }
    if (this.splat) {
      if (pos === path.length) return [...captures, ""];
      // `(?:/(.*))?$`: the rest after a slash, which `.` does not match past a line terminator.
      if (path.charCodeAt(pos) !== SLASH || lineTerminator > pos) return undefined;
      return [...captures, path.slice(pos + 1)];
    }
    if (this.pieces.length === 0) return path === "/" ? captures : undefined;
    const rest = path.length - pos;
    return rest === 0 || (rest === 1 && path.charCodeAt(pos) === SLASH) ? captures : undefined;
  }
}

/** Compiles a `from` path (see `FromPathMatcher`). */
export function compileFromPath(path: string): FromPathMatcher {
  const segments = path.split("/").filter((segment) => segment !== "");
  const names: string[] = [];
  const pieces: FromPiece[] = [];
  let splat = false;
  segments.forEach((segment, index) => {
    if (segment === "*" && index === segments.length - 1) {
      splat = true;
      names.push("splat");
    } else if (PLACEHOLDER.test(segment)) {
      names.push(segment.slice(1));
      pieces.push({ kind: "placeholder" });
    } else {
      const text = "/" + decodeSegment(segment);
      const last = pieces[pieces.length - 1];
      if (last?.kind === "literal") last.text += text;
      else pieces.push({ kind: "literal", text });
    }
  });
  return new FromPathMatcher(names, pieces, splat);
}

/** How `for` paths compare: case-insensitively, `*` not matching line terminators (`iu`). */
export const HEADER_PATH_SYNTAX: GlobSyntax = Object.freeze({
  foldCase: true,
  starExcludes: Object.freeze([0x0a, 0x0d, 0x2028, 0x2029]),
});

/**
 * Compiles a header rule's `for` path with the semantics of `@netlify/headers-parser`'s
 * `forRegExp` (`^/part/part/?$` with the `iu` flags, parts trimmed at their end and empty ones
 * dropped): `:name` parts match one segment, a `*` part matches anything including nothing
 * and the slash before it, and `*` inside a part matches any characters, slashes included.
 * One deliberate difference: in a part with a `*` inside, `forRegExp` leaves the other
 * characters unescaped, so `.`, `+`, `(`, `|`… act as RegExp syntax there (`/*.js` matched
 * `/xjs`; `/(a+)+*` backtracked without end; `/a(*` made the rule invalid). Here they are
 * literal characters everywhere, as Netlify documents paths.
 */
export function compileForPath(forPath: string): Glob {
  const parts = forPath
    .split("/")
    .map((part) => part.trimEnd())
    .filter(Boolean);
  const tokens: GlobToken[] = [{ kind: "literal", text: "/" }];
  parts.forEach((part, index) => {
    if (index > 0) tokens.push({ kind: "literal", text: "/" });
    if (part.startsWith(":")) {
      tokens.push({ kind: "segment" });
    } else if (part === "*") {
      // `/?(.*)`: an optional slash before a star is already something the star matches.
      tokens.pop();
      tokens.push({ kind: "star" });
    } else {
      part.split("*").forEach((text, i) => {
        if (i > 0) tokens.push({ kind: "star" });
        tokens.push({ kind: "literal", text });
      });
    }
  });
  return compileGlob(tokens, HEADER_PATH_SYNTAX, { optionalTrailingSlash: true });
}
