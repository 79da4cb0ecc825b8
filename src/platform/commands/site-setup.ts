import type { Actor } from "../accounts/tokens.ts";
import type { BuildRequestResult } from "../builds/service.ts";
import type { PlatformContext } from "../context.ts";
import type { Site } from "../db/schema.ts";
import { removeLinkAtProvider, type RemovalReport } from "../links/service.ts";
import { createSite, deleteSite, unlinkSite, updateSite, type SiteSetup } from "../sites/sites.ts";
import {
  createSiteThroughConnection,
  updateSiteThroughConnection,
  type LinkResult,
} from "./connection-link.ts";
import { firstBuild } from "./first-build.ts";

/**
 * Setting a site up: `POST /sites` and `PATCH /sites/:id`, through a provider connection
 * (`connection-link.ts`: Slipway installs the deploy key and webhook) or with a plain git URL.
 * Either way, linking a repository starts exactly one build, and the answer carries its
 * `build_id` and `deploy_id`.
 */

/** The site, the build its linking started (if any) and, through a connection, what linking did. */
export interface SiteSetupResult {
  site: Site;
  started: BuildRequestResult | undefined;
  link?: LinkResult["link"];
}

const relinked = (before: Site, after: Site): boolean =>
  after.repo_url !== null &&
  (before.repo_url !== after.repo_url ||
    before.repo_branch !== after.repo_branch ||
    before.deploy_key_id !== after.deploy_key_id);

/** Creates a site in an account; with a repository, its first build is stored with it. */
export async function setUpSite(
  ctx: PlatformContext,
  actor: Actor,
  accountId: string,
  body: SiteSetup,
): Promise<SiteSetupResult> {
  const linked = await createSiteThroughConnection(ctx, actor, accountId, body);
  if (linked) return linked;
  let started: BuildRequestResult | undefined;
  const site = await createSite(ctx, actor, accountId, body, {
    onCreated: async (trx, created) => {
      started = await firstBuild(ctx, created, trx);
    },
  });
  if (started) ctx.jobs.wake();
  return { site, started };
}

/** Changes a site; a change of repository, branch or deploy key builds again. */
export async function changeSite(
  ctx: PlatformContext,
  actor: Actor,
  site: Site,
  body: SiteSetup,
): Promise<SiteSetupResult> {
  const linked = await updateSiteThroughConnection(ctx, actor, site, body);
  if (linked) return linked;
  let started: BuildRequestResult | undefined;
  const updated = await updateSite(ctx, actor, site, body, {
    onUpdated: async (trx, before, after) => {
      if (relinked(before, after)) started = await firstBuild(ctx, after, trx);
    },
  });
  if (started) ctx.jobs.wake();
  return { site: updated, started };
}

/**
 * Deletes a site; the deploy key and webhook Slipway installed at the provider go first. The
 * report says what was removed there and what could not be (undefined: nothing installed).
 */
export async function removeSite(
  ctx: PlatformContext,
  actor: Actor,
  site: Site,
): Promise<RemovalReport | undefined> {
  const removal = await removeLinkAtProvider(ctx, site);
  await deleteSite(ctx, actor, site);
  return removal;
}

/** Unlinks a site's repository, removing what Slipway installed at the provider first. */
export async function unlinkRepository(
  ctx: PlatformContext,
  actor: Actor,
  site: Site,
): Promise<{ site: Site; removal: RemovalReport | undefined }> {
  const removal = await removeLinkAtProvider(ctx, site);
  return { site: await unlinkSite(ctx, actor, site), removal };
}
