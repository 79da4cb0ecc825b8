import { assertPlatformAdmin } from "../../accounts/policies.ts";
import { acceptInvite, createInvite, findInvite } from "../../accounts/invites.ts";
import {
  listUsersWithPasswords,
  setPassword,
  storedPasswordHash,
  verifyPassword,
} from "../../accounts/passwords.ts";
import type { PlatformContext } from "../../context.ts";
import { invalidField, notFound } from "../../errors.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requestSession, requireActor } from "../../http/auth.ts";
import { assertBrowserRequestFromHere, clientOf, sendOpenedSession } from "../session/routes.ts";
import { presentAdminUser, presentInvite, presentOpenInvite } from "./presenter.ts";
import {
  AcceptInviteBody,
  ChangePasswordBody,
  InviteParams,
  SetPasswordBody,
  UserParams,
} from "./schema.ts";

/**
 * Dashboard passwords: a user changes their own (`PUT /user/password`); an administrator lists
 * users, sets a password (`PUT /admin/users/:id/password`) or makes a one-time invite link
 * (`POST /admin/users/:id/invite`) with which the user chooses one (`GET`/`POST /invites/:token`).
 */
export function passwordRoutes(app: PlatformApp, ctx: PlatformContext): void {
  app.put("/user/password", { schema: { body: ChangePasswordBody } }, async (request, reply) => {
    const actor = requireActor(request);
    const stored = await storedPasswordHash(ctx, actor.user.id);
    if (stored !== undefined) {
      const current = request.body.current_password;
      if (current === undefined || current === "") {
        throw invalidField("current_password", "is required to change your password");
      }
      if (!(await verifyPassword(current, stored))) {
        throw invalidField("current_password", "is not your current password");
      }
    }
    await setPassword(ctx, actor.user.id, request.body.password, {
      keepSessionId: requestSession(request)?.session.id,
    });
    request.log.info({ userId: actor.user.id }, "password changed");
    return reply.code(204).send();
  });

  app.get("/admin/users", async (request) => {
    assertPlatformAdmin(requireActor(request));
    return (await listUsersWithPasswords(ctx)).map(({ user, hasPassword }) =>
      presentAdminUser(user, hasPassword),
    );
  });

  app.put(
    "/admin/users/:user_id/password",
    { schema: { params: UserParams, body: SetPasswordBody } },
    async (request, reply) => {
      const actor = requireActor(request);
      assertPlatformAdmin(actor);
      await setPassword(ctx, request.params.user_id, request.body.password, {
        keepSessionId:
          request.params.user_id === actor.user.id
            ? requestSession(request)?.session.id
            : undefined,
      });
      request.log.info({ userId: request.params.user_id }, "password set by an administrator");
      return reply.code(204).send();
    },
  );

  app.post(
    "/admin/users/:user_id/invite",
    { schema: { params: UserParams } },
    async (request, reply) => {
      const actor = requireActor(request);
      assertPlatformAdmin(actor);
      const user = await ctx.db
        .selectFrom("users")
        .selectAll()
        .where("id", "=", request.params.user_id)
        .executeTakeFirst();
      if (!user) throw notFound("User");
      const created = await createInvite(ctx, user.id, actor.user.id);
      request.log.info({ userId: user.id, inviteId: created.invite.id }, "invite created");
      return reply.code(201).send(presentInvite(created.invite, created.url, user));
    },
  );

  app.get("/invites/:token", { schema: { params: InviteParams } }, async (request, reply) => {
    const { invite, user } = await findInvite(ctx, request.params.token);
    reply.header("cache-control", "no-store");
    return presentOpenInvite(invite, user);
  });

  app.post(
    "/invites/:token/accept",
    {
      schema: { params: InviteParams, body: AcceptInviteBody },
      preValidation: async (request) => assertBrowserRequestFromHere(ctx, request),
    },
    async (request, reply) => {
      const opened = await acceptInvite(
        ctx,
        request.params.token,
        request.body.password,
        clientOf(request),
      );
      request.log.info({ userId: opened.user.id }, "invite accepted, password set");
      return sendOpenedSession(ctx, reply, opened);
    },
  );
}
