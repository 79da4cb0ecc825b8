import { createHash } from "node:crypto";
import { objectId } from "../../lib/ids.ts";
import { digestToken, generateToken, safeEqual } from "../../lib/tokens.ts";
import { recordAudit } from "../audit/record.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { Session, SessionMethod, User } from "../db/schema.ts";
import { forbidden, unauthorized } from "../errors.ts";
import { storedPasswordHash, verifyPassword } from "./passwords.ts";
import {
  accountKey,
  assertNotThrottled,
  clearFailures,
  ipKey,
  recordFailure,
  SIGN_IN_THROTTLE,
} from "./throttle.ts";
import { authenticateToken, membershipsOf, type Actor } from "./tokens.ts";

/**
 * Browser sessions of the dashboard. The browser holds a random token in an HttpOnly cookie;
 * the database holds its SHA-256 digest and an expiry. State-changing requests made with the
 * cookie must also carry the session's CSRF token (`X-CSRF-Token`), which is derived from the
 * cookie: a page of another origin can make the browser send the cookie, never read it, so it
 * cannot know the token.
 */

export const SESSION_COOKIE = "slipway_session";
const SESSION_PREFIX = "sls_";
/** A session lasts this long after its last use... */
export const SESSION_IDLE_MS = 7 * 24 * 3600_000;
/** ...and never longer than this after it was opened. */
export const SESSION_MAX_MS = 30 * 24 * 3600_000;
/** `last_seen_at` and the idle expiry move at most this often. */
const TOUCH_INTERVAL_MS = 60_000;

export interface OpenedSession {
  session: Session;
  /** The cookie's value (shown to the browser once, never stored). */
  token: string;
  user: User;
  actor: Actor;
}

export interface ClientInfo {
  ip: string | undefined;
  userAgent: string | undefined;
}

/** The CSRF token of the session whose cookie is `sessionToken`. */
export function csrfTokenFor(sessionToken: string): string {
  return createHash("sha256").update(`slipway-csrf\u0000${sessionToken}`).digest("base64url");
}

export function csrfTokenMatches(sessionToken: string, presented: string | undefined): boolean {
  return presented !== undefined && safeEqual(csrfTokenFor(sessionToken), presented);
}

async function openSession(
  ctx: PlatformContext,
  user: User,
  method: SessionMethod,
  client: ClientInfo,
  accessTokenId: string | null = null,
): Promise<OpenedSession> {
  const token = generateToken(SESSION_PREFIX, 32);
  const now = ctx.now();
  const session: Session = {
    id: objectId(),
    user_id: user.id,
    token_digest: digestToken(token),
    access_token_id: accessTokenId,
    method,
    ip: client.ip?.slice(0, 64) ?? null,
    user_agent: client.userAgent?.slice(0, 512) ?? null,
    created_at: now.toISOString(),
    last_seen_at: now.toISOString(),
    expires_at: new Date(now.getTime() + SESSION_IDLE_MS).toISOString(),
  };
  await ctx.db.transaction().execute(async (trx) => {
    await trx.insertInto("sessions").values(session).execute();
    await trx
      .updateTable("users")
      .set({ last_login: session.created_at })
      .where("id", "=", user.id)
      .execute();
    await recordAudit(trx, {
      action: "session.sign_in",
      accountId: null,
      target: { type: "user", id: user.id, name: user.email },
      fields: [method],
      actor: {
        id: user.id,
        name: user.full_name,
        email: user.email,
        via: accessTokenId === null ? "session" : "token",
        tokenId: accessTokenId,
      },
    });
  });
  const actor = await loadActor(ctx, user.id, accessTokenId ?? `session:${session.id}`);
  if (!actor) throw unauthorized("The account was removed while signing in");
  return { session, token, user, actor };
}

/** A session for a user who just proved who they are some other way (an invite link). */
export function openSessionFor(
  ctx: PlatformContext,
  user: User,
  method: SessionMethod,
  client: ClientInfo,
): Promise<OpenedSession> {
  return openSession(ctx, user, method, client);
}

const WRONG_PASSWORD = "The e-mail address or the password is wrong";

/**
 * Signs in with an e-mail address and password. Throttled per client address and per account;
 * an unknown address takes as long as a wrong password and gets the same answer.
 */
