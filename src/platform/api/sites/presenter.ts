import type { PlatformConfig } from "../../../config.ts";
import { presentDeploy } from "../deploys/presenter.ts";
import type { SiteView } from "../../sites/sites.ts";
import { gitWebhookUrl, siteUrl } from "../../sites/urls.ts";
import { readDomainSettings } from "../../domains/claims.ts";
import { domainUrls } from "../../domains/urls.ts";

/**
 * Netlify's `site`, with Slipway's additions: `git_webhook` (the URL and secret to register at
 * the provider; members only ever see their own sites) and `build_settings.env_keys`.
 *
 * `build_settings.env` is deliberately absent: build variables often hold credentials, so the
 * API returns their names (`env_keys`), never their values. Setting `repo.env` replaces them.
 */
export function presentSite(config: PlatformConfig, view: SiteView) {
  const { site, account, repo } = view;
  const url = siteUrl(config, site.name);
  const domains = readDomainSettings(site);
  // With a custom domain, `url` and `ssl_url` are the primary domain's, as on Netlify.
  const custom = domains.customDomain === null ? null : domainUrls(config, domains.customDomain);
  const webhookUrl = repo ? gitWebhookUrl(config, site.id) : null;
  const published = view.publishedDeploy
    ? presentDeploy(config, view.publishedDeploy, site.name)
    : null;
  return {
    id: site.id,
    site_id: site.id,
    name: site.name,
    state: site.state,
    plan: "self-hosted",
    custom_domain: domains.customDomain,
    domain_aliases: domains.aliases,
    url: custom?.http ?? url,
    ssl_url: (view.sslActive ? custom?.https : undefined) ?? custom?.http ?? url,
    ssl: view.sslActive,
    force_ssl: domains.forceSsl,
    // Slipway's addition: Strict-Transport-Security on the custom domains' HTTPS answers.
    hsts_max_age: domains.hstsMaxAge,
    // Netlify's `password` is write-only: the API says whether there is one, never what it is.
    has_password: view.passwordContext !== null,
    // Slipway's addition: `all`, or `non_production` (previews, branch deploys, permalinks).
    password_context: view.passwordContext,
    admin_url: `${config.publicUrl}/sites/${site.name}`,
    screenshot_url: null,
    deploy_url: published?.deploy_url ?? null,
    created_at: site.created_at,
    updated_at: site.updated_at,
    user_id: site.created_by,
    account_id: account.id,
    account_name: account.name,
    account_slug: account.slug,
    account_type: account.type,
    git_provider: repo?.provider ?? null,
    deploy_hook: webhookUrl,
    git_webhook:
      webhookUrl !== null && view.webhookSecret !== null
        ? { url: webhookUrl, secret: view.webhookSecret }
        : null,
    build_settings: {
      provider: repo?.provider ?? null,
      repo_url: repo?.repoUrl ?? null,
      repo_path: repo?.repoPath ?? null,
      id: repo?.repoId ?? null,
      repo_branch: repo?.branch ?? null,
      cmd: repo?.cmd ?? null,
      dir: repo?.dir ?? null,
      base: repo?.base ?? null,
      deploy_key_id: repo?.deployKeyId ?? null,
      // Only ever in a member's view of the site (tenancy hides other accounts' sites).
      installation_id: repo?.installationId ?? null,
      allowed_branches: repo?.allowedBranches ?? [],
      env_keys: view.envKeys,
      stop_builds: repo?.stopBuilds ?? false,
      build_network: repo?.buildNetwork ?? true,
      deploy_previews: repo?.deployPreviews ?? true,
    },
    published_deploy: published,
    // Slipway's additions: the git connection the repository was linked through, and why its
    // builds are stopped when the link to the provider is broken (key removed, token revoked).
    git_connection_id: site.connection_id,
    link_broken_reason: site.link_broken_reason,
    capabilities: {},
    processing_settings: { html: { pretty_urls: true } },
    // Variables live in the account env API (`/accounts/:account_id/env`), which clients read.
    // `feature_flags` stays absent: the CLI takes every flag missing from a present object as on.
    use_envelope: true,
  };
}

/** A site's JSON (`GET /sites/:id`). */
export type SiteJson = ReturnType<typeof presentSite>;
