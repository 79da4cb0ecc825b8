import type { FastifyRequest } from "fastify";
import { authenticateToken, type Actor } from "../accounts/tokens.ts";
import type { PlatformContext } from "../context.ts";
import type { PlatformApp } from "./app.ts";
import { unauthorized } from "../errors.ts";

/** The caller of each request (kept beside the request, not on Fastify's shared request type). */
const actors = new WeakMap<FastifyRequest, Actor>();

/**
 * Resolves the caller of every `/api/v1` request from `Authorization: Bearer <token>` (Netlify's
 * only way; tokens in query strings would end up in logs and browser history).
 */
export function registerAuthentication(app: PlatformApp, ctx: PlatformContext): void {
  app.addHook("onRequest", async (request) => {
    const authorization = request.headers.authorization;
    if (authorization === undefined) return;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) {
      throw unauthorized("Access denied: send the header Authorization: Bearer <access token>");
    }
    actors.set(request, await authenticateToken(ctx, match[1]));
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