export async function signInWithPassword(
  ctx: PlatformContext,
  input: { email: string; password: string },
  client: ClientInfo,
): Promise<OpenedSession> {
  const email = input.email.trim().toLowerCase();
  const keys = [accountKey(email), ...(client.ip ? [ipKey(client.ip)] : [])];
  await assertNotThrottled(ctx, keys);
  const user = await ctx.db
    .selectFrom("users")
    .selectAll()
    .where("email", "=", email)
    .executeTakeFirst();
  const stored = user ? await storedPasswordHash(ctx, user.id) : undefined;
  const ok = await verifyPassword(input.password, stored);
  if (!ok || !user) {
    await recordAudit(ctx.db, {
      action: "session.sign_in",
      accountId: null,
      userId: user?.id ?? null,
      target: user ? { type: "user", id: user.id, name: email } : { type: "email", id: email },
      fields: ["password"],
      result: "failure",
      reason: user && stored === undefined ? "the account has no password" : WRONG_PASSWORD,
    });
    await recordFailure(ctx, [
      { key: accountKey(email), limit: SIGN_IN_THROTTLE.accountFailures },
      ...(client.ip ? [{ key: ipKey(client.ip), limit: SIGN_IN_THROTTLE.ipFailures }] : []),
    ]);
    if (user && stored === undefined) {
      throw unauthorized(
        "This account has no password yet: sign in with an access token, or ask an administrator for an invite link",
      );
    }
    throw unauthorized(WRONG_PASSWORD);
  }
  await clearFailures(ctx, accountKey(email));
  return openSession(ctx, user, "password", client);
}

/**
 * Signs in by pasting an access token (as `netlify-cli` uses). The session ends when the token
 * is revoked. Failures count against the client address.
 */
export async function signInWithToken(
  ctx: PlatformContext,
  token: string,
  client: ClientInfo,
): Promise<OpenedSession> {
  const keys = client.ip ? [ipKey(client.ip)] : [];
  if (keys.length > 0) await assertNotThrottled(ctx, keys);
  let actor: Actor;
  try {
    actor = await authenticateToken(ctx, token.trim());
  } catch (error) {
    await recordAudit(ctx.db, {
      action: "session.sign_in",
      accountId: null,
      fields: ["token"],
      result: "failure",
      reason: error instanceof Error ? error.message : String(error),
    });
    if (client.ip) {
      await recordFailure(ctx, [{ key: ipKey(client.ip), limit: SIGN_IN_THROTTLE.ipFailures }]);
    }
    throw error;
  }
  // A session can do everything: only a token that may do everything opens one.
  if (actor.scope !== undefined && actor.scope !== "all") {
    throw forbidden(
      `Forbidden: this access token has the ${actor.scope} scope; signing in to the dashboard needs a token with the all scope`,
    );
  }
  return openSession(ctx, actor.user, "token", client, actor.tokenId);
}

/** The user and memberships of a session cookie, or undefined when it is unknown or expired. */
export async function authenticateSession(
  ctx: PlatformContext,
  token: string,
): Promise<{ actor: Actor; session: Session } | undefined> {
  if (!token.startsWith(SESSION_PREFIX)) return undefined;
  const session = await ctx.db
    .selectFrom("sessions")
    .selectAll()
    .where("token_digest", "=", digestToken(token))
    .executeTakeFirst();
  if (!session) return undefined;
  const now = ctx.now();
  let expired = session.expires_at <= now.toISOString();
  if (!expired && session.access_token_id !== null) {
    // Opened with an access token: it ends when the token does (revoked: cascade; expired: here).
    const token = await ctx.db
      .selectFrom("access_tokens")
      .select("expires_at")
      .where("id", "=", session.access_token_id)
      .executeTakeFirst();
    expired = !token || (token.expires_at !== null && token.expires_at <= now.toISOString());
  }
  if (expired) {
    await ctx.db.deleteFrom("sessions").where("id", "=", session.id).execute();
    return undefined;
  }
  if (now.getTime() - Date.parse(session.last_seen_at) > TOUCH_INTERVAL_MS) {
    const expires = Math.min(
      now.getTime() + SESSION_IDLE_MS,
      Date.parse(session.created_at) + SESSION_MAX_MS,
    );
    session.last_seen_at = now.toISOString();
    session.expires_at = new Date(expires).toISOString();
    await ctx.db
      .updateTable("sessions")
      .set({ last_seen_at: session.last_seen_at, expires_at: session.expires_at })
      .where("id", "=", session.id)
      .execute();
  }
  const actor = await loadActor(
    ctx,
    session.user_id,
    session.access_token_id ?? `session:${session.id}`,
  );
  return actor ? { actor, session } : undefined;
}

/** Ends a session (signing out). */
export async function endSession(ctx: PlatformContext, sessionId: string): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom("sessions").where("id", "=", sessionId).execute();
    await recordAudit(trx, { action: "session.sign_out", accountId: null });
  });
}

/** Removes sessions past their expiry (run now and then; expired ones are refused anyway). */
export async function sweepExpiredSessions(ctx: PlatformContext): Promise<number> {
  const result = await ctx.db
    .deleteFrom("sessions")
    .where("expires_at", "<=", isoNow(ctx))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

async function loadActor(
  ctx: PlatformContext,
  userId: string,
  tokenId: string,
): Promise<Actor | undefined> {
  const user = await ctx.db
    .selectFrom("users")
    .selectAll()
    .where("id", "=", userId)
    .executeTakeFirst();
  if (!user) return undefined;
  return { user, tokenId, memberships: await membershipsOf(ctx, user.id) };
}
