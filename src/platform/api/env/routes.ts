import type { Actor } from "../../accounts/tokens.ts";
import type { PlatformContext } from "../../context.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { presentEnvVar } from "./presenter.ts";
import {
  AccountEnvParams,
  CreateEnvVarsBody,
  EnvVarBody,
  EnvVarParams,
  EnvVarValueParams,
  ListEnvVarsQuery,
  SetEnvVarValueBody,
  SiteEnvParams,
  SiteEnvQuery,
  SiteScopeQuery,
} from "./schema.ts";
import {
  createEnvVars,
  deleteEnvVar,
  deleteEnvVarValue,
  getEnvVar,
  listEnvVars,
  resolveEnvOwner,
  setEnvVarValue,
  siteEnvOwner,
  updateEnvVar,
} from "../../env/env.ts";

interface OwnerRequest {
  params: { account_id: string };
  query: { site_id?: string | undefined };
}

/**
 * Netlify's environment variables API. `:account_id` takes the account's id or its slug (the
 * CLI sends the slug); `?site_id=` addresses that site's own variables instead of the account's.
 */
export function envRoutes(app: PlatformApp, ctx: PlatformContext): void {
  /** The account (or, with `?site_id=`, the site) whose variables a request addresses. */
  const ownerOf = (request: OwnerRequest, actor: Actor, ability: "read" | "update") =>
    resolveEnvOwner(ctx, actor, request.params.account_id, request.query.site_id, ability);

  app.get(
    "/accounts/:account_id/env",
    { schema: { params: AccountEnvParams, querystring: ListEnvVarsQuery } },
    async (request) => {
      const { context_name, scope } = request.query;
      const owner = await ownerOf(request, requireActor(request), "read");
      const vars = await listEnvVars(ctx, owner, { contextName: context_name, scope });
      return vars.map(presentEnvVar);
    },
  );

  app.post(
    "/accounts/:account_id/env",
    { schema: { params: AccountEnvParams, querystring: SiteScopeQuery, body: CreateEnvVarsBody } },
    async (request, reply) => {
      const actor = requireActor(request);
      const owner = await ownerOf(request, actor, "update");
      const created = await createEnvVars(ctx, actor, owner, request.body);
      request.log.info(
        {
          accountId: owner.account.id,
          siteId: owner.site?.id,
          keys: created.map((v) => v.row.key),
        },
        "environment variables created",
      );
      return reply.code(201).send(created.map(presentEnvVar));
    },
  );

  app.get(
    "/accounts/:account_id/env/:key",
    { schema: { params: EnvVarParams, querystring: SiteScopeQuery } },
    async (request) => {
      const owner = await ownerOf(request, requireActor(request), "read");
      return presentEnvVar(await getEnvVar(ctx, owner, request.params.key));
    },
  );

  app.put(
    "/accounts/:account_id/env/:key",
    { schema: { params: EnvVarParams, querystring: SiteScopeQuery, body: EnvVarBody } },
    async (request) => {
      const actor = requireActor(request);
      const owner = await ownerOf(request, actor, "update");
      const updated = await updateEnvVar(ctx, actor, owner, request.params.key, request.body);
      request.log.info(
        { key: updated.row.key, envVarId: updated.row.id },
        "environment variable updated",
      );
      return presentEnvVar(updated);
    },
  );

  app.patch(
    "/accounts/:account_id/env/:key",
    { schema: { params: EnvVarParams, querystring: SiteScopeQuery, body: SetEnvVarValueBody } },
    async (request, reply) => {
      const actor = requireActor(request);
      const owner = await ownerOf(request, actor, "update");
      const updated = await setEnvVarValue(ctx, actor, owner, request.params.key, request.body);
      request.log.info(
        { key: updated.row.key, envVarId: updated.row.id, context: request.body.context },
        "environment variable value set",
      );
      return reply.code(201).send(presentEnvVar(updated));
    },
  );

  app.delete(
    "/accounts/:account_id/env/:key",
    { schema: { params: EnvVarParams, querystring: SiteScopeQuery } },
    async (request, reply) => {
      const owner = await ownerOf(request, requireActor(request), "update");
      await deleteEnvVar(ctx, owner, request.params.key);
      request.log.info({ key: request.params.key }, "environment variable deleted");
      return reply.code(204).send();
    },
  );

  app.delete(
    "/accounts/:account_id/env/:key/value/:id",
    { schema: { params: EnvVarValueParams, querystring: SiteScopeQuery } },
    async (request, reply) => {
      const actor = requireActor(request);
      const owner = await ownerOf(request, actor, "update");
      await deleteEnvVarValue(ctx, actor, owner, request.params.key, request.params.id);
      return reply.code(204).send();
    },
  );

  // `getSiteEnvVars`. The spec declares it with the full path `/api/v1/sites/{site_id}/env`, so
  // `@netlify/api` calls `/api/v1/api/v1/sites/{site_id}/env`: both paths answer.
  for (const path of ["/sites/:site_id/env", "/api/v1/sites/:site_id/env"]) {
    app.get(
      path,
      { schema: { params: SiteEnvParams, querystring: SiteEnvQuery } },
      async (request) => {
        const owner = await siteEnvOwner(ctx, requireActor(request), request.params.site_id);
        const { context_name, scope } = request.query;
        const vars = await listEnvVars(ctx, owner, { contextName: context_name, scope });
        return vars.map(presentEnvVar);
      },
    );
  }
}
