import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllHeaders, type MinimalHeader } from "@netlify/headers-parser";
import { parseAllRedirects } from "@netlify/redirect-parser";
import { GlobText, type Glob, type GlobMeter } from "../../lib/glob-match.ts";
import type { BlobReader } from "../deploys/blob-store.ts";
import type { DeployManifest } from "../deploys/manifest.ts";
import { rulesSummary, type SummarizeRules } from "../deploys/summary.ts";
import { parseRequestTarget } from "./request-path.ts";
import {
  limitHeadersFile,
  limitRedirectsFile,
  MAX_HEADER_FLOATING_PARTS,
  MAX_HEADER_RULES,
  MAX_REDIRECT_RULES,
  MAX_RULE_WILDCARDS,
  MAX_TOML_BLANK_RUN,
  tomlBlankRun,
  tooManyWildcards,
} from "./rule-limits.ts";
import {
  compileForPath,
  compileFromPath,
  HEADER_PATH_SYNTAX,
  lastLineTerminator,
  type FromPathMatcher,
} from "./rule-paths.ts";

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
 * Paths are matched without any RegExp built from a rule, so that no tenant's pattern can stop
 * the event loop (`rule-paths.ts`), and what a deploy's rules may cost is capped
 * (`rule-limits.ts`): what goes beyond is skipped with a message in `errors`.
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
  /**
   * `errors` by the kind of rule they concern, for the deploy's summary (one about the whole of
   * `netlify.toml` is in both).
   */
  readonly redirectErrors: readonly string[];
  readonly headerErrors: readonly string[];
}

export const EMPTY_RULES: DeployRules = Object.freeze({
  redirects: [],
  headers: [],
  hasForced: false,
  errors: [],
  redirectErrors: [],
  headerErrors: [],
});

/** Messages about ignored rules, in order, each also filed under the kind of rule it concerns. */
class RuleErrors {
  readonly all: string[] = [];
  readonly redirects: string[] = [];
  readonly headers: string[] = [];

  add(kind: "redirects" | "headers" | "both", messages: readonly string[]): void {
    for (const message of messages) {
      this.all.push(message);
      if (kind !== "headers") this.redirects.push(message);
      if (kind !== "redirects") this.headers.push(message);
    }
  }

  get fields(): Pick<DeployRules, "errors" | "redirectErrors" | "headerErrors"> {
    return { errors: this.all, redirectErrors: this.redirects, headerErrors: this.headers };
  }
}

/** Rule files larger than this are ignored (with an error), like an oversize `_redirects`. */
export const MAX_RULES_FILE_BYTES = 1024 * 1024;

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

