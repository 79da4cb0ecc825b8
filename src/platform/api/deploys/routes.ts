import type { PlatformContext } from "../../context.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { notFound } from "../../http/errors.ts";
import { readPage, setPaginationHeaders } from "../../http/pagination.ts";
import { SiteParams } from "../sites/schema.ts";
import { findSite } from "../sites/service.ts";
import { presentDeploy } from "./presenter.ts";
import { DeployParams, ListDeploysQuery, SiteDeployParams } from "./schema.ts";
import { findDeploy, listSiteDeploys } from "./service.ts";

export function deployRoutes(app: PlatformApp, ctx: PlatformContext): void {
  app.get(
    "/sites/:site_id/deploys",
    { schema: { params: SiteParams, querystring: ListDeploysQuery } },
    async (request, reply) => {
      const site = await findSite(ctx, requireActor(request), request.params.site_id);
      const page = readPage(request.query);
      const q = request.query;
      const { deploys, total } = await listSiteDeploys(ctx, site, {
        ...(q.state !== undefined ? { state: q.state } : {}),
        ...(q.branch !== undefined ? { branch: q.branch } : {}),
        ...(q.production !== undefined ? { production: q.production } : {}),
        ...(q["latest-published"] !== undefined ? { latestPublished: q["latest-published"] } : {}),
        offset: page.offset,
        limit: page.perPage,
      });
      setPaginationHeaders(request, reply, ctx.config.publicUrl, page, total);
      return deploys.map((d) => presentDeploy(ctx.config, d, site.name));
    },
  );

  app.get(
    "/sites/:site_id/deploys/:deploy_id",
    { schema: { params: SiteDeployParams } },
    async (request) => {
      const actor = requireActor(request);
      const site = await findSite(ctx, actor, request.params.site_id);
      const { deploy } = await findDeploy(ctx, actor, request.params.deploy_id);
      if (deploy.site_id !== site.id) throw notFound("Deploy");
      return presentDeploy(ctx.config, deploy, site.name);
    },
  );

  app.get("/deploys/:deploy_id", { schema: { params: DeployParams } }, async (request) => {
    const { deploy, site } = await findDeploy(ctx, requireActor(request), request.params.deploy_id);
    return presentDeploy(ctx.config, deploy, site.name);
  });
}
