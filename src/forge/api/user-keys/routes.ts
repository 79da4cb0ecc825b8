import type { FastifyRequest } from "fastify";
import type { ForgeContext } from "../../context.ts";
import type { ForgeApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { PaginationQuery, readPage, setPaginationHeaders } from "../../http/pagination.ts";
import { presentUserKey } from "./presenter.ts";
import {
  CreateUserKeyBody,
  OtherUserParams,
  UserIdKeyParams,
  UserIdParams,
  UserKeyParams,
} from "./schema.ts";
import { createUserKey, findUserKey, listUserKeys, removeUserKey } from "../../users/user-keys.ts";
import { assertAdmin, findUser, findUserByIdOrUsername } from "../../users/users.ts";

/** `authenticate!` before parameter validation, as in GitLab. */
async function authenticate(request: FastifyRequest): Promise<void> {
  requireActor(request);
}

/** `authenticated_as_admin!`, also before parameter validation. */
async function authenticateAdmin(request: FastifyRequest): Promise<void> {
  assertAdmin(requireActor(request));
}

/**
 * SSH keys (`lib/api/users.rb`): the signed-in user's own (`/user/keys`), anyone's public keys
 * (`GET /users/:id/keys`, anonymous callers too), and an administrator's management of another
 * user's keys (`POST` and `DELETE /users/:id/keys`).
 */
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

  app.get(
    "/users/:id/keys",
    { schema: { params: OtherUserParams, querystring: PaginationQuery } },
    async (request, reply) => {
      const owner = await findUserByIdOrUsername(ctx, request.params.id);
      const page = readPage(request.query);
      const found = await listUserKeys(ctx, owner, page);
      setPaginationHeaders(request, reply, page, found.total);
      return found.items.map((key) => presentUserKey(ctx, key, owner));
    },
  );

  app.get("/users/:id/keys/:key_id", { schema: { params: UserIdKeyParams } }, async (request) => {
    const owner = await findUser(ctx, request.params.id);
    const key = await findUserKey(ctx, owner, request.params.key_id);
    return presentUserKey(ctx, key, owner);
  });

  app.post(
    "/users/:id/keys",
    { preValidation: authenticateAdmin, schema: { params: UserIdParams, body: CreateUserKeyBody } },
    async (request, reply) => {
      const owner = await findUser(ctx, request.params.id);
      const key = await createUserKey(ctx, owner, request.body);
      return reply.code(201).send(presentUserKey(ctx, key, owner));
    },
  );

  app.delete(
    "/users/:id/keys/:key_id",
    { preValidation: authenticateAdmin, schema: { params: UserIdKeyParams } },
    async (request, reply) => {
      const owner = await findUser(ctx, request.params.id);
      const ifUnmodifiedSince = request.headers["if-unmodified-since"];
      await removeUserKey(ctx, owner, request.params.key_id, ifUnmodifiedSince);
      return reply.code(204).send();
    },
  );
}
