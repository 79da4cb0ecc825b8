/**
 * # Edge: serving sites by host name
 *
 * `createEdge({ resolver })` returns a plain `node:http` request listener that the platform
 * mounts for every host that is not its API. For each request it asks the injected
 * `SiteResolver` which deploy the host serves (`{site}.{domain}`, `{deployId}--{site}.…`,
 * `{branch}--{site}.…`), resolves that deploy once, and answers entirely from its immutable
 * manifest — so a publish between two requests never mixes files, and a request path is only
 * ever a key into the manifest, never a file-system path.
 *
 * Behaviour follows Netlify: `index.html` for directories, pretty URLs (`/about` →
 * `about.html`, `/about/` → `about/index.html`), the deploy's `404.html` with status 404,
 * `_redirects` / `_headers` / `netlify.toml` rules (parsed once per deploy with Netlify's
 * parsers), strong ETags from the SHA-1 with `If-None-Match` → 304, `Cache-Control: public,
 * max-age=0, must-revalidate` unless a header rule says otherwise, HEAD, single byte ranges,
 * and brotli/gzip compressed lazily once per blob.
 *
 * Speed: file bytes, their compressed variants and per-path response headers live in memory
 * (`HotCache`, bounded by bytes; keyed by content so deploys share entries), because any disk
 * access per request costs 5–12× the throughput (perf-anchors §1). Files larger than
 * `maxCachedFileBytes` are streamed from the blob store instead.
 *
 * Not here: proxy rewrites to other URLs, redirect conditions (country, language, role,
 * cookie), signed rewrites, multi-range responses, edge functions, custom domains.
 */
export { createEdge, lookupFile, negotiateEncoding, parseRange } from "./handler.ts";
export type { Edge, EdgeOptions, EdgeStats } from "./handler.ts";
export {
  MemorySiteResolver,
  normaliseHost,
  parseSiteHost,
  type ResolvedDeploy,
  type SiteHost,
  type SiteResolver,
} from "./hosts.ts";
export { HotCache, type HotCacheStats } from "./hot-cache.ts";
export {
  MAX_TARGET_LENGTH,
  encodePath,
  normalisePath,
  parseRequestTarget,
} from "./request-path.ts";
export type { RequestTarget } from "./request-path.ts";
export {
  EMPTY_RULES,
  MAX_RULES_FILE_BYTES,
  applyRedirectRules,
  compileFromPath,
  headersForPath,
  loadDeployRules,
  parseRules,
  type DeployRules,
  type HeaderRule,
  type RedirectRule,
  type RuleOutcome,
  type RuleRequest,
  type RuleSources,
} from "./rules.ts";
