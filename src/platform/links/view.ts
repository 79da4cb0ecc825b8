import type { PlatformContext } from "../context.ts";
import type { DeployKey, GitConnection, Site, SiteLink } from "../db/schema.ts";
import { invalidField } from "../errors.ts";
import { findLink } from "./service.ts";
import { deployKeyOfSite } from "../deploy-keys/deploy-keys.ts";
import { readWebhookSecret } from "../sites/secrets.ts";
import { DbHostKeyStore } from "../repos/known-hosts-store.ts";
import { hostKeyTrust, type HostKeyTrust } from "../repos/published-host-keys.ts";
import { validateRepoUrl } from "../repos/repo-url.ts";

/** Everything `GET /sites/:id/link` shows, loaded. */
export interface SiteLinkView {
  site: Site;
  link: SiteLink | undefined;
  connection: GitConnection | undefined;
  key: DeployKey | undefined;
  secret: string;
  /** How an ssh repository's host key is trusted (null for https, or before first contact). */
  hostKey: HostKeyTrust | null;
}

export async function loadSiteLinkView(ctx: PlatformContext, site: Site): Promise<SiteLinkView> {
  const secret = readWebhookSecret(ctx, site);
  if (site.repo_url === null || secret === null) {
    throw invalidField(
      "site_id",
      "the site is not linked to a repository; link one with PATCH /api/v1/sites/:site_id and a repo object (with repo.connection_id and repo.repo_path, Slipway installs the deploy key and webhook itself)",
    );
  }
  const link = await findLink(ctx, site.id);
  const connection = link
    ? await ctx.db
        .selectFrom("git_connections")
        .selectAll()
        .where("id", "=", link.connection_id)
        .executeTakeFirst()
    : undefined;
  const key = await deployKeyOfSite(ctx, site);
  const hostKey = await hostKeyOf(ctx, site, site.repo_url);
  return { site, link, connection, key, secret, hostKey };
}

/** The published keys of GitHub, GitLab.com or Bitbucket Cloud, or those first seen. */
async function hostKeyOf(
  ctx: PlatformContext,
  site: Site,
  repoUrl: string,
): Promise<HostKeyTrust | null> {
  let repo;
  try {
    repo = validateRepoUrl(repoUrl);
  } catch {
    return null;
  }
  if (repo.protocol !== "ssh") return null;
  const firstSeen = await new DbHostKeyStore(ctx.db, site.account_id).get(repo.host, repo.port);
  return hostKeyTrust(repo.host, firstSeen) ?? null;
}
