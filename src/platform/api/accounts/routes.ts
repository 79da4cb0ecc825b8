import type { PlatformContext } from "../../context.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { presentAccount, presentAccountMinimal } from "./presenter.ts";
import { ListAccountsQuery } from "./schema.ts";
import { listAccounts, ownerIds } from "../../accounts/accounts.ts";

export function accountRoutes(app: PlatformApp, ctx: PlatformContext): void {
  app.get("/accounts", { schema: { querystring: ListAccountsQuery } }, async (request) => {
    const actor = requireActor(request);
    const accounts = await listAccounts(ctx, actor);
    if (request.query.minimal === true) return accounts.map(presentAccountMinimal);
    const owners = await ownerIds(
      ctx,
      accounts.map((a) => a.account.id),
    );
    return accounts.map((a) => presentAccount(a, owners.get(a.account.id) ?? []));
  });
}
