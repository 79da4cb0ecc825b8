import type { PlatformContext } from "../context.ts";
import type { DeployKey, GitConnection, Site, SiteLink } from "../db/schema.ts";
import { invalidField } from "../errors.ts";
import { findLink } from "./service.ts";
import { deployKeyOfSite } from "../deploy-keys/deploy-keys.ts";
import { readWebhookSecret } from "../sites/secrets.ts";

/** Everything `GET /sites/:id/link` shows, loaded. */
export interface SiteLinkView {
  site: Site;
  link: SiteLink | undefined;
  connection: GitConnection | undefined;
  key: DeployKey | undefined;
  secret: string;
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
  return { site, link, connection, key, secret };
}
