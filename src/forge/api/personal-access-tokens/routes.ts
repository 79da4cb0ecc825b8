import type { ForgeContext } from "../../context.ts";
import type { ForgeApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { notFound } from "../../errors.ts";

/**
 * `GET /personal_access_tokens/self` (GitLab 15.5+): the token the request was made with, so
 * that clients can check its scopes. The token itself is never returned.
 */
export function personalAccessTokenRoutes(app: ForgeApp, ctx: ForgeContext): void {
  app.get("/personal_access_tokens/self", async (request) => {
    const actor = requireActor(request);
    const row = await ctx.db
      .selectFrom("personal_access_tokens")
      .selectAll()
      .where("id", "=", actor.tokenId)
      .executeTakeFirst();
    if (!row) throw notFound();
    return {
      id: row.id,
      name: row.name,
      revoked: row.revoked === 1,
      created_at: row.created_at,
      description: null,
      scopes: JSON.parse(row.scopes) as string[],
      user_id: row.user_id,
      last_used_at: row.last_used_at,
      active: row.revoked !== 1,
      expires_at: row.expires_at,
    };
  });
}
