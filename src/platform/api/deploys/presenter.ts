import { createHash } from "node:crypto";
import mime from "mime-types";
import type { PlatformConfig } from "../../../config.ts";
import type { Deploy } from "../../db/schema.ts";
import { readSummary, type DeploySummary } from "../../deploys/summary.ts";
import { branchLabel, siteUrl } from "../../sites/urls.ts";

function parseList(json: string): string[] {
  try {
    const value: unknown = JSON.parse(json);
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
  } catch {
    return [];
  }
}

/** What a digest deploy still waits for, when the caller read it (the columns are snapshots). */
export interface RemainingUploads {
  required: string[];
  requiredFunctions: string[];
}

/** One message of Netlify's deploy `summary`. */
export interface SummaryMessage {
  type: "info" | "warning";
  title: string;
  description: string;
  details: string | null;
}

const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? "" : "s"}`;

/** One kind of rule's message, in Netlify's words ("3 redirect rules processed"). */
function rulesMessage(
  kind: "redirect" | "header",
  processed: number,
  errors: readonly string[],
  errorCount: number,
): SummaryMessage {
  if (errorCount > 0) {
    // Each message on one line (the parser's span several), then how many more were not kept.
    const lines = errors.map((e) => `- ${e.split(/\s*\n\s*/).join(" ")}`);
    if (errorCount > errors.length) lines.push(`- … and ${errorCount - errors.length} more`);
    return {
      type: "warning",
      title: `${plural(errorCount, `${kind} rule`)} could not be processed`,
      description: `${plural(processed, `${kind} rule`)} deployed; the ones in the details were ignored. Fix them and deploy again.`,
      details: lines.join("\n"),
    };
  }
  if (processed === 0) {
    return {
      type: "info",
      title: `No ${kind} rules processed`,
      description: `This deploy did not include any ${kind} rules.`,
      details: "",
    };
  }
  return {
    type: "info",
    title: `${plural(processed, `${kind} rule`)} processed`,
    description: `All ${kind} rules deployed without errors.`,
    details: null,
  };
}

/**
 * Netlify's deploy `summary` from what the publish stored: one message for redirect rules, one
 * for header rules. `null` for a deploy that is not ready, or was published before Slipway kept
 * summaries (nothing is known about its rules then; an empty list would say "no rules").
 */
export function presentSummary(summary: DeploySummary | null) {
  if (summary === null) return null;
  const messages: SummaryMessage[] = [];
  if (summary.failure !== undefined) {
    messages.push({
      type: "warning",
      title: "Redirect and header rules could not be checked",
      description: summary.failure,
      details: null,
    });
  } else {
    messages.push(
      rulesMessage(
        "redirect",
        summary.redirects,
        summary.redirectErrors,
        summary.redirectErrorCount,
      ),
      rulesMessage("header", summary.headers, summary.headerErrors, summary.headerErrorCount),
    );
  }
  return { status: "ready" as const, messages };
}

/**
 * Netlify's `deploy` (every field its clients read), with its permalink `{id}--{site}` as
 * `deploy_url`; a git build's `title` is its commit's subject (unless its trigger gave one),
 * `committer` the commit's author and `summary` what became of its redirect and header rules. Slipway's additions: `warnings` (e.g. functions are stored,
 * not served), `file_count` and `size_bytes`.
 */
export function presentDeploy(
  config: PlatformConfig,
  deploy: Deploy,
  siteName: string,
  remaining?: RemainingUploads,
) {
  const url = siteUrl(config, siteName);
  const deployUrl = siteUrl(config, `${deploy.id}--${siteName}`);
  return {
    id: deploy.id,
    site_id: deploy.site_id,
    build_id: deploy.build_id,
    state: deploy.state,
    name: siteName,
    url,
    ssl_url: url,
    // The site's page, as on Netlify: the CLI prints `${admin_url}/deploys/${id}` as the log URL.
    admin_url: `${config.publicUrl}/sites/${siteName}`,
    deploy_url: deployUrl,
    deploy_ssl_url: deployUrl,
    error_message: deploy.error_message,
    branch: deploy.branch,
    commit_ref: deploy.commit_ref,
    commit_url: deploy.commit_url,
    review_id: deploy.review_id,
    review_url: deploy.review_url,
    context: deploy.context,
    title: deploy.title,
    committer: deploy.committer,
    draft: deploy.draft === 1,
    locked: deploy.locked === 1,
    required: remaining?.required ?? parseList(deploy.required),
    required_functions: remaining?.requiredFunctions ?? parseList(deploy.required_functions),
    deploy_source: deploy.deploy_source,
    warnings: parseList(deploy.warnings),
    file_count: deploy.file_count,
    size_bytes: deploy.size_bytes,
    created_at: deploy.created_at,
    updated_at: deploy.updated_at,
    published_at: deploy.published_at,
    /** Set when deploy retention let it go: its files are gone and it cannot be published. */
    expired_at: deploy.expired_at,
    summary: presentSummary(readSummary(deploy.summary)),
  };
}

/** A deploy's JSON (`GET /deploys/:id`). */
export type DeployJson = ReturnType<typeof presentDeploy>;

/** Netlify's `file` for an upload: paths with a leading slash, as Netlify lists them. */
export function presentFile(upload: { path: string; sha1: string; size: number }) {
  const name = upload.path.slice(upload.path.lastIndexOf("/") + 1);
  return {
    id: `/${upload.path}`,
    path: `/${upload.path}`,
    sha: upload.sha1,
    mime_type: (name.includes(".") && mime.lookup(name)) || "application/octet-stream",
    size: upload.size,
  };
}

/** Netlify's `function` for an upload (functions are stored, not served). */
export function presentFunction(upload: { name: string; sha256: string }) {
  return { id: upload.sha256, name: upload.name, sha: upload.sha256, region: null };
}

/** One entry of `GET /sites/:site_id/deployed-branches`. */
export function presentDeployedBranch(
  config: PlatformConfig,
  siteId: string,
  siteName: string,
  branch: string,
  deployId: string,
) {
  const slug = branchLabel(branch);
  const url = siteUrl(config, `${slug}--${siteName}`);
  return {
    id: createHash("sha1").update(`${siteId}\u0000${branch}`).digest("hex").slice(0, 24),
    deploy_id: deployId,
    name: branch,
    slug,
    url,
    ssl_url: url,
  };
}
