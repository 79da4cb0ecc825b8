import type { PlatformContext } from "../../context.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { defaultAccountId } from "../../accounts/policies.ts";
import { findAccountForActor } from "../../accounts/accounts.ts";
import { presentDeployKey } from "./presenter.ts";
import { CreateDeployKeyQuery, DeployKeyParams } from "./schema.ts";
import {
  createDeployKey,
  deleteDeployKey,
  findDeployKey,
  listDeployKeys,
} from "../../deploy-keys/deploy-keys.ts";

export function deployKeyRoutes(app: PlatformApp, ctx: PlatformContext): void {
  app.post(
    "/deploy_keys",
    { schema: { querystring: CreateDeployKeyQuery } },
    async (request, reply) => {
      const actor = requireActor(request);
      const slug = request.query.account_slug;
      const accountId =
        slug === undefined
          ? defaultAccountId(actor)
          : (await findAccountForActor(ctx, actor, slug)).id;
      const key = await createDeployKey(ctx, actor, accountId);
      request.log.info({ deployKeyId: key.id, fingerprint: key.fingerprint }, "deploy key created");
      return reply.code(201).send(presentDeployKey(key));
    },
  );

  app.get("/deploy_keys", async (request) => {
    const keys = await listDeployKeys(ctx, requireActor(request));
    return keys.map(presentDeployKey);
  });

  app.get("/deploy_keys/:key_id", { schema: { params: DeployKeyParams } }, async (request) => {
    const key = await findDeployKey(ctx, requireActor(request), request.params.key_id);
    return presentDeployKey(key);
  });

  app.delete(
    "/deploy_keys/:key_id",
    { schema: { params: DeployKeyParams } },
    async (request, reply) => {
      await deleteDeployKey(ctx, requireActor(request), request.params.key_id);
      return reply.code(204).send();
    },
  );
}
