import type { FastifyReply, FastifyRequest } from "fastify";
import {
  csrfTokenFor,
  endSession,
  SESSION_COOKIE,
  SESSION_IDLE_MS,
  signInWithPassword,
  signInWithToken,
  type ClientInfo,
  type OpenedSession,
} from "../../accounts/sessions.ts";
import { countVisibleSites } from "../../accounts/users.ts";
import type { PlatformContext } from "../../context.ts";
import { badRequest, forbidden, invalidField } from "../../errors.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requestSession, requireActor } from "../../http/auth.ts";
import { isSameOrigin, setCookie } from "../../http/cookies.ts";
import { presentSession } from "./presenter.ts";
import { SignInBody } from "./schema.ts";

export function clientOf(request: FastifyRequest): ClientInfo {
  return { ip: request.ip, userAgent: request.headers["user-agent"] };
}

/** Sends a newly opened session: its cookie, and the session as `GET /session` shows it. */
export async function sendOpenedSession(
  ctx: PlatformContext,
  reply: FastifyReply,
  opened: OpenedSession,
): Promise<FastifyReply> {
  setCookie(reply, SESSION_COOKIE, opened.token, {
    maxAgeSeconds: SESSION_IDLE_MS / 1000,
    secure: ctx.config.publicUrl.startsWith("https:"),
  });
  const sites = await countVisibleSites(ctx, opened.actor);
  return reply
    .code(201)
    .header("cache-control", "no-store")
    .send(presentSession(opened.user, sites, opened.session, csrfTokenFor(opened.token)));
}

/**
 * Refuses sign-in requests that a page of another site could have made the browser send
 * (login CSRF): they must come from this origin as JSON, which a cross-site form cannot send.
 */
export function assertBrowserRequestFromHere(ctx: PlatformContext, request: FastifyRequest): void {
  if (!isSameOrigin(request, ctx.config.publicUrl)) {
    throw forbidden(
      "Refused: this request comes from another site (its Origin is not this platform's)",
    );
  }
  if (!(request.headers["content-type"] ?? "").toLowerCase().startsWith("application/json")) {
    throw badRequest("Send the request as JSON (Content-Type: application/json)");
  }
}

/**
 * The dashboard's sign-in: `POST /session` (e-mail and password, or an access token) sets an
 * HttpOnly session cookie; `GET /session` says who is signed in and gives the CSRF token;
 * `DELETE /session` signs out (the session ends in the database, not only in the browser).
 */
export function sessionRoutes(app: PlatformApp, ctx: PlatformContext): void {
  app.post(
    "/session",
    {
      schema: { body: SignInBody },
      preValidation: async (request) => assertBrowserRequestFromHere(ctx, request),
    },
    async (request, reply) => {
      const { email, password, token } = request.body;
      let opened: OpenedSession;
      if (token !== undefined) {
        if (email !== undefined || password !== undefined) {
          throw invalidField(
            "token",
            "send either an access token or an e-mail and password, not both",
          );
        }
        opened = await signInWithToken(ctx, token, clientOf(request));
      } else {
        if (email === undefined) throw invalidField("email", "is required (or send token)");
        if (password === undefined) throw invalidField("password", "is required");
        opened = await signInWithPassword(ctx, { email, password }, clientOf(request));
      }
      request.log.info(
        { userId: opened.user.id, sessionId: opened.session.id, method: opened.session.method },
        "signed in",
      );
      return sendOpenedSession(ctx, reply, opened);
    },
  );

  app.get("/session", async (request, reply) => {
    const actor = requireActor(request);
    const current = requestSession(request);
    reply.header("cache-control", "no-store");
    return presentSession(
      actor.user,
      await countVisibleSites(ctx, actor),
      current?.session,
      current ? csrfTokenFor(current.token) : null,
    );
  });

  app.delete("/session", async (request, reply) => {
    const current = requestSession(request);
    if (current) {
      await endSession(ctx, current.session.id);
      request.log.info({ sessionId: current.session.id }, "signed out");
    }
    setCookie(reply, SESSION_COOKIE, "", {
      maxAgeSeconds: 0,
      secure: ctx.config.publicUrl.startsWith("https:"),
    });
    return reply.code(204).send();
  });
}
