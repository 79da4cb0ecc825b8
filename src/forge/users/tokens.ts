import { digestToken, generateToken } from "../../lib/tokens.ts";
import type { ForgeContext } from "../context.ts";
import { isoNow } from "../context.ts";
import type { User } from "../db/schema.ts";
import { insufficientScope, invalidToken, unauthorized } from "../errors.ts";

export const SCOPES = [
  "api",
  "read_api",
  "read_user",
  "read_repository",
  "write_repository",
] as const;
export type Scope = (typeof SCOPES)[number];

/** The authenticated caller of an API request or a git-over-HTTP request. */
export interface Actor {
  user: User;
  scopes: readonly Scope[];
  tokenId: number;
}

export interface CreatedToken {
  id: number;
  token: string;
}

export async function createPersonalAccessToken(
  ctx: ForgeContext,
  input: { userId: number; name: string; scopes: readonly Scope[]; expiresAt: string | null },
  plaintext: string = generateToken("glpat-"),
): Promise<CreatedToken> {
  const row = await ctx.db
    .insertInto("personal_access_tokens")
    .values({
      user_id: input.userId,
      name: input.name,
      token_digest: digestToken(plaintext),
      scopes: JSON.stringify(input.scopes),
      expires_at: input.expiresAt,
      revoked: 0,
      created_at: isoNow(ctx),
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return { id: row.id, token: plaintext };
}

/** Resolves a presented token; unknown → 401, expired or revoked → GitLab's invalid_token. */
export async function authenticateToken(ctx: ForgeContext, token: string): Promise<Actor> {
  const row = await ctx.db
    .selectFrom("personal_access_tokens as t")
    .innerJoin("users as u", "u.id", "t.user_id")
    .selectAll("u")
    .select(["t.id as token_id", "t.scopes", "t.expires_at", "t.revoked"])
    .where("t.token_digest", "=", digestToken(token))
    .executeTakeFirst();
  if (!row || row.state !== "active") throw unauthorized();
  if (row.revoked === 1)
    throw invalidToken("Token was revoked. You have to re-authorize from the user.");
  if (row.expires_at !== null && row.expires_at <= isoNow(ctx).slice(0, 10)) {
    throw invalidToken("Token is expired. You can either do re-authorization or token refresh.");
  }
  const { token_id, scopes, expires_at: _e, revoked: _r, ...user } = row;
  return { user, scopes: JSON.parse(scopes) as Scope[], tokenId: token_id };
}

/** API access: `api` for everything, `read_api` for reads only. */
export function assertApiScope(actor: Actor, method: string): void {
  if (actor.scopes.includes("api")) return;
  const isRead = method === "GET" || method === "HEAD";
  if (isRead && actor.scopes.includes("read_api")) return;
  throw insufficientScope(isRead ? ["api", "read_api"] : ["api"]);
}

/** Git over HTTP: `read_repository` to fetch, `write_repository` to push (`api` covers both). */
export function hasGitScope(actor: Actor, write: boolean): boolean {
  if (actor.scopes.includes("api")) return true;
  if (write) return actor.scopes.includes("write_repository");
  return actor.scopes.includes("read_repository") || actor.scopes.includes("write_repository");
}
