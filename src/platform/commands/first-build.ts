import type { Kysely } from "kysely";
import {
  requestBuild,
  requestBuildInTransaction,
  type BuildRequestResult,
} from "../builds/service.ts";
import type { PlatformContext } from "../context.ts";
import type { PlatformDatabase, Site } from "../db/schema.ts";

/**
 * Linking a repository starts exactly one build (none with `stop_builds`). Given `trx`, the
 * build is stored in the caller's transaction (with the site itself); the caller wakes the
 * workers after committing. Other triggers coalesce with it (same branch, not started yet).
 */
export async function firstBuild(
  ctx: PlatformContext,
  site: Site,
  trx?: Kysely<PlatformDatabase>,
): Promise<BuildRequestResult | undefined> {
  if (site.repo_url === null || site.stop_builds === 1) return undefined;
  const request = { siteId: site.id, branch: site.repo_branch ?? "main", trigger: "link" as const };
  return trx ? requestBuildInTransaction(ctx, trx, request) : requestBuild(ctx, request);
}
