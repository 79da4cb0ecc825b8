import { RE2JS, RE2JSException } from "re2js";
import { isValidBranchName } from "../../lib/git-refs.ts";
import {
  compileGlob,
  type GlobMeter,
  type GlobSyntax,
  type GlobToken,
} from "../../lib/glob-match.ts";

/**
 * GitLab's `push_events_branch_filter` (ActiveHookFilter + the validators of WebHooks::Hook).
 * The filter applies to push hooks only; tag pushes are never filtered.
 */

export const BRANCH_FILTER_STRATEGIES = ["wildcard", "regex", "all_branches"] as const;
export type BranchFilterStrategy = (typeof BRANCH_FILTER_STRATEGIES)[number];

const MAX_FILTER_LENGTH = 4000;

/**
 * The value GitLab stores: squished for wildcards (`squish!` in the validator), cleared for
 * `all_branches` (`set_branch_filter_nil`), empty as null.
 */
export function normalizeBranchFilter(
  strategy: BranchFilterStrategy,
  filter: string | null | undefined,
): string | null {
  if (strategy === "all_branches" || filter === null || filter === undefined) return null;
  const value = strategy === "wildcard" ? filter.trim().replace(/\s+/g, " ") : filter;
  return value === "" ? null : value;
}

/** Why a (normalised) filter is invalid for the strategy, or null when it is valid. */
export function branchFilterError(
  strategy: BranchFilterStrategy,
  filter: string | null,
): string | null {
  if (filter === null) return null;
  if (filter.length > MAX_FILTER_LENGTH) {
    return `is longer than the allowed length of ${MAX_FILTER_LENGTH} characters.`;
  }
  if (strategy === "wildcard") {
    return isValidBranchName(filter.replaceAll("*", "x")) ? null : "is not a valid branch name";
  }
  if (strategy === "regex") return regexError(filter);
  return null;
}

/**
 * Does a push to `branch` pass the hook's filter? `meter` counts the matching steps (for a regex,
 * RE2's reads of the branch's bytes: each step of each of its engines makes one).
 */
export function branchFilterMatches(
  strategy: BranchFilterStrategy,
  filter: string | null,
  branch: string,
  meter?: GlobMeter,
): boolean {
  if (filter === null || filter === "" || strategy === "all_branches") return true;
  if (strategy === "wildcard") return wildcardMatches(filter, branch, meter);
  const { regex } = compileRegexFilter(filter);
  if (regex === null) return false;
  // RE2's `===` in GitLab is an unanchored match, on the name's UTF-8 bytes as here.
  const bytes = new TextEncoder().encode(branch);
  return regex.test(meter ? countedBytes(bytes, meter) : bytes);
}

/** Wildcard filters compare code points exactly; `*` matches any of them, slashes included. */
const WILDCARD_SYNTAX: GlobSyntax = Object.freeze({ foldCase: false, starExcludes: [] });

/**
 * GitLab's RefMatcher: an exact name, or `*` standing for any run of characters (slashes
 * included, so `**` means the same as `*`), anchored at both ends. GitLab turns the filter into
 * a RegExp of `.*?`s; a chain of those backtracks exponentially on a long branch name, so here
 * it is a glob match, linear in the branch name (`src/lib/glob-match.ts`).
 */
function wildcardMatches(filter: string, branch: string, meter?: GlobMeter): boolean {
  if (!filter.includes("*")) return filter === branch;
  const tokens: GlobToken[] = [];
  filter.split("*").forEach((text, i) => {
    if (i > 0) tokens.push({ kind: "star" });
    tokens.push({ kind: "literal", text });
  });
  return compileGlob(tokens, WILDCARD_SYNTAX).match(branch, meter);
}

/** Instructions a regex filter may compile to: every push runs each filter on the event loop. */
const MAX_PROGRAM_SIZE = 10_000;
const TOO_COMPLEX = `is too complex (more than ${MAX_PROGRAM_SIZE} instructions)`;

/**
 * Regex filters are RE2 patterns, as in GitLab (`UntrustedRegexpValidator`), run on re2js: no
 * backtracking, so a test is linear in the branch name whatever the pattern, `(a+)+$` included.
 * Where RE2's syntax differs from JavaScript's: look-around and back-references are refused;
 * code points are written `\x{1F600}` (`\u0061`, `\u{…}`, `\cJ` are refused), `[]` and `[^]`
 * are refused, and `\s` is ASCII (`[\t\n\f\r ]`); `.` excludes only `\n`; RE2 adds flags
 * (`(?i)`), `\Q…\E`, `[[:alpha:]]`, `\A`, `\z`, Unicode classes (`\p{Greek}`), `(?P<name>…)`.
 */
