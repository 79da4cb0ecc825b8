import type { PlatformConfig } from "../../config.ts";

/**
 * `http://{label}.{sites domain}[:port]`: the scheme and port of the public URL (the edge
 * serves on the same port as the API), the site's own host name.
 */
export function siteUrl(
  config: Pick<PlatformConfig, "publicUrl" | "sitesDomain">,
  label: string,
): string {
  const base = new URL(config.publicUrl);
  return `${base.protocol}//${label}.${config.sitesDomain}${base.port === "" ? "" : `:${base.port}`}`;
}

/** Where providers send push events for a site (host root, not under `/api/v1`). */
export const GIT_WEBHOOK_PATH = "/webhooks/sites";

export function gitWebhookUrl(config: Pick<PlatformConfig, "publicUrl">, siteId: string): string {
  return `${config.publicUrl}${GIT_WEBHOOK_PATH}/${siteId}`;
}

/**
 * A branch name as a DNS label (`feature/x` → `feature-x`): the `{branch}--{site}` host of the
 * branch's latest deploy.
 */
export function branchLabel(branch: string): string {
  return branch
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/g, "");
}
