import type { PlatformConfig } from "../../../config.ts";
import { readHealth, type LinkHealth } from "../../links/health.ts";
import { manualSteps } from "../../links/manual.ts";
import { readSteps } from "../../links/steps.ts";
import { validateRepoUrl } from "../../repos/repo-url.ts";
import { presentGitConnection } from "../git-connections/presenter.ts";
import { gitWebhookUrl } from "../../sites/urls.ts";
import type { SiteLinkView } from "../../links/view.ts";

/** `https://host/owner/repo` for a repository URL, as the known providers lay out their pages. */
function webUrlOf(repoUrl: string): string | null {
  try {
    const repo = validateRepoUrl(repoUrl);
    const host = repo.host.includes(":") ? `[${repo.host}]` : repo.host;
    return `https://${host}/${repo.path.replace(/^\/+/, "").replace(/\.git$/, "")}`;
  } catch {
    return null;
  }
}

/**
 * `GET /sites/:id/link`: where the site's repository is, how it was linked (through which
 * connection, each step's result), the link's health, and — for a site linked by hand — the
 * exact steps to do at the provider. The webhook secret is shown to the site's members only
 * (as in the site's `git_webhook`), for the manual steps.
 */
export function presentSiteLink(
  config: PlatformConfig,
  view: SiteLinkView,
  health: LinkHealth | null = readHealth(view.link),
) {
  const { site, link, connection, key } = view;
  const webhookUrl = gitWebhookUrl(config, site.id);
  return {
    site_id: site.id,
    site_name: site.name,
    provider: site.repo_provider,
    through_connection: link !== undefined,
    connection: connection ? presentGitConnection(connection) : null,
    repository: {
      ref: link?.repo_ref ?? null,
      id: site.repo_id === null ? null : (JSON.parse(site.repo_id) as number | string),
      path: site.repo_path,
      url: site.repo_url,
      branch: site.repo_branch,
    },
    deploy_key: key
      ? {
          id: key.id,
          fingerprint: key.fingerprint,
          public_key: key.public_key,
          remote_id: link?.remote_key_id ?? null,
        }
      : null,
    /** `{trust: "pinned" | "first_use", fingerprints}`: how the fetch checks the ssh host. */
    host_key: view.hostKey,
    webhook: {
      url: webhookUrl,
      events: ["push", "pull_request"],
      remote_id: link?.remote_hook_id ?? null,
    },
    steps: link ? readSteps(link) : [],
    health,
    checked_at: health?.checked_at ?? null,
    link_broken_reason: site.link_broken_reason,
    manual: link
      ? null
      : manualSteps({
          provider: site.repo_provider,
          repoWebUrl: site.repo_url === null ? null : webUrlOf(site.repo_url),
          publicKey: key?.public_key ?? null,
          webhookUrl,
          secret: view.secret,
        }),
  };
}

/** A site's link (`GET /sites/:id/link`). */
export type SiteLinkJson = ReturnType<typeof presentSiteLink>;
