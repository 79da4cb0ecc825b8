import type { PlatformContext } from "../../context.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { checkLink } from "../../links/health.ts";
import { repairLink } from "../../commands/connection-link.ts";
import { SiteParams } from "../sites/schema.ts";
import { findSite } from "../../sites/sites.ts";
import { presentSiteLink } from "./presenter.ts";
import { loadSiteLinkView } from "../../links/view.ts";

/**
 * A site's link to its repository: `GET /sites/:id/link` (steps, health, manual steps),
 * `POST /sites/:id/link/check` (check now) and `POST /sites/:id/link/repair` (reinstall what is
 * missing at the provider, re-enable a disabled webhook, resume builds).
 */
export function siteLinkRoutes(app: PlatformApp, ctx: PlatformContext): void {
  app.get("/sites/:site_id/link", { schema: { params: SiteParams } }, async (request) => {
    const site = await findSite(ctx, requireActor(request), request.params.site_id);
    return presentSiteLink(ctx.config, await loadSiteLinkView(ctx, site));
  });

  app.post("/sites/:site_id/link/check", { schema: { params: SiteParams } }, async (request) => {
    const site = await findSite(ctx, requireActor(request), request.params.site_id, "update");
    await loadSiteLinkView(ctx, site); // refuses an unlinked site
    const health = await checkLink(ctx, site);
    const fresh = await findSite(ctx, requireActor(request), site.id);
    request.log.info(
      { siteId: site.id, healthy: health.healthy, broken: health.broken_reason },
      "link checked",
    );
    return presentSiteLink(ctx.config, await loadSiteLinkView(ctx, fresh), health);
  });

  app.post("/sites/:site_id/link/repair", { schema: { params: SiteParams } }, async (request) => {
    const actor = requireActor(request);
    const site = await findSite(ctx, actor, request.params.site_id, "update");
    const repaired = await repairLink(ctx, actor, site);
    request.log.info(
      { siteId: site.id, link: repaired.link.status, buildId: repaired.started?.build.id },
      "link repaired",
    );
    return {
      ...presentSiteLink(ctx.config, await loadSiteLinkView(ctx, repaired.site), repaired.health),
      repair: repaired.link,
      build_id: repaired.started?.build.id ?? null,
      deploy_id: repaired.started?.deploy.id ?? null,
    };
  });
}
