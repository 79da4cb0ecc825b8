import { objectId } from "../../lib/ids.ts";
import { digestToken, generateToken } from "../../lib/tokens.ts";
import { recordAudit } from "../audit/record.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { AccountRole, TokenScope, User } from "../db/schema.ts";
import { unauthorized } from "../errors.ts";

/** Personal access tokens carry this prefix, so that secret scanners can recognise them. */
export const TOKEN_PREFIX = "slp_";

/** An account the caller belongs to, and as what. */
export interface Membership {
  accountId: string;
  role: AccountRole;
  isDefault: boolean;
}

/** The authenticated caller of an API request. */
export interface Actor {
  user: User;
  tokenId: string;
  memberships: readonly Membership[];
  /** The bearer token's scope (`accounts/token-scopes.ts`); undefined for dashboard sessions. */
  scope?: TokenScope;
}

/** `last_used_at` is written at most this often per token, not on every request. */
const TOUCH_INTERVAL_MS = 60_000;

export async function createAccessToken(
  ctx: PlatformContext,
  input: { userId: string; name: string; scope?: TokenScope; expiresAt?: string | null },
  plaintext: string = generateToken(TOKEN_PREFIX, 32),
): Promise<{ id: string; token: string }> {
  const id = objectId();
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .insertInto("access_tokens")
      .values({
        id,
        user_id: input.userId,
        name: input.name,
        token_digest: digestToken(plaintext),
        created_at: isoNow(ctx),
        expires_at: input.expiresAt ?? null,
        last_used_at: null,
        scope: input.scope ?? "all",
      })
      .execute();
    await recordAudit(trx, {
      action: "token.create",
      accountId: null,
      userId: input.userId,
      target: { type: "access_token", id, name: input.name },
      fields: ["name", "scope", ...(input.expiresAt ? ["expires_at"] : [])],
    });
  });
  return { id, token: plaintext };
}

/** Resolves a presented bearer token to its user and memberships; anything else is a 401. */
export async function authenticateToken(ctx: PlatformContext, token: string): Promise<Actor> {
  const row = await ctx.db
    .selectFrom("access_tokens as t")
    .innerJoin("users as u", "u.id", "t.user_id")
    .selectAll("u")
    .select(["t.id as token_id", "t.expires_at", "t.last_used_at", "t.scope as token_scope"])
    .where("t.token_digest", "=", digestToken(token))
    .executeTakeFirst();
  const now = ctx.now();
  if (!row) throw unauthorized("Access denied: the access token is not valid");
  if (row.expires_at !== null && row.expires_at <= now.toISOString()) {
    throw unauthorized("Access denied: the access token has expired; create a new one");
  }
  const { token_id, expires_at: _expires, last_used_at, token_scope, ...user } = row;
  if (last_used_at === null || now.getTime() - Date.parse(last_used_at) > TOUCH_INTERVAL_MS) {
    const stamp = now.toISOString();
    await ctx.db
      .updateTable("access_tokens")
      .set({ last_used_at: stamp })
      .where("id", "=", token_id)
      .execute();
    await ctx.db
      .updateTable("users")
      .set({ last_login: stamp })
      .where("id", "=", user.id)
      .execute();
    user.last_login = stamp;
  }
  return {
    user,
    tokenId: token_id,
    memberships: await membershipsOf(ctx, user.id),
    scope: token_scope,
  };
}

/** The accounts a user belongs to, the default one first. */
export async function membershipsOf(ctx: PlatformContext, userId: string): Promise<Membership[]> {
  const rows = await ctx.db
    .selectFrom("account_memberships")
    .select(["account_id", "role", "is_default"])
    .where("user_id", "=", userId)
    .orderBy("is_default", "desc")
    .orderBy("created_at")
    .execute();
  return rows.map((m) => ({
    accountId: m.account_id,
    role: m.role,
    isDefault: m.is_default === 1,
  }));
}
