import type { FastifyRequest } from "fastify";
import type { ForgeContext } from "../../context.ts";
import type { ForgeApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { PaginationQuery, readPage, setPaginationHeaders } from "../../http/pagination.ts";
import { ProjectIdParams } from "../projects/schema.ts";
import {
  presentDeployKey,
  presentDeployKeysProject,
  presentDeployKeyWithProjects,
} from "./presenter.ts";
import {
  CreateDeployKeyBody,
  CreateInstanceDeployKeyBody,
  DeployKeyParams,
  ListDeployKeysQuery,
  UpdateDeployKeyBody,
  UserDeployKeysParams,
} from "./schema.ts";
import {
  addProjectDeployKey,
  createInstanceDeployKey,
  enableProjectDeployKey,
  listAllDeployKeys,
  listProjectDeployKeys,
  listUserProjectDeployKeys,
  removeProjectDeployKey,
  showProjectDeployKey,
  updateProjectDeployKey,
} from "../../deploy-keys/deploy-keys.ts";

/**
 * GitLab's `authenticate!` runs before parameter validation: without a user the answer is 401
 * even when the parameters are wrong too.
 */
async function authenticate(request: FastifyRequest): Promise<void> {
  requireActor(request);
}

/** GitLab's deploy keys API (`lib/api/deploy_keys.rb`) and `GET /users/:id/project_deploy_keys`. */
export function deployKeyRoutes(app: ForgeApp, ctx: ForgeContext): void {
  app.get(
    "/deploy_keys",
    { preValidation: authenticate, schema: { querystring: ListDeployKeysQuery } },
    async (request, reply) => {
      const { user } = requireActor(request);
      const page = readPage(request.query);
      const found = await listAllDeployKeys(ctx, user, {
        onlyPublic: request.query.public === true,
        page,
      });
      setPaginationHeaders(request, reply, page, found.total);
      return found.items.map((k) => presentDeployKeyWithProjects(k.key, k.projects));
    },
  );

  app.post(
    "/deploy_keys",
    { preValidation: authenticate, schema: { body: CreateInstanceDeployKeyBody } },
    async (request, reply) => {
      const { user } = requireActor(request);
      const key = await createInstanceDeployKey(ctx, user, request.body);
      return reply.code(201).send(presentDeployKey(key));
    },
  );

  app.get(
    "/projects/:id/deploy_keys",
    {
      preValidation: authenticate,
      schema: { params: ProjectIdParams, querystring: PaginationQuery },
    },
    async (request, reply) => {
      const { user } = requireActor(request);
      const page = readPage(request.query);
      const found = await listProjectDeployKeys(ctx, user, request.params.id, page);
      setPaginationHeaders(request, reply, page, found.total);
      return found.items.map((a) => presentDeployKeysProject(a.key, a.link));
    },
  );

  app.post(
    "/projects/:id/deploy_keys",
    { preValidation: authenticate, schema: { params: ProjectIdParams, body: CreateDeployKeyBody } },
    async (request, reply) => {
      const { user } = requireActor(request);
      const added = await addProjectDeployKey(ctx, user, request.params.id, request.body);
      return reply.code(201).send(presentDeployKeysProject(added.key, added.link));
    },
  );

  app.get(
    "/projects/:id/deploy_keys/:key_id",
    { preValidation: authenticate, schema: { params: DeployKeyParams } },
    async (request) => {
      const { user } = requireActor(request);
      const { id, key_id } = request.params;
      const found = await showProjectDeployKey(ctx, user, id, key_id);
      return presentDeployKeysProject(found.key, found.link);
    },
  );

  app.put(
    "/projects/:id/deploy_keys/:key_id",
    {
      preValidation: authenticate,
      schema: { params: DeployKeyParams, body: UpdateDeployKeyBody },
    },
    async (request) => {
      const { user } = requireActor(request);
      const { id, key_id } = request.params;
      const updated = await updateProjectDeployKey(ctx, user, id, key_id, request.body);
      return presentDeployKeysProject(updated.key, updated.link);
    },
  );

  app.delete(
    "/projects/:id/deploy_keys/:key_id",
    { preValidation: authenticate, schema: { params: DeployKeyParams } },
    async (request, reply) => {
      const { user } = requireActor(request);
      const { id, key_id } = request.params;
      await removeProjectDeployKey(ctx, user, id, key_id, request.headers["if-unmodified-since"]);
      return reply.code(204).send();
    },
  );

  app.post(
    "/projects/:id/deploy_keys/:key_id/enable",
    { preValidation: authenticate, schema: { params: DeployKeyParams } },
    async (request, reply) => {
      const { user } = requireActor(request);
      const { id, key_id } = request.params;
      const key = await enableProjectDeployKey(ctx, user, id, key_id);
      return reply.code(201).send(presentDeployKey(key));
    },
  );

  app.get(
    "/users/:id/project_deploy_keys",
    {
      preValidation: authenticate,
      schema: { params: UserDeployKeysParams, querystring: PaginationQuery },
    },
    async (request, reply) => {
      const { user } = requireActor(request);
      const page = readPage(request.query);
      const found = await listUserProjectDeployKeys(ctx, user, request.params.id, page);
      setPaginationHeaders(request, reply, page, found.total);
      return found.items.map(presentDeployKey);
    },
  );
}
