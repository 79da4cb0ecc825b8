import type { PlatformConfig } from "../../../config.ts";
import type { Deploy } from "../../db/schema.ts";
import { siteUrl } from "../sites/urls.ts";

/** Netlify's `deploy` (the fields clients read), with its permalink `{id}--{site}`. */
export function presentDeploy(config: PlatformConfig, deploy: Deploy, siteName: string) {
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
    admin_url: `${config.publicUrl}/sites/${siteName}/deploys/${deploy.id}`,
    deploy_url: deployUrl,
    deploy_ssl_url: deployUrl,
    error_message: deploy.error_message,
    branch: deploy.branch,
    commit_ref: deploy.commit_ref,
    context: deploy.context,
    title: deploy.title,
    draft: deploy.draft === 1,
    locked: deploy.locked === 1,
    required: JSON.parse(deploy.required) as string[],
    created_at: deploy.created_at,
    updated_at: deploy.updated_at,
    published_at: deploy.published_at,
  };
}
