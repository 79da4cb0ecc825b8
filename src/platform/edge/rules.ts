import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllHeaders, type Header, type MinimalHeader } from "@netlify/headers-parser";
import { parseAllRedirects } from "@netlify/redirect-parser";
import { compileGlob, GlobText, type Glob, type GlobSyntax, type GlobToken } from "../../lib/glob-match.ts";
import type { BlobReader } from "../deploys/blob-store.ts";
import type { DeployManifest } from "../deploys/manifest.ts";
import { parseRequestTarget } from "./request-path.ts";

/**
 * A deploy's redirect and header rules: `_redirects` and `_headers` at the root of the
 * published files plus the `[[redirects]]` and `[[headers]]` tables of its `netlify.toml`,
 * parsed by Netlify's own parsers (`@netlify/redirect-parser`, `@netlify/headers-parser`) and
 * compiled once per deploy into matchers.
 *
 * Supported: 3xx redirects (default 301) with the query string passed on, rewrites (200) and
 * custom-status rewrites (404, 410, …) to paths within the deploy, `force` (otherwise an
 * existing file shadows the rule), `*`/`:splat`, `:placeholders`, query-parameter matching and
 * capture, rules for a specific host (`https://host/path` in `from`). Rules that need what the
 * edge does not do — proxying to another URL, conditions (country, language, role, cookie),
 * signed rewrites — are skipped with a message in `errors`, as are header rules that try to set
 * framing headers the edge owns (content-length, content-encoding, …).
 *
 * The parsers read files, so the rule files' bytes are written to a private temporary
 * directory under fixed names for the parse; no request-derived name ever reaches the disk.
 *
 * Paths are matched without any RegExp built from a rule (a tenant's pattern must not be able
 * to stop the event loop): `from` paths by a deterministic segment walk, `for` paths by the
 * linear-time glob matcher of `src/lib/glob-match.ts`, each with exactly the semantics of the
 * RegExp the Netlify parsers would build. A deploy keeps at most `MAX_REDIRECT_RULES` redirects
 * and `MAX_HEADER_RULES` header rules, a rule at most `MAX_RULE_WILDCARDS` wildcards; what is
 * beyond is skipped with a message in `errors`.
 */

export interface RedirectRule {
  /** The rule's `from` as written. */
  readonly from: string;
  readonly to: string;
  readonly status: number;
  readonly force: boolean;
  /** Lowercase host the rule is limited to, when `from` was a full URL. */
  readonly host?: string;
  /** Required query parameters: literal value, `:name` capture, or `undefined` for "present". */
  readonly query: readonly (readonly [string, string | undefined])[];
  /** Matches a canonical decoded request path; its captures follow `names`. */
  readonly path: FromPathMatcher;
}

export interface HeaderRule {
  readonly for: string;
  readonly path: Glob;
  /** Lowercase header names with their values. */
  readonly values: readonly (readonly [string, string])[];
}

export interface DeployRules {
  readonly redirects: readonly RedirectRule[];
  readonly headers: readonly HeaderRule[];
  /** True when at least one redirect is forced (so even existing files must be checked). */
  readonly hasForced: boolean;
  /** Lines and rules that were ignored, with the reason (for the deploy's summary). */
  readonly errors: readonly string[];
}

export const EMPTY_RULES: DeployRules = Object.freeze({
  redirects: [],
  headers: [],
  hasForced: false,
  errors: [],
});

/** Rule files larger than this are ignored (with an error), like an oversize `_redirects`. */
export const MAX_RULES_FILE_BYTES = 1024 * 1024;
/** Redirect rules per deploy (`_redirects` and `netlify.toml` together); later ones are skipped. */
export const MAX_REDIRECT_RULES = 10_000;
/** Header rules per deploy (`_headers` and `netlify.toml` together); later ones are skipped. */
export const MAX_HEADER_RULES = 1_000;
/** `*` and `:placeholder`s per rule path; a rule with more is skipped. */
export const MAX_RULE_WILDCARDS = 16;

