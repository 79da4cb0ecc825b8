import type { FastifyRequest } from "fastify";
import type { ForgeContext } from "../context.ts";
import { assertApiScope, authenticateToken, type Actor } from "../users/tokens.ts";
import { unauthorized } from "../errors.ts";
import type { ForgeApp } from "./app.ts";

declare module "fastify" {
  interface FastifyRequest {
    actor: Actor | null;
  }
}

/** Reads `PRIVATE-TOKEN`, `Authorization: Bearer` or `?private_token=`, as GitLab does. */
function presentedToken(request: FastifyRequest): string | undefined {
  const header = request.headers["private-token"];
  if (typeof header === "string" && header !== "") return header;
  const authorization = request.headers.authorization;
  if (authorization?.toLowerCase().startsWith("bearer ")) return authorization.slice(7).trim();
  const query = request.query as Record<string, unknown> | undefined;
  if (typeof query?.private_token === "string") return query.private_token;
  return undefined;
}

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
