/**
 * What one deploy's rules may cost the edge, which parses and matches them in the event loop
 * that also serves the API, webhook intake and job heartbeats. Rule files are cut down before
 * Netlify's parsers see them (those copy their growing result for every line, and split each
 * header value at commas with a RegExp whose time is quadratic in a run of blanks), and compiled
 * rules are counted after.
 * Whatever is cut or skipped is said in the deploy's rule errors, in words a person can act on.
 */

/** Redirect rules per deploy (`_redirects` and `netlify.toml` together); later ones are skipped. */
export const MAX_REDIRECT_RULES = 10_000;
/** Header rules per deploy (`_headers` and `netlify.toml` together); later ones are skipped. */
export const MAX_HEADER_RULES = 1_000;
/** Non-blank, non-comment lines of `_headers` (paths and header lines) read. */
export const MAX_HEADER_LINES = 5_000;
/** Header lines under one path of `_headers`. */
export const MAX_HEADER_VALUES = 64;
/** `*` and `:placeholder`s in one rule's path; a rule with more is skipped. */
export const MAX_RULE_WILDCARDS = 16;
/**
 * Parts of header paths that lie between two `*` (`/a/*` + `/b/` + `*`), over all of a deploy's
 * header rules. A request path is searched once for each, so this bounds the work per request
 * (a few million steps for an 8 KiB path); a rule that would go past it is skipped.
 */
export const MAX_HEADER_FLOATING_PARTS = 256;
/** Longest run of blank characters in a header line of `_headers`. */
export const MAX_BLANK_RUN = 32;
/** Longest run of blank characters anywhere in `netlify.toml` (layout included). */
export const MAX_TOML_BLANK_RUN = 256;

/** Is `c` a blank for `\s` in a RegExp? */
function isBlank(c: number): boolean {
  return (
    c === 0x20 ||
    (c >= 0x09 && c <= 0x0d) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

function longestBlankRun(text: string): number {
  let longest = 0;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    run = isBlank(text.charCodeAt(i)) ? run + 1 : 0;
    if (run > longest) longest = run;
  }
  return longest;
}

const isRuleLine = (line: string): boolean => line !== "" && !line.startsWith("#");

/** `_redirects` cut after its `MAX_REDIRECT_RULES`-th rule line. */
export function limitRedirectsFile(text: string, errors: string[]): string {
  const lines = text.split("\n");
  let rules = 0;
  let cut = -1;
  lines.forEach((line, i) => {
    if (!isRuleLine(line.trim())) return;
    rules++;
    if (rules === MAX_REDIRECT_RULES + 1) cut = i;
  });
  if (cut === -1) return text;
  errors.push(
    `_redirects has ${rules} rules; only the first ${MAX_REDIRECT_RULES} are used (the limit per deploy)`,
  );
  return lines.slice(0, cut).join("\n");
}

/**
 * `_headers` cut before its `MAX_HEADER_RULES + 1`-th path or its `MAX_HEADER_LINES + 1`-th
 * line, without header lines beyond `MAX_HEADER_VALUES` under one path, beyond the first before
 * any path, or with a run of more than `MAX_BLANK_RUN` blanks. Removed lines stay as empty
 * ones, so that line numbers in the parser's messages still hold.
 */
export function limitHeadersFile(text: string, errors: string[]): string {
  const lines = text.split("\n");
  let rules = 0;
  let ruleLines = 0;
  let values = 0;
  let cut = -1;
  const drop = (i: number, why: string | undefined): void => {
    if (why !== undefined) errors.push(`_headers line ${i + 1}: ${why}`);
    lines[i] = "";
  };
  for (let i = 0; i < lines.length && cut === -1; i++) {
    const line = lines[i]!.trim();
    if (!isRuleLine(line)) continue;
    ruleLines++;
    if (line.startsWith("/")) {
      rules++;
      values = 0;
    } else {
      values++;
    }
    if (rules > MAX_HEADER_RULES) {
      const total = rules + lines.slice(i + 1).filter((l) => l.trim().startsWith("/")).length;
      errors.push(
        `_headers has ${total} rules; only the first ${MAX_HEADER_RULES} are used (the limit per deploy)`,
      );
      cut = i;
    } else if (ruleLines > MAX_HEADER_LINES) {
      errors.push(
        `_headers has more than ${MAX_HEADER_LINES} lines of rules; lines from ${i + 1} on were ignored`,
      );
      cut = i;
    } else if (line.startsWith("/")) {
      continue;
    } else if (rules === 0 && values > 1) {
      // The parser reports the first; each one more would cost it a copy of all its messages.
      drop(i, values === 2 ? "more header lines before the first path were ignored" : undefined);
    } else if (values > MAX_HEADER_VALUES) {
      const why = `a path may have at most ${MAX_HEADER_VALUES} header lines; the ones from here to the next path were ignored`;
      drop(i, values === MAX_HEADER_VALUES + 1 ? why : undefined);
    } else if (longestBlankRun(line) > MAX_BLANK_RUN) {
      drop(i, `more than ${MAX_BLANK_RUN} blank characters in a row; the line was ignored`);
    }
  }
  return (cut === -1 ? lines : lines.slice(0, cut)).join("\n");
}

const HEX = /^[0-9A-Fa-f]+$/;

/**
 * The longest run of blanks `netlify.toml` can put into a string: blank characters and the
 * escapes that stand for one (`\t`, `\n`, `\u0020`, …), counted anywhere in the file.
 */
export function tomlBlankRun(text: string): number {
  let longest = 0;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let blank = isBlank(c);
    if (c === 0x5c /* \ */) {
      const escape = text[i + 1];
      const digits = escape === "u" ? 4 : escape === "U" ? 8 : 0;
      const hex = text.slice(i + 2, i + 2 + digits);
      if (escape === "t" || escape === "n" || escape === "r" || escape === "f") {
        blank = true;
        i++;
      } else if (digits > 0 && hex.length === digits && HEX.test(hex)) {
        const cp = parseInt(hex, 16);
        blank = cp <= 0xffff && isBlank(cp);
        i += 1 + digits;
      } else {
        i++;
      }
    }
    run = blank ? run + 1 : 0;
    if (run > longest) longest = run;
  }
  return longest;
}

export function tooManyWildcards(count: number): string {
  return `${count} wildcards (* and :placeholders); a rule may have at most ${MAX_RULE_WILDCARDS}, so it was ignored`;
}