function compileRegexFilter(
  pattern: string,
): { regex: RE2JS; error: null } | { regex: null; error: string } {
  // A large program is slow to compile too (a second for 4000 characters of `a{1000}`), so a
  // pattern is measured before it is compiled as well as after.
  if (programSizeBound(pattern) > MAX_PROGRAM_SIZE) return { regex: null, error: TOO_COMPLEX };
  let regex: RE2JS;
  try {
    regex = RE2JS.compile(pattern);
  } catch (error) {
    if (!(error instanceof RE2JSException)) throw error;
    const reason = error.message.replace(/^error parsing regexp: /, "");
    // RE2's words for these (e.g. "invalid named capture" for `(?<=`) would not say why.
    const unsupported =
      /\(\?<?[=!]/.test(pattern) || /\\[1-9]|\\k</.test(pattern)
        ? "look-around and back-references are not supported; "
        : "";
    return { regex: null, error: `not valid RE2 syntax: ${unsupported}${reason}` };
  }
  if (regex.programSize() > MAX_PROGRAM_SIZE) return { regex: null, error: TOO_COMPLEX };
  return { regex, error: null };
}

function regexError(pattern: string): string | null {
  return compileRegexFilter(pattern).error;
}

/**
 * At least the size of `pattern`'s program, found without compiling it. A literal, escape or
 * class weighs one instruction, an operator two (`a|` and `^*` spend one on an empty operand), a
 * group two more than its contents (its captures). A counted repetition `x{n,m}` makes n copies
 * of its operand (the atom or group just before it) and m − n optional ones, an instruction more
 * each; `x{n,}` ends in a star. The bound errs upwards only: a `{` or `(` read where RE2 reads a
 * literal makes it larger.
 */
export function programSizeBound(pattern: string): number {
  // Per open group: its weight so far, and that of its last operand.
  const groups = [{ total: 3, last: 0 }];
  const repeat = /\{(\d+)(,(\d*))?\}/y;
  for (let i = 0; i < pattern.length; i++) {
    const group = groups[groups.length - 1]!;
    const ch = pattern[i];
    repeat.lastIndex = i;
    const counted = repeat.exec(pattern);
    let weight = 1;
    if (counted) {
      // RE2 refuses counts over 1000, and says so better than "too complex".
      const min = Math.min(Number(counted[1]), 1001);
      const operand = group.last;
      weight = min * operand;
      if (counted[3])
        weight += Math.max(Math.min(Number(counted[3]), 1001) - min, 0) * (operand + 2);
      else if (counted[2]) weight += (min === 0 ? operand : 0) + 2;
      weight = Math.max(weight, 1); // `x{0}` is an empty-width instruction
      group.total -= operand;
      i = repeat.lastIndex - 1;
    } else if (ch === "(") {
      groups.push({ total: 3, last: 0 });
      continue;
    } else if (ch === ")" && groups.length > 1) {
      groups.pop();
      weight = group.total;
    } else if (ch === "[") {
      i = classEnd(pattern, i) - 1;
    } else if (pattern.startsWith("\\Q", i)) {
      // Literals, of which a count repeats the last (or, with none, what came before).
      const quoted = pattern.indexOf("\\E", i);
      const end = quoted < 0 ? pattern.length : quoted;
      const literals = [...pattern.slice(i + 2, end)].length;
      i = quoted < 0 ? end : end + 1;
      if (literals === 0) continue;
      group.total += literals - 1;
    } else if (ch === "\\") {
      i++;
    } else if (ch === "*" || ch === "+" || ch === "?") {
      // The operand and its operator make one operand for a count after `\Q\E`.
      group.total += 2;
      group.last += 2;
      continue;
    } else if (ch === "|") {
      weight = 2;
    }
    const into = groups[groups.length - 1]!;
    into.total += weight;
    into.last = weight;
  }
  return groups.reduce((sum, group) => sum + group.total, 0);
}

/** Where the class opening at `start` ends, by RE2's rules (`[]a]` and `[[:alpha:]]`). */
function classEnd(pattern: string, start: number): number {
  let i = start + 1;
  if (pattern[i] === "^") i++;
  if (pattern[i] === "]") i++;
  while (i < pattern.length && pattern[i] !== "]") {
    const posix = pattern.startsWith("[:", i) ? pattern.indexOf(":]", i + 2) : -1;
    i = posix >= 0 ? posix + 2 : pattern[i] === "\\" ? i + 2 : i + 1;
  }
  return Math.min(i + 1, pattern.length);
}

/** `bytes` as an array that counts its element reads on `meter`. */
function countedBytes(bytes: Uint8Array, meter: GlobMeter): number[] {
  return new Proxy(Array.from(bytes), {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) meter.steps++;
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
}
