import type { PlatformContext } from "../../context.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { presentPreview } from "./presenter.ts";
import { ApproveParams } from "./schema.ts";
import { approveDeploy } from "../../previews/previews.ts";

/** `POST /deploys/:deploy_id/approve`: start the build of a preview waiting for approval. */
export function previewRoutes(app: PlatformApp, ctx: PlatformContext): void {
  app.post(
    "/deploys/:deploy_id/approve",
    { schema: { params: ApproveParams } },
    async (request, reply) => {
      const { deploy, site } = await approveDeploy(
        ctx,
        requireActor(request),
        request.params.deploy_id,
      );
      return reply.code(200).send(presentPreview(ctx.config, deploy, site.name));
    },
  );
}
