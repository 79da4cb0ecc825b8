import type { FastifyRequest } from "fastify";
import type { ForgeContext } from "../../context.ts";
import type { ForgeApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { PaginationQuery, readPage, setPaginationHeaders } from "../../http/pagination.ts";
import { presentUserKey } from "./presenter.ts";
import { CreateUserKeyBody, UserKeyParams } from "./schema.ts";
import { createUserKey, findUserKey, listUserKeys, removeUserKey } from "../../users/user-keys.ts";

/** `authenticate!` before parameter validation, as in GitLab. */
async function authenticate(request: FastifyRequest): Promise<void> {
  requireActor(request);
}

/** The signed-in user's SSH keys (`lib/api/users.rb`, `resource :user`). */
export function userKeyRoutes(app: ForgeApp, ctx: ForgeContext): void {
  app.get(
    "/user/keys",
    { preValidation: authenticate, schema: { querystring: PaginationQuery } },
    async (request, reply) => {
      const { user } = requireActor(request);
      const page = readPage(request.query);
      const found = await listUserKeys(ctx, user, page);
      setPaginationHeaders(request, reply, page, found.total);
      return found.items.map((key) => presentUserKey(ctx, key, user));
    },
  );

  app.get(
    "/user/keys/:key_id",
    { preValidation: authenticate, schema: { params: UserKeyParams } },
    async (request) => {
      const { user } = requireActor(request);
      const key = await findUserKey(ctx, user, request.params.key_id);
      return presentUserKey(ctx, key, user);
    },
  );

  app.post(
    "/user/keys",
    { preValidation: authenticate, schema: { body: CreateUserKeyBody } },
    async (request, reply) => {
      const { user } = requireActor(request);
      const key = await createUserKey(ctx, user, request.body);
      return reply.code(201).send(presentUserKey(ctx, key, user));
    },
  );

  app.delete(
    "/user/keys/:key_id",
    { preValidation: authenticate, schema: { params: UserKeyParams } },
    async (request, reply) => {
      const { user } = requireActor(request);
      const ifUnmodifiedSince = request.headers["if-unmodified-since"];
      await removeUserKey(ctx, user, request.params.key_id, ifUnmodifiedSince);
      return reply.code(204).send();
    },
  );
}
