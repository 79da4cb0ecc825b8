import type { ManifestEntry } from "../deploys/manifest.ts";

// Rule files are configuration, not content; netlify-cli uploads a generated netlify.toml that
// holds the deployer's absolute local paths.
const HIDDEN = new Set(["_redirects", "_headers", "netlify.toml"]);

/** The manifest key a canonical request path serves: exact, pretty URL, or directory index. */
export function lookupFile(
  files: ReadonlyMap<string, ManifestEntry>,
  path: string,
): string | undefined {
  const rel = path.slice(1);
  let candidates: string[];
  if (rel === "") candidates = ["index.html"];
  else if (rel.endsWith("/")) candidates = [`${rel}index.html`, `${rel.slice(0, -1)}.html`];
  else candidates = [rel, `${rel}.html`, `${rel}/index.html`];
  for (const candidate of candidates) {
    if (!HIDDEN.has(candidate) && files.has(candidate)) return candidate;
  }
  return undefined;
}
