import { Type } from "typebox";
import { createPersonalAccessToken } from "../../users/tokens.ts";
import type { ForgeContext } from "../../context.ts";
import type { ForgeApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { paginate, PaginationQuery } from "../../http/pagination.ts";
import { presentUser, presentUserBasic } from "./presenter.ts";
import { CreateTokenBody, CreateUserBody, UserIdParams } from "./schema.ts";
import { assertAdmin, createUser, findUser, listUsers } from "../../users/users.ts";

export function userRoutes(app: ForgeApp, ctx: ForgeContext): void {
  app.get("/user", async (request) => presentUser(ctx, requireActor(request).user));

  app.get(
    "/users",
    {
      schema: {
        querystring: Type.Intersect([
          PaginationQuery,
          Type.Object({ username: Type.Optional(Type.String()) }),
        ]),
      },
    },
    async (request, reply) => {
      requireActor(request);
      const users = await listUsers(ctx, request.query.username);
      return paginate(request, reply, request.query, users).map((u) => presentUserBasic(ctx, u));
    },
  );

  app.get("/users/:id", { schema: { params: UserIdParams } }, async (request) => {
    const actor = requireActor(request);
    const user = await findUser(ctx, request.params.id);
    return actor.user.is_admin === 1 || actor.user.id === user.id
      ? presentUser(ctx, user)
      : presentUserBasic(ctx, user);
  });

  app.post("/users", { schema: { body: CreateUserBody } }, async (request, reply) => {
    assertAdmin(requireActor(request));
    const user = await createUser(ctx, request.body);
    return reply.code(201).send(presentUser(ctx, user));
  });

  app.post(
    "/users/:id/personal_access_tokens",
    { schema: { params: UserIdParams, body: CreateTokenBody } },
    async (request, reply) => {
      assertAdmin(requireActor(request));
      const user = await findUser(ctx, request.params.id);
      const { name, scopes, expires_at = null } = request.body;
      const created = await createPersonalAccessToken(ctx, {
        userId: user.id,
        name,
        scopes,
        expiresAt: expires_at,
      });
      return reply.code(201).send({
        id: created.id,
        name,
        revoked: false,
        created_at: isoNowOf(ctx),
        scopes,
        user_id: user.id,
        active: true,
        expires_at,
        token: created.token,
      });
    },
  );
}

const isoNowOf = (ctx: ForgeContext): string => ctx.now().toISOString();
