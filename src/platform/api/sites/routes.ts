import type { FastifyRequest } from "fastify";
import type { Kysely } from "kysely";
import { requestBuildInTransaction, type BuildRequestResult } from "../../builds/service.ts";
import type { PlatformDatabase, Site } from "../../db/schema.ts";
import type { PlatformContext } from "../../context.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { readPage, setPaginationHeaders } from "../../http/pagination.ts";
import { accountIdsByOwnership, defaultAccountId, visibleAccountIds } from "../../accounts/policies.ts";
import { findAccountForActor } from "../../accounts/accounts.ts";
import { removeLinkAtProvider } from "../../links/service.ts";
import {
  createSiteThroughConnection,
  updateSiteThroughConnection,
  type LinkResult,
} from "../../sites/link.ts";
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
} from "../../sites/sites.ts";

/**
 * Linking a repository (creating a linked site, or a PATCH that links one or changes its URL,
 * branch or deploy key) starts exactly one build, stored in the same transaction as the site;
 * the response carries its `build_id` and `deploy_id` (null when no build started, e.g. with
 * `stop_builds`). Other triggers coalesce with it (same branch, not started yet).
 */
async function firstBuild(
  ctx: PlatformContext,
  trx: Kysely<PlatformDatabase>,
  site: Site,
): Promise<BuildRequestResult | undefined> {
  if (site.repo_url === null || site.stop_builds === 1) return undefined;
  return requestBuildInTransaction(ctx, trx, {
    siteId: site.id,
    branch: site.repo_branch ?? "main",
    trigger: "link",
  });
}

const relinked = (before: Site, after: Site): boolean =>
  after.repo_url !== null &&
  (before.repo_url !== after.repo_url ||
    before.repo_branch !== after.repo_branch ||
    before.deploy_key_id !== after.deploy_key_id);

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
  // Linked through a provider connection: the site, its first build, and what linking did.
  const presentLinked = async (result: LinkResult) => ({
    ...(await present(result.site)),
    ...buildIds(result.started),
    link: result.link,
  });

  app.post(
    "/sites",
    { schema: { body: SiteSetupBody }, preValidation: emptyBodyIsEmptyObject },
    async (request, reply) => {
      const actor = requireActor(request);
      const accountId = defaultAccountId(actor);
      const linked = await createSiteThroughConnection(ctx, actor, accountId, request.body);
      if (linked) {
        request.log.info(
          { siteId: linked.site.id, buildId: linked.started?.build.id, link: linked.link.status },
          "site created and linked through a git connection",
        );
        return reply.code(201).send(await presentLinked(linked));
      }
      let started: BuildRequestResult | undefined;
      const site = await createSite(ctx, actor, accountId, request.body, {
        onCreated: async (trx, created) => {
          started = await firstBuild(ctx, trx, created);
        },
      });
      if (started) ctx.jobs.wake();
      request.log.info(
        { siteId: site.id, name: site.name, buildId: started?.build.id },
        "site created",
      );
      return reply.code(201).send({ ...(await present(site)), ...buildIds(started) });
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
      const linked = await createSiteThroughConnection(ctx, actor, account.id, request.body);
      if (linked) {
        request.log.info(
          { siteId: linked.site.id, buildId: linked.started?.build.id, link: linked.link.status },
          "site created and linked through a git connection",
        );
        return reply.code(201).send(await presentLinked(linked));
      }
      let started: BuildRequestResult | undefined;
      const site = await createSite(ctx, actor, account.id, request.body, {
        onCreated: async (trx, created) => {
          started = await firstBuild(ctx, trx, created);
        },
      });
      if (started) ctx.jobs.wake();
      request.log.info(
        { siteId: site.id, name: site.name, buildId: started?.build.id },
        "site created",
      );
      return reply.code(201).send({ ...(await present(site)), ...buildIds(started) });
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
      const linked = await updateSiteThroughConnection(ctx, actor, site, request.body);
      if (linked) {
        request.log.info(
          { siteId: site.id, buildId: linked.started?.build.id, link: linked.link.status },
          "site updated and linked through a git connection",
        );
        return presentLinked(linked);
      }
      let started: BuildRequestResult | undefined;
      const updated = await updateSite(ctx, actor, site, request.body, {
        onUpdated: async (trx, before, after) => {
          if (relinked(before, after)) started = await firstBuild(ctx, trx, after);
        },
      });
      if (started) ctx.jobs.wake();
      request.log.info({ siteId: site.id, buildId: started?.build.id }, "site updated");
      return { ...(await present(updated)), ...buildIds(started) };
    },
  );

  app.delete("/sites/:site_id", { schema: { params: SiteParams } }, async (request, reply) => {
    const actor = requireActor(request);
    const site = await findSite(ctx, actor, request.params.site_id, "delete");
    // The deploy key and webhook Slipway installed go first (a 204 has no body: the log says).
    const removal = await removeLinkAtProvider(ctx, site);
    await deleteSite(ctx, actor, site);
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
    const removal = await removeLinkAtProvider(ctx, site);
    const unlinked = await present(await unlinkSite(ctx, actor, site));
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
