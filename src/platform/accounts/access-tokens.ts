import { recordAudit } from "../audit/record.ts";
import type { PlatformContext } from "../context.ts";
import type { TokenScope } from "../db/schema.ts";
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
  scope: TokenScope;
}

const COLUMNS = ["id", "name", "created_at", "expires_at", "last_used_at", "scope"] as const;

export async function listAccessTokens(
  ctx: PlatformContext,
  actor: Actor,
): Promise<AccessTokenRow[]> {
  return ctx.db
    .selectFrom("access_tokens")
    .select(COLUMNS)
    .where("user_id", "=", actor.user.id)
    .orderBy("created_at", "desc")
    .execute();
}

export async function createPersonalToken(
  ctx: PlatformContext,
  actor: Actor,
  input: {
    name: string;
    expiresInDays?: number | undefined;
    expiresAt?: string | undefined;
    scope?: TokenScope | undefined;
  },
): Promise<{ row: AccessTokenRow; token: string }> {
  const name = input.name.trim();
  if (name === "") throw invalidField("name", "must not be empty");
  const expiresAt = expiryOf(ctx, input);
  // A scoped token must not mint a broader one (the route's scope check refuses it anyway).
  const scope = input.scope ?? "all";
  if (actor.scope !== undefined && actor.scope !== "all" && scope !== actor.scope) {
    throw invalidField(
      "scope",
      `a ${actor.scope}-scoped token can create only ${actor.scope} tokens`,
    );
  }
  const created = await createAccessToken(ctx, {
    userId: actor.user.id,
    name,
    scope,
    expiresAt,
  });
  const row = await ctx.db
    .selectFrom("access_tokens")
    .select(COLUMNS)
    .where("id", "=", created.id)
    .executeTakeFirstOrThrow();
  return { row, token: created.token };
}

const DAY_MS = 86_400_000;
const MAX_EXPIRY_DAYS = 3650;

/** `expires_at` (an instant in the future) or `expires_in_days`, not both; neither: no expiry. */
function expiryOf(
  ctx: PlatformContext,
  input: { expiresInDays?: number | undefined; expiresAt?: string | undefined },
): string | null {
  const now = ctx.now().getTime();
  if (input.expiresAt !== undefined) {
    if (input.expiresInDays !== undefined) {
      throw invalidField("expires_at", "give expires_at or expires_in_days, not both");
    }
    const at = Date.parse(input.expiresAt);
    if (Number.isNaN(at)) throw invalidField("expires_at", "must be a date and time (ISO 8601)");
    if (at <= now) throw invalidField("expires_at", "must be in the future");
    if (at > now + MAX_EXPIRY_DAYS * DAY_MS) {
      throw invalidField("expires_at", `must be within ${MAX_EXPIRY_DAYS} days`);
    }
    return new Date(at).toISOString();
  }
  if (input.expiresInDays !== undefined) {
    return new Date(now + input.expiresInDays * DAY_MS).toISOString();
  }
  return null;
}

/** Revokes one of the actor's tokens (browser sessions opened with it end too). */
export async function revokeAccessToken(
  ctx: PlatformContext,
  actor: Actor,
  id: string,
): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const token = await trx
      .deleteFrom("access_tokens")
      .where("id", "=", id)
      .where("user_id", "=", actor.user.id)
      .returning(["id", "name"])
      .executeTakeFirst();
    if (!token) throw notFound("Access token");
    await recordAudit(trx, {
      action: "token.revoke",
      accountId: null,
      target: { type: "access_token", id: token.id, name: token.name },
    });
  });
}
