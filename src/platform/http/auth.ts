import type { FastifyRequest } from "fastify";
import { authenticateToken, type Actor } from "../accounts/tokens.ts";
import { assertScopeAllows } from "../accounts/token-scopes.ts";
import { authenticateSession, csrfTokenMatches, SESSION_COOKIE } from "../accounts/sessions.ts";
import type { PlatformContext } from "../context.ts";
import type { Session } from "../db/schema.ts";
import type { PlatformApp } from "./app.ts";
import { noteAuditActor } from "./audit.ts";
import { isSameOrigin, readCookie } from "./cookies.ts";
import { forbidden, unauthorized } from "../errors.ts";

/** The caller of each request (kept beside the request, not on Fastify's shared request type). */
const actors = new WeakMap<FastifyRequest, Actor>();
/** The dashboard session of requests authenticated by cookie, and its cookie's value. */
const sessions = new WeakMap<FastifyRequest, { session: Session; token: string }>();

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Resolves the caller of every `/api/v1` request from `Authorization: Bearer <token>` (Netlify's
 * only way; tokens in query strings would end up in logs and browser history), or else from the
 * dashboard's session cookie. A state-changing request made with the cookie must come from the
 * platform's own origin and carry the session's CSRF token in `X-CSRF-Token`.
 */
export function registerAuthentication(app: PlatformApp, ctx: PlatformContext): void {
  app.addHook("onRequest", async (request) => {
    const authorization = request.headers.authorization;
    if (authorization === undefined) {
      const cookie = readCookie(request, SESSION_COOKIE);
      if (cookie === undefined) return;
      const found = await authenticateSession(ctx, cookie);
      if (!found) return;
      if (!SAFE_METHODS.has(request.method)) {
        if (!isSameOrigin(request, ctx.config.publicUrl)) {
          throw forbidden(
            "Refused: this request comes from another site (its Origin is not this platform's)",
          );
        }
        const presented = request.headers["x-csrf-token"];
        if (!csrfTokenMatches(cookie, typeof presented === "string" ? presented : undefined)) {
          throw forbidden(
            "Refused: a request signed in by cookie must carry the session's CSRF token in the X-CSRF-Token header (reload the page)",
          );
        }
      }
      actors.set(request, found.actor);
      sessions.set(request, { session: found.session, token: cookie });
      noteAuditActor(found.actor, "session");
      return;
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) {
      throw unauthorized("Access denied: send the header Authorization: Bearer <access token>");
    }
    const actor = await authenticateToken(ctx, match[1]);
    if (actor.scope) assertScopeAllows(actor.scope, request.method, request.routeOptions.url);
    actors.set(request, actor);
    noteAuditActor(actor, "token");
  });
}

/** Every API endpoint needs a signed-in caller. */
export function requireActor(request: FastifyRequest): Actor {
  const actor = actors.get(request);
  if (!actor) {
    throw unauthorized(
      "Access denied: this endpoint needs the header Authorization: Bearer <access token>",
    );
  }
  return actor;
}

/** The dashboard session of a cookie-authenticated request (undefined for bearer tokens). */
export function requestSession(
  request: FastifyRequest,
): { session: Session; token: string } | undefined {
  return sessions.get(request);
}

/** The caller, when there is one (for endpoints that answer signed-out callers too). */
export function optionalActor(request: FastifyRequest): Actor | undefined {
  return actors.get(request);
}
