import type { FastifyRequest } from "fastify";
import type { ForgeContext } from "../context.ts";
import { assertApiScope, authenticateToken, type Actor } from "../users/tokens.ts";
import { unauthorized, withMessage } from "../errors.ts";
import type { ForgeApp } from "./app.ts";

declare module "fastify" {
  interface FastifyRequest {
    actor: Actor | null;
  }
}

/**
 * Reads `PRIVATE-TOKEN` or `Authorization: Bearer`. GitLab also takes `?private_token=`; the forge
 * refuses it, because a token in a URL ends up in proxies' logs, shell history and Referer
 * headers (python-gitlab and gitbeaker send the header).
 */
function presentedToken(request: FastifyRequest): string | undefined {
  const query = request.query as Record<string, unknown> | undefined;
  if (query?.private_token !== undefined) throw withMessage("unauthenticated", TOKEN_IN_URL);
  const header = request.headers["private-token"];
  if (typeof header === "string" && header !== "") return header;
  const authorization = request.headers.authorization;
  if (authorization?.toLowerCase().startsWith("bearer ")) return authorization.slice(7).trim();
  return undefined;
}

export const TOKEN_IN_URL =
  "401 Unauthorized - a token in the URL (private_token) is not accepted: send it in the PRIVATE-TOKEN header";

/** Resolves the caller of every `/api/v4` request; anonymous requests get `actor = null`. */
export function registerAuthentication(app: ForgeApp, ctx: ForgeContext): void {
  app.decorateRequest("actor", null);
  app.addHook("onRequest", async (request) => {
    const token = presentedToken(request);
    if (token === undefined) return;
    const actor = await authenticateToken(ctx, token);
    assertApiScope(actor, request.method);
    request.actor = actor;
  });
}

/** For endpoints that need a signed-in user (GitLab's `authenticate!`). */
export function requireActor(request: FastifyRequest): Actor {
  if (!request.actor) throw unauthorized();
  return request.actor;
}
