import type { FastifyRequest } from "fastify";
import type { PlatformContext } from "../../context.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { readPage, setPaginationHeaders } from "../../http/pagination.ts";
import { accountIdsByOwnership, defaultAccountId, visibleAccountIds } from "../../policies.ts";
import { findAccountForActor } from "../accounts/service.ts";
import { presentSite } from "./presenter.ts";
import {
  AccountParams,
  GetSiteQuery,
  ListSitesQuery,
  SiteParams,
  SiteSetupBody,
} from "./schema.ts";
import {
  createSite,
  deleteSite,
  findSite,
  listSites,
  rotateWebhookSecret,
  unlinkSite,
  updateSite,
  viewSite,
  viewSites,
} from "./service.ts";

// A build for a newly linked site is started by the build queue (a later step), which will
// add `build_id` and `deploy_id` to the creation response.

/** A bodiless create or update is an empty `siteSetup` (`netlify deploy` creates sites so). */
const emptyBodyIsEmptyObject = async (request: FastifyRequest): Promise<void> => {
  request.body ??= {};
};

export function siteRoutes(app: PlatformApp, ctx: PlatformContext): void {
  const present = async (site: Parameters<typeof viewSite>[1]) =>
    presentSite(ctx.config, await viewSite(ctx, site));

  app.post(
    "/sites",
    { schema: { body: SiteSetupBody }, preValidation: emptyBodyIsEmptyObject },
    async (request, reply) => {
      const actor = requireActor(request);
      const site = await createSite(ctx, actor, defaultAccountId(actor), request.body);
      request.log.info({ siteId: site.id, name: site.name }, "site created");
      return reply.code(201).send(await present(site));
    },
  );

  app.post(
    "/:account_slug/sites",
    {
      schema: { params: AccountParams, body: SiteSetupBody },
      preValidation: emptyBodyIsEmptyObject,
    },
    async (request, reply) => {
      const actor = requireActor(request);
      const account = await findAccountForActor(ctx, actor, request.params.account_slug);
      const site = await createSite(ctx, actor, account.id, request.body);
      request.log.info({ siteId: site.id, name: site.name }, "site created");
      return reply.code(201).send(await present(site));
    },
  );

  app.get("/sites", { schema: { querystring: ListSitesQuery } }, async (request, reply) => {
    const actor = requireActor(request);
    const filter = request.query.filter ?? "all";
    const accountIds =
      filter === "all"
        ? visibleAccountIds(actor)
        : accountIdsByOwnership(actor, filter === "owner");
    const page = readPage(request.query);
    const { sites, total } = await listSites(ctx, {
      accountIds,
      name: request.query.name,
      offset: page.offset,
      limit: page.perPage,
    });
    setPaginationHeaders(request, reply, ctx.config.publicUrl, page, total);
    return (await viewSites(ctx, sites)).map((v) => presentSite(ctx.config, v));
  });

  app.get(
    "/:account_slug/sites",
    { schema: { params: AccountParams, querystring: ListSitesQuery } },
    async (request, reply) => {
      const actor = requireActor(request);
      const account = await findAccountForActor(ctx, actor, request.params.account_slug);
      const page = readPage(request.query);
      const { sites, total } = await listSites(ctx, {
        accountIds: [account.id],
        name: request.query.name,
        offset: page.offset,
        limit: page.perPage,
      });
      setPaginationHeaders(request, reply, ctx.config.publicUrl, page, total);
      return (await viewSites(ctx, sites)).map((v) => presentSite(ctx.config, v));
    },
  );

  app.get(
    "/sites/:site_id",
    { schema: { params: SiteParams, querystring: GetSiteQuery } },
    async (request) => present(await findSite(ctx, requireActor(request), request.params.site_id)),
  );

  app.patch(
    "/sites/:site_id",
    { schema: { params: SiteParams, body: SiteSetupBody }, preValidation: emptyBodyIsEmptyObject },
    async (request) => {
      const actor = requireActor(request);
      const site = await findSite(ctx, actor, request.params.site_id, "update");
      const updated = await updateSite(ctx, actor, site, request.body);
      request.log.info({ siteId: site.id }, "site updated");
      return present(updated);
    },
  );

  app.delete("/sites/:site_id", { schema: { params: SiteParams } }, async (request, reply) => {
    const actor = requireActor(request);
    const site = await findSite(ctx, actor, request.params.site_id, "delete");
    await deleteSite(ctx, actor, site);
    request.log.info({ siteId: site.id }, "site deleted");
    return reply.code(204).send();
  });

  app.put("/sites/:site_id/unlink_repo", { schema: { params: SiteParams } }, async (request) => {
    const actor = requireActor(request);
    const site = await findSite(ctx, actor, request.params.site_id, "update");
    return present(await unlinkSite(ctx, actor, site));
  });

  app.post(
    "/sites/:site_id/git_webhook/rotate",
    { schema: { params: SiteParams } },
    async (request) => {
      const actor = requireActor(request);
      const site = await findSite(ctx, actor, request.params.site_id, "update");
      const view = await viewSite(ctx, await rotateWebhookSecret(ctx, actor, site));
      request.log.info({ siteId: site.id }, "git webhook secret rotated");
      return presentSite(ctx.config, view).git_webhook;
    },
  );
}
