import type { PlatformContext } from "../context.ts";
import type { BlobReader } from "./blob-store.ts";
import type { DeployManifest } from "./manifest.ts";

/**
 * What the publish learnt about a deploy's redirect and header rules, kept as JSON in
 * `deploys.summary` and shown as Netlify's deploy `summary` (the API's deploy presenter). The
 * rules are parsed once when the deploy becomes ready, by the edge's own parser, so that a
 * broken `_redirects` line is reported instead of silently ignored; the edge still parses them
 * again when it first serves the deploy.
 */
export interface DeploySummary {
  /** Redirect and header rules the edge serves. */
  redirects: number;
  headers: number;
  /** Why rules were ignored: the first `MAX_SUMMARY_ERRORS` messages of each kind. */
  redirectErrors: string[];
  headerErrors: string[];
  /** How many messages there were of each kind (the lists above may be shorter). */
  redirectErrorCount: number;
  headerErrorCount: number;
  /** Set when the rule files could not be read at all (the deploy was published anyway). */
  failure?: string;
}

/** Parses a deploy's rules into its summary (the edge's parser, given by the composition root). */
export type SummarizeRules = (
  manifest: DeployManifest,
  blobs: BlobReader,
) => Promise<DeploySummary>;

/** Messages kept per kind, and characters per message: a summary stays a small row. */
export const MAX_SUMMARY_ERRORS = 50;
const MAX_MESSAGE_CHARS = 500;

function clip(messages: readonly string[]): string[] {
  return messages
    .slice(0, MAX_SUMMARY_ERRORS)
    .map((m) => (m.length > MAX_MESSAGE_CHARS ? `${m.slice(0, MAX_MESSAGE_CHARS - 1)}…` : m));
}

/** A summary of parsed rules: what is served, and why the rest was ignored. */
export function rulesSummary(rules: {
  redirects: readonly unknown[];
  headers: readonly unknown[];
  redirectErrors: readonly string[];
  headerErrors: readonly string[];
}): DeploySummary {
  return {
    redirects: rules.redirects.length,
    headers: rules.headers.length,
    redirectErrors: clip(rules.redirectErrors),
    headerErrors: clip(rules.headerErrors),
    redirectErrorCount: rules.redirectErrors.length,
    headerErrorCount: rules.headerErrors.length,
  };
}

/**
 * The summary to store as the deploy becomes ready, as JSON. Never throws: rules that cannot be
 * read give a summary that says so (and a log line), never a failed deploy.
 */
export async function summarizeForPublish(
  ctx: PlatformContext,
  deployId: string,
  summarize: SummarizeRules,
  manifest: DeployManifest,
  blobs: BlobReader,
): Promise<string> {
  let summary: DeploySummary;
  try {
    summary = await summarize(manifest, blobs);
  } catch (error) {
    ctx.log.warn({ err: error, deployId }, "reading a deploy's redirect and header rules failed");
    summary = {
      ...rulesSummary({ redirects: [], headers: [], redirectErrors: [], headerErrors: [] }),
      failure:
        "Slipway could not read this deploy's _redirects, _headers and netlify.toml to check them; the deploy was published, and its rules are read again when it is first served.",
    };
  }
  return JSON.stringify(summary);
}

/**
 * The stored summary, or `null` when there is none (not ready yet, or published before it).
 * Only `summarizeForPublish` writes the column; a row that is not JSON reads as none.
 */
export function readSummary(json: string | null): DeploySummary | null {
  if (json === null) return null;
  try {
    return JSON.parse(json) as DeploySummary;
  } catch {
    return null;
  }
}