function compileHeader(raw: MinimalHeader, path: Glob, errors: string[]): HeaderRule | undefined {
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
  const errors = new RuleErrors();
  const files: [string, string][] = [];
  for (const [name, data, kind] of [
    ["_redirects", sources.redirects, "redirects"],
    ["_headers", sources.headers, "headers"],
    ["netlify.toml", sources.netlifyToml, "both"],
  ] as const) {
    if (data === undefined) continue;
    if (data.length > MAX_RULES_FILE_BYTES) {
      errors.add(kind, [`${name} is larger than ${MAX_RULES_FILE_BYTES} bytes and was ignored`]);
      continue;
    }
    const text = data.toString("utf8");
    const cut: string[] = [];
    if (name === "_redirects") files.push([name, limitRedirectsFile(text, cut)]);
    else if (name === "_headers") files.push([name, limitHeadersFile(text, cut)]);
    else if (tomlBlankRun(text) > MAX_TOML_BLANK_RUN) {
      cut.push(
        `netlify.toml has more than ${MAX_TOML_BLANK_RUN} blank characters in a row; its redirect and header rules were ignored`,
      );
    } else files.push([name, text]);
    errors.add(kind, cut);
  }
  if (files.length === 0) {
    return errors.all.length === 0 ? EMPTY_RULES : { ...EMPTY_RULES, ...errors.fields };
  }

  const dir = await mkdtemp(join(tmpBase, "slipway-rules-"));
  try {
    const has = new Set<string>();
    for (const [name, text] of files) {
      await writeFile(join(dir, name), text, { mode: 0o600, flag: "wx" });
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
        // Without the `forRegExp` the parser would build from each path: paths are matched
        // by `compileForPath`.
        minimal: true,
      }),
    ]);
    const hide = (error: unknown): string =>
      (error instanceof Error ? error.message : String(error)).replaceAll(dir + "/", "");
    errors.add("redirects", (redirectResult.errors as unknown[]).map(hide));
    errors.add("headers", (headerResult.errors as unknown[]).map(hide));
    return {
      ...compileRules(redirectResult.redirects, headerResult.headers, errors),
      ...errors.fields,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Compiles parsed rules within the per-deploy limits, adding what was skipped to `errors`. */
function compileRules(
  rawRedirects: readonly unknown[],
  rawHeaders: readonly MinimalHeader[],
  found: RuleErrors,
): Pick<DeployRules, "redirects" | "headers" | "hasForced"> {
  let errors: string[] = [];
  if (rawRedirects.length > MAX_REDIRECT_RULES) {
    errors.push(
      `${rawRedirects.length} redirect rules in _redirects and netlify.toml; only the first ${MAX_REDIRECT_RULES} are used (the limit per deploy)`,
    );
  }
  const redirects: RedirectRule[] = [];
  rawRedirects.slice(0, MAX_REDIRECT_RULES).forEach((raw, index) => {
    const rule = compileRedirect(raw, index);
    if (typeof rule === "string") errors.push(rule);
    else redirects.push(rule);
  });
  found.add("redirects", errors);

  errors = [];
  if (rawHeaders.length > MAX_HEADER_RULES) {
    errors.push(
      `${rawHeaders.length} header rules in _headers and netlify.toml; only the first ${MAX_HEADER_RULES} are used (the limit per deploy)`,
    );
  }
  const headers: HeaderRule[] = [];
  let floating = 0;
  for (const raw of rawHeaders.slice(0, MAX_HEADER_RULES)) {
    const path = compileForPath(raw.for);
    if (path.wildcards > MAX_RULE_WILDCARDS) {
      errors.push(`headers for ${raw.for}: ${tooManyWildcards(path.wildcards)}`);
      continue;
    }
    if (floating + path.floatingPieces > MAX_HEADER_FLOATING_PARTS) {
      errors.push(
        `headers for ${raw.for}: the deploy's header paths would have more than ${MAX_HEADER_FLOATING_PARTS} parts between two * (each is a search through the request path), so this rule was ignored`,
      );
      continue;
    }
    const rule = compileHeader(raw, path, errors);
    if (rule === undefined) continue;
    floating += path.floatingPieces;
    headers.push(rule);
  }
  found.add("headers", errors);
  return { redirects, headers, hasForced: redirects.some((rule) => rule.force) };
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

/** The deploy's summary of its rules, parsed as the edge will (the publish stores it). */
export const summarizeDeployRules: SummarizeRules = async (manifest, blobs) =>
  rulesSummary(await loadDeployRules({ manifest, blobs }));

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
  const lineTerminator = lastLineTerminator(request.path);
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

/**
 * Custom headers for a request path, later rules overriding earlier ones per header name;
 * `meter` counts the matching steps.
 */
export function headersForPath(
  rules: DeployRules,
  path: string,
  meter?: GlobMeter,
): [string, string][] {
  if (rules.headers.length === 0) return [];
  const out = new Map<string, string>();
  const text = new GlobText(path, HEADER_PATH_SYNTAX);
  for (const rule of rules.headers) {
    if (!rule.path.match(text, meter)) continue;
    for (const [name, value] of rule.values) out.set(name, value);
  }
  return [...out];
}
