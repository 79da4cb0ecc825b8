import type { PlatformContext } from "../../context.ts";
import { BODY_LIMIT, type PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { acceptRawBodies } from "../../http/raw-body.ts";
import { BUILD_HOOK_PATH, presentBuildHook } from "./presenter.ts";
import {
  BuildHookSetupBody,
  BuildHookUpdateBody,
  SiteBuildHookParams,
  SiteBuildHooksParams,
  TriggerParams,
  TriggerQuery,
} from "./schema.ts";
import {
  createBuildHook,
  deleteBuildHook,
  findBuildHook,
  listBuildHooks,
  triggerBuildHook,
  updateBuildHook,
} from "../../build-hooks/build-hooks.ts";

/** `/api/v1/sites/:site_id/build_hooks[/:id]`: a site's build hooks, for its members. */
export function buildHookRoutes(app: PlatformApp, ctx: PlatformContext): void {
  app.get(
    "/sites/:site_id/build_hooks",
    { schema: { params: SiteBuildHooksParams } },
    async (request) =>
      (await listBuildHooks(ctx, requireActor(request), request.params.site_id)).map((hook) =>
        presentBuildHook(ctx.config, hook),
      ),
  );

  app.post(
    "/sites/:site_id/build_hooks",
    { schema: { params: SiteBuildHooksParams, body: BuildHookSetupBody } },
    async (request, reply) => {
      const hook = await createBuildHook(
        ctx,
        requireActor(request),
        request.params.site_id,
        request.body,
      );
      request.log.info({ siteId: hook.site_id, buildHookId: hook.id }, "build hook created");
      return reply.code(201).send(presentBuildHook(ctx.config, hook));
    },
  );

  app.get(
    "/sites/:site_id/build_hooks/:id",
    { schema: { params: SiteBuildHookParams } },
    async (request) =>
      presentBuildHook(
        ctx.config,
        await findBuildHook(ctx, requireActor(request), request.params.site_id, request.params.id),
      ),
  );

  // Netlify answers 204 to an update.
  app.put(
    "/sites/:site_id/build_hooks/:id",
    { schema: { params: SiteBuildHookParams, body: BuildHookUpdateBody } },
    async (request, reply) => {
      await updateBuildHook(
        ctx,
        requireActor(request),
        request.params.site_id,
        request.params.id,
        request.body,
      );
      return reply.code(204).send();
    },
  );

  app.delete(
    "/sites/:site_id/build_hooks/:id",
    { schema: { params: SiteBuildHookParams } },
    async (request, reply) => {
      await deleteBuildHook(ctx, requireActor(request), request.params.site_id, request.params.id);
      return reply.code(204).send();
    },
  );
}

/**
 * `POST /build_hooks/:id` at the host root, with no authentication (the id is the capability)
 * and Netlify's query parameters. Any body is accepted (up to 1 MB) and not interpreted.
 */
export async function buildHookTriggerRoutes(
  app: PlatformApp,
  ctx: PlatformContext,
): Promise<void> {
  await app.register(async (scope: PlatformApp) => {
    acceptRawBodies(scope, BODY_LIMIT);
    scope.post(
      `${BUILD_HOOK_PATH}/:id`,
      { schema: { params: TriggerParams, querystring: TriggerQuery } },
      async (request, reply) => {
        const { result } = await triggerBuildHook(ctx, request.params.id, {
          branch: request.query.trigger_branch,
          title: request.query.trigger_title,
          clearCache: request.query.clear_cache,
        });
        return reply.code(202).send({
          build_id: result.coalescedWith ?? result.build.id,
          deploy_id: result.deploy.id,
          branch: result.build.branch,
          coalesced: result.coalescedWith !== undefined,
        });
      },
    );
  });
}
