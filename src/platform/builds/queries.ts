import type { Actor } from "../accounts/tokens.ts";
import type { PlatformContext } from "../context.ts";
import type { Build, Site } from "../db/schema.ts";
import { notFound } from "../errors.ts";
import { authorize, type Ability } from "../accounts/policies.ts";
import { OBJECT_ID } from "../../lib/ids.ts";

/**
 * Loading builds and their logs for the API. A build belongs to its site's account: another
 * account's build is "Build not found", exactly like one that does not exist.
 */

export async function findBuild(
  ctx: PlatformContext,
  actor: Actor,
  id: string,
  ability: Ability = "read",
): Promise<{ build: Build; site: Site }> {
  const key = id.toLowerCase();
  if (!OBJECT_ID.test(key)) throw notFound("Build");
  const build = await ctx.db
    .selectFrom("builds")
    .selectAll()
    .where("id", "=", key)
    .executeTakeFirst();
  if (!build) throw notFound("Build");
  const site = await ctx.db
    .selectFrom("sites")
    .selectAll()
    .where("id", "=", build.site_id)
    .executeTakeFirst();
  if (!site) throw notFound("Build");
  authorize(actor, ability, site, "Build");
  return { build, site };
}

export async function listSiteBuilds(
  ctx: PlatformContext,
  siteId: string,
  offset: number,
  limit: number,
): Promise<{ builds: Build[]; total: number }> {
  const base = ctx.db.selectFrom("builds").where("site_id", "=", siteId);
  const { n } = await base
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  const builds = await base
    .selectAll()
    .orderBy("number", "desc")
    .limit(limit)
    .offset(offset)
    .execute();
  return { builds, total: Number(n) };
}

export interface StoredLogLine {
  seq: number;
  time: string;
  section: string;
  message: string;
  error: number;
}

/** Lines of a build's log after `since` (a `seq`; -1 for the start), in order. */
export async function readLogLines(
  ctx: PlatformContext,
  buildId: string,
  since: number,
  limit: number,
): Promise<StoredLogLine[]> {
  return ctx.db
    .selectFrom("build_log_lines")
    .select(["seq", "time", "section", "message", "error"])
    .where("build_id", "=", buildId)
    .where("seq", ">", since)
    .orderBy("seq")
    .limit(limit)
    .execute();
}
