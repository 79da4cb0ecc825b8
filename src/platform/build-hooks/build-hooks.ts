import { OBJECT_ID, objectId } from "../../lib/ids.ts";
import { hasControlCharacters, withoutControlCharacters } from "../../lib/text.ts";
import type { Actor } from "../accounts/tokens.ts";
import { requestBuild, type BuildRequestResult } from "../builds/service.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { BuildHook, Site } from "../db/schema.ts";
import { invalidField, notFound, PlatformError } from "../errors.ts";
import { checkBranch } from "../sites/repo-settings.ts";
import { readRepoSettings } from "../sites/repo-settings.ts";
import { findSite } from "../sites/sites.ts";

/**
 * Netlify's incoming build hooks. A hook belongs to a site; its random 24-hex id is a
 * capability: whoever knows `POST /build_hooks/<id>` can start a build of the hook's branch
 * (and only that: the site, repository and build settings are the site's own).
 */

const MAX_TITLE = 255;

function checkTitle(field: string, value: string): string {
  if (hasControlCharacters(value)) {
    throw invalidField(field, "must not contain control characters");
  }
  const title = value.trim();
  if (title === "") throw invalidField(field, "must not be empty");
  return title;
}

function linkedOrRefuse(site: Site): NonNullable<ReturnType<typeof readRepoSettings>> {
  const repo = readRepoSettings(site);
  if (repo === null) {
    throw invalidField(
      "site_id",
      "the site is not linked to a repository, so a build hook would have nothing to build; link one first with PATCH /api/v1/sites/:site_id and a repo object",
    );
  }
  return repo;
}

export async function listBuildHooks(
  ctx: PlatformContext,
  actor: Actor,
  siteIdOrName: string,
): Promise<BuildHook[]> {
  const site = await findSite(ctx, actor, siteIdOrName);
  return ctx.db
    .selectFrom("build_hooks")
    .selectAll()
    .where("site_id", "=", site.id)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
}

/** Netlify's `buildHookSetup`; `branch` defaults to the site's production branch. */
export interface NewBuildHook {
  title: string;
  branch?: string;
}

/** A change to a build hook: what is given changes. */
export interface BuildHookChange {
  title?: string;
  branch?: string;
}

export async function createBuildHook(
  ctx: PlatformContext,
  actor: Actor,
  siteIdOrName: string,
  body: NewBuildHook,
): Promise<BuildHook> {
  const site = await findSite(ctx, actor, siteIdOrName, "update");
  const repo = linkedOrRefuse(site);
  const now = isoNow(ctx);
  const hook: BuildHook = {
    id: objectId(),
    site_id: site.id,
    title: checkTitle("title", body.title),
    branch: body.branch === undefined ? repo.branch : checkBranch("branch", body.branch),
    created_at: now,
    updated_at: now,
  };
  await ctx.db.insertInto("build_hooks").values(hook).execute();
  return hook;
}

export async function findBuildHook(
  ctx: PlatformContext,
  actor: Actor,
  siteIdOrName: string,
  hookId: string,
  ability: "read" | "update" | "delete" = "read",
): Promise<BuildHook> {
  const site = await findSite(ctx, actor, siteIdOrName, ability);
  const hook = await ctx.db
    .selectFrom("build_hooks")
    .selectAll()
    .where("site_id", "=", site.id)
    .where("id", "=", hookId.toLowerCase())
    .executeTakeFirst();
  if (!hook) throw notFound("Build hook");
  return hook;
}

export async function updateBuildHook(
  ctx: PlatformContext,
  actor: Actor,
  siteIdOrName: string,
  hookId: string,
  body: BuildHookChange,
): Promise<BuildHook> {
  const hook = await findBuildHook(ctx, actor, siteIdOrName, hookId, "update");
  const changes: Partial<Pick<BuildHook, "title" | "branch" | "updated_at">> = {};
  if (body.title !== undefined) changes.title = checkTitle("title", body.title);
  if (body.branch !== undefined) changes.branch = checkBranch("branch", body.branch);
  if (Object.keys(changes).length === 0) return hook;
  changes.updated_at = isoNow(ctx);
  return ctx.db
    .updateTable("build_hooks")
    .set(changes)
    .where("id", "=", hook.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteBuildHook(
  ctx: PlatformContext,
  actor: Actor,
  siteIdOrName: string,
  hookId: string,
): Promise<void> {
  const hook = await findBuildHook(ctx, actor, siteIdOrName, hookId, "update");
  await ctx.db.deleteFrom("build_hooks").where("id", "=", hook.id).execute();
}

export interface TriggerOptions {
  branch?: string;
  title?: string;
  clearCache?: boolean;
}

/**
 * Starts a build for a hook (no caller identity: the id is the capability). An unknown id is
 * a 404 like any other; a site whose builds are stopped refuses with 409.
 */
export async function triggerBuildHook(
  ctx: PlatformContext,
  hookId: string,
  options: TriggerOptions,
): Promise<{ hook: BuildHook; result: BuildRequestResult }> {
  const id = hookId.toLowerCase();
  const hook = OBJECT_ID.test(id)
    ? await ctx.db.selectFrom("build_hooks").selectAll().where("id", "=", id).executeTakeFirst()
    : undefined;
  if (!hook) throw notFound("Build hook");
  const site = await ctx.db
    .selectFrom("sites")
    .selectAll()
    .where("id", "=", hook.site_id)
    .executeTakeFirstOrThrow();
  const repo = linkedOrRefuse(site);
  if (repo.stopBuilds) {
    throw new PlatformError(
      "conflict",
      "Builds are stopped for this site (stop_builds); turn them on again with PATCH /api/v1/sites/:site_id and repo.stop_builds false",
    );
  }
  const branch =
    options.branch === undefined ? hook.branch : checkBranch("trigger_branch", options.branch);
  const given = options.title === undefined ? "" : sanitizeTitle(options.title);
  const title = given !== "" ? given : sanitizeTitle(`Deploy triggered by hook: ${hook.title}`);
  const result = await requestBuild(ctx, {
    siteId: site.id,
    branch,
    trigger: "build_hook",
    title,
    clearCache: options.clearCache === true,
    buildHookId: hook.id,
  });
  ctx.log.info(
    { siteId: site.id, buildHookId: hook.id, buildId: result.coalescedWith ?? result.build.id },
    "build hook called",
  );
  return { hook, result };
}

/** A title from a query string: one line, no control characters, capped. */
function sanitizeTitle(value: string): string {
  const line = withoutControlCharacters(value, { collapse: true }).trim();
  return line.length > MAX_TITLE ? `${line.slice(0, MAX_TITLE - 1)}…` : line;
}
