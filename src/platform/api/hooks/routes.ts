import type { PlatformContext } from "../../context.ts";
import { invalidField } from "../../errors.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import {
  createHook,
  deleteHook,
  findHook,
  listDeliveries,
  listHooks,
  openHookData,
  updateHook,
} from "../../notifications/hooks.ts";
import { presentDelivery, presentHook, presentHookTypes } from "./presenter.ts";
import { HookBody, HookParams, HooksQuery } from "./schema.ts";

/** Netlify's `/api/v1/hooks`: a site's outgoing deploy notifications, for its members. */
export function hookRoutes(app: PlatformApp, ctx: PlatformContext): void {
  const present = (hook: Parameters<typeof presentHook>[0]) =>
    presentHook(hook, openHookData(ctx, hook));
  const siteIdOf = (query: HooksQuery, body?: HookBody): string => {
    const siteId = query.site_id ?? body?.site_id;
    if (siteId === undefined || siteId === "") throw invalidField("site_id", "is required");
    return siteId;
  };

  app.get("/hooks/types", async () => presentHookTypes());

  app.get("/hooks", { schema: { querystring: HooksQuery } }, async (request) =>
    (await listHooks(ctx, requireActor(request), siteIdOf(request.query))).map(present),
  );

  app.post(
    "/hooks",
    { schema: { querystring: HooksQuery, body: HookBody } },
    async (request, reply) => {
      const hook = await createHook(
        ctx,
        requireActor(request),
        siteIdOf(request.query, request.body),
        request.body,
      );
      request.log.info(
        { siteId: hook.site_id, hookId: hook.id, event: hook.event },
        "hook created",
      );
      return reply.code(201).send(present(hook));
    },
  );

  app.get("/hooks/:hook_id", { schema: { params: HookParams } }, async (request) =>
    present(await findHook(ctx, requireActor(request), request.params.hook_id)),
  );

  app.put("/hooks/:hook_id", { schema: { params: HookParams, body: HookBody } }, async (request) =>
    present(await updateHook(ctx, requireActor(request), request.params.hook_id, request.body)),
  );

  app.post("/hooks/:hook_id/enable", { schema: { params: HookParams } }, async (request) =>
    present(
      await updateHook(ctx, requireActor(request), request.params.hook_id, { disabled: false }),
    ),
  );

  app.delete("/hooks/:hook_id", { schema: { params: HookParams } }, async (request, reply) => {
    await deleteHook(ctx, requireActor(request), request.params.hook_id);
    return reply.code(204).send();
  });

  app.get("/hooks/:hook_id/deliveries", { schema: { params: HookParams } }, async (request) =>
    (await listDeliveries(ctx, requireActor(request), request.params.hook_id)).map(presentDelivery),
  );
}
