import type { PlatformContext } from "../context.ts";
import { invalidField, notFound } from "../errors.ts";
import { createAccessToken, type Actor } from "./tokens.ts";

/**
 * A user's personal access tokens, as Netlify's "Personal access tokens" page lists them: for
 * `netlify-cli`, `slipway deploy` and scripts. Each user sees and revokes only their own; a
 * token is shown once, when it is created.
 */

export interface AccessTokenRow {
  id: string;
  name: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

export async function listAccessTokens(
  ctx: PlatformContext,
  actor: Actor,
): Promise<AccessTokenRow[]> {
  return ctx.db
    .selectFrom("access_tokens")
    .select(["id", "name", "created_at", "expires_at", "last_used_at"])
    .where("user_id", "=", actor.user.id)
    .orderBy("created_at", "desc")
    .execute();
}

export async function createPersonalToken(
  ctx: PlatformContext,
  actor: Actor,
  input: { name: string; expiresInDays?: number | undefined },
): Promise<{ row: AccessTokenRow; token: string }> {
  const name = input.name.trim();
  if (name === "") throw invalidField("name", "must not be empty");
  const created = await createAccessToken(ctx, { userId: actor.user.id, name });
  let expiresAt: string | null = null;
  if (input.expiresInDays !== undefined) {
    expiresAt = new Date(ctx.now().getTime() + input.expiresInDays * 86_400_000).toISOString();
    await ctx.db
      .updateTable("access_tokens")
      .set({ expires_at: expiresAt })
      .where("id", "=", created.id)
      .execute();
  }
  const row = await ctx.db
    .selectFrom("access_tokens")
    .select(["id", "name", "created_at", "expires_at", "last_used_at"])
    .where("id", "=", created.id)
    .executeTakeFirstOrThrow();
  return { row: { ...row, expires_at: expiresAt }, token: created.token };
}

/** Revokes one of the actor's tokens (browser sessions opened with it end too). */
export async function revokeAccessToken(
  ctx: PlatformContext,
  actor: Actor,
  id: string,
): Promise<void> {
  const result = await ctx.db
    .deleteFrom("access_tokens")
    .where("id", "=", id)
    .where("user_id", "=", actor.user.id)
    .executeTakeFirst();
  if (Number(result.numDeletedRows) !== 1) throw notFound("Access token");
}
