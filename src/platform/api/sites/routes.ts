import type { FastifyReply, FastifyRequest } from "fastify";
import type { BuildRequestResult } from "../../builds/service.ts";
import type { PlatformContext } from "../../context.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { readPage, setPaginationHeaders } from "../../http/pagination.ts";
import {
  accountIdsByOwnership,
  defaultAccountId,
  visibleAccountIds,
} from "../../accounts/policies.ts";
import { findAccountForActor } from "../../accounts/accounts.ts";
import { presentSite } from "./presenter.ts";
import {
  AccountParams,
  GetSiteQuery,
  ListSitesQuery,
  SiteParams,
  SiteSetupBody,
} from "./schema.ts";
import {
  findSite,
  listSites,
  rotateWebhookSecret,
  viewSite,
  viewSites,
} from "../../sites/sites.ts";
import {
  changeSite,
  removeSite,
  setUpSite,
  unlinkRepository,
  type SiteSetupResult,
} from "../../commands/site-setup.ts";

const buildIds = (started: BuildRequestResult | undefined) => ({
  build_id: started?.build.id ?? null,
  deploy_id: started?.deploy.id ?? null,
});

/** A bodiless create or update is an empty `siteSetup` (`netlify deploy` creates sites so). */
const emptyBodyIsEmptyObject = async (request: FastifyRequest): Promise<void> => {
  request.body ??= {};
};

export function siteRoutes(app: PlatformApp, ctx: PlatformContext): void {
  const present = async (site: Parameters<typeof viewSite>[1]) =>
    presentSite(ctx.config, await viewSite(ctx, site));
  // The site, the build linking started, and (through a connection) what linking did.
  const presentSetUp = async (result: SiteSetupResult) => ({
    ...(await present(result.site)),
    ...buildIds(result.started),
    ...(result.link ? { link: result.link } : {}),
  });
  const create = async (
    request: FastifyRequest,
    reply: FastifyReply,
    accountId: string,
    body: SiteSetupBody,
  ) => {
    const result = await setUpSite(ctx, requireActor(request), accountId, body);
    request.log.info(
      {
        siteId: result.site.id,
        name: result.site.name,
        buildId: result.started?.build.id,
        link: result.link?.status,
      },
      result.link ? "site created and linked through a git connection" : "site created",
    );
    return reply.code(201).send(await presentSetUp(result));
  };

  app.post(
    "/sites",
    { schema: { body: SiteSetupBody }, preValidation: emptyBodyIsEmptyObject },
    (request, reply) =>
      create(request, reply, defaultAccountId(requireActor(request)), request.body),
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
      return create(request, reply, account.id, request.body);
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
      const result = await changeSite(ctx, actor, site, request.body);
      request.log.info(
        { siteId: site.id, buildId: result.started?.build.id, link: result.link?.status },
        result.link ? "site updated and linked through a git connection" : "site updated",
      );
      return presentSetUp(result);
    },
  );

  app.delete("/sites/:site_id", { schema: { params: SiteParams } }, async (request, reply) => {
    const actor = requireActor(request);
    const site = await findSite(ctx, actor, request.params.site_id, "delete");
    // A 204 has no body: the log says what was removed at the provider.
    const removal = await removeSite(ctx, actor, site);
    request.log.info(
      {
        siteId: site.id,
        removedAtProvider: removal?.removed.map((r) => r.message),
        notRemovedAtProvider: removal?.failed.map((f) => `${f.message}; ${f.hint}`),
      },
      "site deleted",
    );
    return reply.code(204).send();
  });

  app.put("/sites/:site_id/unlink_repo", { schema: { params: SiteParams } }, async (request) => {
    const actor = requireActor(request);
    const site = await findSite(ctx, actor, request.params.site_id, "update");
    // Linked through a connection: the deploy key and webhook Slipway installed are removed at
    // the provider, and the response says what was (`link.removed`) and what could not be.
    const { site: after, removal } = await unlinkRepository(ctx, actor, site);
    const unlinked = await present(after);
    if (removal === undefined) return unlinked;
    request.log.info(
      { siteId: site.id, removed: removal.removed.map((r) => r.message) },
      "site unlinked; removed what Slipway had installed at the provider",
    );
    return { ...unlinked, link: removal };
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
