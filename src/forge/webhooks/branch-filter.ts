import { isValidBranchName } from "../../lib/git-refs.ts";
import {
  compileGlob,
  type GlobMeter,
  type GlobSyntax,
  type GlobToken,
} from "../../lib/glob-match.ts";
import { compileLinearRegExp, LinearRegExpError } from "../../lib/linear-regexp.ts";

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

/** Does a push to `branch` pass the hook's filter? `meter` counts the matching steps. */
export function branchFilterMatches(
  strategy: BranchFilterStrategy,
  filter: string | null,
  branch: string,
  meter?: GlobMeter,
): boolean {
  if (filter === null || filter === "" || strategy === "all_branches") return true;
  if (strategy === "wildcard") return wildcardMatches(filter, branch, meter);
  if (regexError(filter) !== null) return false;
  // RE2's `===` in GitLab is an unanchored match, without backtracking; so is this one.
  return compileLinearRegExp(filter).test(branch, meter);
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

/**
 * GitLab checks regex filters with RE2 (no backtracking); here they run on the Pike VM of
 * `src/lib/linear-regexp.ts`, in JavaScript's syntax (`u` flag). Besides the syntax this refuses
 * what RE2 would refuse (look-around, back-references), what the VM does not do (Unicode
 * property escapes, more than its number of states), and — from when filters ran on
 * JavaScript's backtracking engine — a quantified group that itself contains a quantifier or an
 * alternation, like `(a+)+` or `(a|a)*`. (Even without those, `a*a*a*a*a*a*a*a*a*a*a*b` took
 * that engine minutes on a 30-character branch.)
 */
function regexError(pattern: string): string | null {
  try {
    new RegExp(pattern, "u");
  } catch {
    return "not a valid regular expression";
  }
  if (/\(\?<?[=!]/.test(pattern) || /\\[1-9]|\\k</.test(pattern)) {
    return "uses look-around or back-references, which are not supported";
  }
  try {
    compileLinearRegExp(pattern);
  } catch (error) {
    if (error instanceof LinearRegExpError) return error.message;
    throw error;
  }
  if (hasRiskyGroup(pattern)) {
    return "nests quantifiers or alternations inside a repeated group, which could backtrack catastrophically";
  }
  return null;
}

function hasRiskyGroup(pattern: string): boolean {
  // Stack of "does the open group contain a quantifier or an alternation?"
  const stack: boolean[] = [];
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "\\") {
      i++;
      continue;
    }
    if (inClass) {
      if (ch === "]") inClass = false;
      continue;
    }
    if (ch === "[") inClass = true;
    else if (ch === "(") stack.push(false);
    else if (ch === "|" || ch === "*" || ch === "+" || ch === "{") {
      if (stack.length > 0) stack[stack.length - 1] = true;
    } else if (ch === "?" && pattern[i - 1] !== "(" && stack.length > 0) {
      stack[stack.length - 1] = true;
    } else if (ch === ")") {
      const risky = stack.pop() ?? false;
      const next = pattern[i + 1];
      const repeated = next === "*" || next === "+" || next === "{";
      if (risky && repeated) return true;
      // A group's contents count towards its enclosing group.
      if ((risky || repeated) && stack.length > 0) stack[stack.length - 1] = true;
    }
  }
  return false;
}