/** Headers the edge computes itself; a rule may not set them. */
const RESERVED_HEADERS = new Set([
  "content-length",
  "content-encoding",
  "content-range",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "trailer",
  "te",
  "etag",
  "accept-ranges",
  "vary",
  "date",
  "location",
]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_VALUE = /[^\t\u0020-\u007e\u0080-\u00ff]/;

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const SLASH = 0x2f;
const PLACEHOLDER = /^:[A-Za-z_][A-Za-z0-9_]*$/;

/** Where the first line terminator of `text` is (what `.` in a RegExp stops at), or -1. */
function firstLineTerminator(text: string): number {
  for (let i = 0; i < text.length; i++) {
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
  match(path: string, lineTerminator = firstLineTerminator(path)): string[] | undefined {
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isUrl(text: string): boolean {
  return text.startsWith("http://") || text.startsWith("https://");
}

function compileRedirect(raw: unknown, index: number): RedirectRule | string {
  if (!isRecord(raw) || typeof raw.from !== "string" || typeof raw.to !== "string") {
    return `redirect ${index + 1}: not a rule with "from" and "to"`;
  }
  const { from, to } = raw;
  const where = `redirect ${index + 1} (${from} ${to})`;
  const status = typeof raw.status === "number" ? raw.status : 301;
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    return `${where}: status ${String(raw.status)} is not supported`;
  }
  const redirect = status >= 300 && status < 400;
  if (!redirect && isUrl(to)) {
    return `${where}: proxying to another URL is not supported; use a 301/302 redirect`;
  }
  if (isRecord(raw.conditions) && Object.keys(raw.conditions).length > 0) {
    return `${where}: conditions (${Object.keys(raw.conditions).join(", ")}) are not supported`;
  }
  if (raw.signed !== undefined) return `${where}: signed rewrites are not supported`;
  if (!redirect && !to.startsWith("/")) {
    return `${where}: a rewrite target must be a path starting with "/"`;
  }
  const path = typeof raw.path === "string" ? raw.path : from;
  if (!path.startsWith("/")) return `${where}: "from" must be a path or a URL`;
  const host = typeof raw.host === "string" && raw.host !== "" ? raw.host.toLowerCase() : undefined;
  const query: [string, string | undefined][] = [];
  if (isRecord(raw.query)) {
    for (const [key, value] of Object.entries(raw.query)) {
      query.push([key, typeof value === "string" && value !== "" ? value : undefined]);
    }
  }
  const matcher = compileFromPath(path);
  if (matcher.names.length > MAX_RULE_WILDCARDS) {
    return `${where}: ${tooManyWildcards(matcher.names.length)}`;
  }
  return {
    from,
    to,
    status,
    force: raw.force === true,
    query,
    path: matcher,
    ...(host && { host }),
  };
}

function tooManyWildcards(count: number): string {
  return `${count} wildcards (* and :placeholders); a rule may have at most ${MAX_RULE_WILDCARDS}, so it was ignored`;
}

function compileHeader(raw: MinimalHeader | Header, errors: string[]): HeaderRule | undefined {
  if (!("forRegExp" in raw)) return undefined;
  const path = compileForPath(raw.for);
  if (path.wildcards > MAX_RULE_WILDCARDS) {
    errors.push(`headers for ${raw.for}: ${tooManyWildcards(path.wildcards)}`);
    return undefined;
  }
  const values: [string, string][] = [];
  for (const [name, value] of Object.entries(raw.values)) {
    const lower = name.toLowerCase();
    if (!TOKEN.test(name)) {
      errors.push(`headers for ${raw.for}: "${name}" is not a valid header name`);
    } else if (RESERVED_HEADERS.has(lower)) {
      errors.push(`headers for ${raw.for}: "${name}" is set by the edge and cannot be overridden`);
    } else if (typeof value !== "string" || BAD_VALUE.test(value)) {
      errors.push(`headers for ${raw.for}: the value of "${name}" has invalid characters`);
    } else {
      values.push([lower, value]);
    }
  }
  if (values.length === 0) return undefined;
  return { for: raw.for, path, values };
}

/** The rule files' bytes; any may be absent. */
export interface RuleSources {
  redirects?: Buffer;
  headers?: Buffer;
  netlifyToml?: Buffer;
}

/** Parses rule sources with Netlify's parsers and compiles them. Never throws on bad rules. */
export async function parseRules(sources: RuleSources, tmpBase = tmpdir()): Promise<DeployRules> {
  const errors: string[] = [];
  const files: [string, Buffer][] = [];
  for (const [name, data] of [
    ["_redirects", sources.redirects],
    ["_headers", sources.headers],
    ["netlify.toml", sources.netlifyToml],
  ] as const) {
    if (data === undefined) continue;
    if (data.length > MAX_RULES_FILE_BYTES) {
      errors.push(`${name} is larger than ${MAX_RULES_FILE_BYTES} bytes and was ignored`);
      continue;
    }
    files.push([name, data]);
  }
  if (files.length === 0) return errors.length === 0 ? EMPTY_RULES : { ...EMPTY_RULES, errors };

  const dir = await mkdtemp(join(tmpBase, "slipway-rules-"));
  try {
    const has = new Set<string>();
    for (const [name, data] of files) {
      await writeFile(join(dir, name), data, { mode: 0o600, flag: "wx" });
      has.add(name);
    }
    const netlifyConfigPath = has.has("netlify.toml") ? join(dir, "netlify.toml") : undefined;
    const [redirectResult, headerResult] = await Promise.all([
      parseAllRedirects({
        redirectsFiles: has.has("_redirects") ? [join(dir, "_redirects")] : [],
        netlifyConfigPath,
        configRedirects: [],
        minimal: false,
      }),
      parseAllHeaders({
        headersFiles: has.has("_headers") ? [join(dir, "_headers")] : [],
        netlifyConfigPath,
        configHeaders: [],
        minimal: false,
      }),
    ]);
    const hide = (message: string): string => message.replaceAll(dir + "/", "");
    for (const error of [...redirectResult.errors, ...headerResult.errors] as unknown[]) {
      errors.push(hide(error instanceof Error ? error.message : String(error)));
    }
    const redirects: RedirectRule[] = [];
    redirectResult.redirects.forEach((raw, index) => {
      const rule = compileRedirect(raw, index);
      if (typeof rule === "string") errors.push(rule);
      else redirects.push(rule);
    });
    const headers: HeaderRule[] = [];
    for (const raw of headerResult.headers) {
      const rule = compileHeader(raw, errors);
      if (rule) headers.push(rule);
    }
    return { redirects, headers, hasForced: redirects.some((rule) => rule.force), errors };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Loads a deploy's rules from its own files (`_redirects`, `_headers`, and `netlify.toml`
 * unless the repository's is given). The platform may call this at publish time to report
 * rule errors; the edge calls it on first use of a deploy.
 */
export async function loadDeployRules(input: {
  manifest: DeployManifest;
  blobs: BlobReader;
  netlifyToml?: string;
  tmpDir?: string;
}): Promise<DeployRules> {
  const { manifest, blobs } = input;
  const read = async (name: string): Promise<Buffer | undefined> => {
    const entry = manifest.files.get(name);
    if (!entry) return undefined;
    if (entry.size > MAX_RULES_FILE_BYTES) return Buffer.alloc(MAX_RULES_FILE_BYTES + 1);
    return blobs.get(entry.sha1);
  };
  const [redirects, headers, toml] = await Promise.all([
    read("_redirects"),
    read("_headers"),
    input.netlifyToml === undefined ? read("netlify.toml") : Buffer.from(input.netlifyToml),
  ]);
  return parseRules({ redirects, headers, netlifyToml: toml }, input.tmpDir);
}

/** The request facts a redirect rule can match on. */
export interface RuleRequest {
  host: string;
  /** Canonical decoded path (from `parseRequestTarget`). */
  path: string;
  /** The raw query string, without `?`. */
  query: string;
}

export type RuleOutcome =
  | { kind: "redirect"; status: number; location: string }
  | { kind: "rewrite"; status: number; path: string }
  | { kind: "not_found"; status: number };

function encodeValue(name: string, value: string): string {
  return name === "splat"
    ? value.split("/").map(encodeURIComponent).join("/")
    : encodeURIComponent(value);
}

/** Makes a header-safe `Location`: anything outside printable ASCII is percent-encoded. */
function safeLocation(location: string): string {
  return location.replace(/[^\u0021-\u007e]+/g, (chars) => encodeURIComponent(chars));
}

/**
 * The first rule that applies to a request, as a redirect or a rewrite. `exists` says whether
 * the request path already names a file: then only forced rules apply (shadowing).
 */
export function applyRedirectRules(
  rules: DeployRules,
  request: RuleRequest,
  exists: boolean,
): RuleOutcome | undefined {
  if (rules.redirects.length === 0 || (exists && !rules.hasForced)) return undefined;
  let params: URLSearchParams | undefined;
  const lineTerminator = firstLineTerminator(request.path);
  for (const rule of rules.redirects) {
    if (exists && !rule.force) continue;
    if (rule.host !== undefined && rule.host !== request.host) continue;
    const captures = rule.path.match(request.path, lineTerminator);
    if (captures === undefined) continue;
    const values = new Map<string, string>();
    rule.path.names.forEach((name, i) => values.set(name, captures[i]!));
    let queryOk = true;
    for (const [key, expected] of rule.query) {
      params ??= new URLSearchParams(request.query);
      const actual = params.get(key);
      if (actual === null) {
        queryOk = false;
        break;
      }
      if (expected === undefined) continue;
      if (expected.startsWith(":")) values.set(expected.slice(1), actual);
      else if (expected !== actual) {
        queryOk = false;
        break;
      }
    }
    if (!queryOk) continue;
    const target = rule.to.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (whole, name: string) => {
      const value = values.get(name);
      return value === undefined ? whole : encodeValue(name, value);
    });
    if (rule.status >= 300 && rule.status < 400) {
      const withQuery =
        request.query !== "" && !target.includes("?") ? `${target}?${request.query}` : target;
      return { kind: "redirect", status: rule.status, location: safeLocation(withQuery) };
    }
    const parsed = parseRequestTarget(target);
    if (!parsed.ok) return { kind: "not_found", status: 404 };
    return { kind: "rewrite", status: rule.status, path: parsed.path };
  }
  return undefined;
}

/** Custom headers for a request path, later rules overriding earlier ones per header name. */
export function headersForPath(rules: DeployRules, path: string): [string, string][] {
  if (rules.headers.length === 0) return [];
  const out = new Map<string, string>();
  const text = new GlobText(path, HEADER_PATH_SYNTAX);
  for (const rule of rules.headers) {
    if (!rule.path.match(text)) continue;
    for (const [name, value] of rule.values) out.set(name, value);
  }
  return [...out];
}
