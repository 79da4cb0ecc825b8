import type { PlatformContext } from "../../context.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { assertPlatformAdmin } from "../../accounts/policies.ts";
import { presentAccount } from "../accounts/presenter.ts";
import { presentUser } from "./presenter.ts";
import { CreateUserBody } from "./schema.ts";
import { countVisibleSites, createUser } from "../../accounts/users.ts";

export function userRoutes(app: PlatformApp, ctx: PlatformContext): void {
  app.get("/user", async (request) => {
    const actor = requireActor(request);
    return presentUser(actor.user, await countVisibleSites(ctx, actor));
  });

  /** Slipway's extension: an administrator creates a tenant (user + account + token). */
  app.post("/admin/users", { schema: { body: CreateUserBody } }, async (request, reply) => {
    assertPlatformAdmin(requireActor(request));
    const created = await createUser(ctx, request.body);
    request.log.info({ userId: created.user.id, accountId: created.account.id }, "user created");
    return reply.code(201).send({
      user: presentUser(created.user, 0),
      account: presentAccount({ account: created.account, role: "Owner", isDefault: true }, [
        created.user.id,
      ]),
      token: created.token,
    });
  });
}
