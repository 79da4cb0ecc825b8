import { OBJECT_ID } from "../../../lib/ids.ts";
import type { Actor } from "../../auth/tokens.ts";
import type { PlatformContext } from "../../context.ts";
import type { Deploy, DeployState, Site } from "../../db/schema.ts";
import { notFound } from "../../http/errors.ts";
import { authorize, type Ability } from "../../policies.ts";

/** Loading deploys for the API; another account's deploy is "Deploy not found". */

export async function findDeploy(
  ctx: PlatformContext,
  actor: Actor,
  id: string,
  ability: Ability = "read",
): Promise<{ deploy: Deploy; site: Site }> {
  const key = id.toLowerCase();
  if (!OBJECT_ID.test(key)) throw notFound("Deploy");
  const deploy = await ctx.db
    .selectFrom("deploys")
    .selectAll()
    .where("id", "=", key)
    .executeTakeFirst();
  if (!deploy) throw notFound("Deploy");
  const site = await ctx.db
    .selectFrom("sites")
    .selectAll()
    .where("id", "=", deploy.site_id)
    .executeTakeFirst();
  if (!site) throw notFound("Deploy");
  authorize(actor, ability, site, "Deploy");
  return { deploy, site };
}

export interface DeployListQuery {
  state?: DeployState;
  branch?: string;
  production?: boolean;
  latestPublished?: boolean;
  offset: number;
  limit: number;
}

export async function listSiteDeploys(
  ctx: PlatformContext,
  site: Site,
  query: DeployListQuery,
): Promise<{ deploys: Deploy[]; total: number }> {
  let base = ctx.db.selectFrom("deploys").where("site_id", "=", site.id);
  if (query.state !== undefined) base = base.where("state", "=", query.state);
  if (query.branch !== undefined) base = base.where("branch", "=", query.branch);
  if (query.production === true) base = base.where("context", "=", "production");
  if (query.production === false) base = base.where("context", "!=", "production");
  if (query.latestPublished === true) {
    base = base.where("id", "=", site.published_deploy_id ?? "");
  }
  const { n } = await base
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  const deploys = await base
    .selectAll()
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(query.limit)
    .offset(query.offset)
    .execute();
  return { deploys, total: Number(n) };
}
