import type { PlatformContext } from "../../context.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { presentAccount, presentAccountMinimal, presentCapabilities } from "./presenter.ts";
import { AccountParams, ListAccountsQuery, QuotaOverridesBody } from "./schema.ts";
import { listAccounts, ownerIds } from "../../accounts/accounts.ts";
import { notFound } from "../../errors.ts";
import {
  accountCapabilities,
  findAccountForQuotas,
  setQuotaOverrides,
} from "../../quotas/quotas.ts";

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

  // Netlify's getAccount: the membership, with `capabilities` (each quota's included and used).
  app.get("/accounts/:account_id", { schema: { params: AccountParams } }, async (request) => {
    const key = request.params.account_id;
    const entry = (await listAccounts(ctx, requireActor(request))).find(
      (a) => a.account.id === key || a.account.slug === key.toLowerCase(),
    );
    if (!entry) throw notFound("Account");
    const owners = await ownerIds(ctx, [entry.account.id]);
    return {
      ...presentAccount(entry, owners.get(entry.account.id) ?? []),
      capabilities: presentCapabilities(await accountCapabilities(ctx, entry.account.id)),
    };
  });

  // An administrator's per-account quotas (null: back to the instance's default).
  app.put(
    "/admin/accounts/:account_id/quotas",
    { schema: { params: AccountParams, body: QuotaOverridesBody } },
    async (request) => {
      const account = await findAccountForQuotas(
        ctx,
        requireActor(request),
        request.params.account_id,
      );
      await setQuotaOverrides(ctx, account.id, request.body);
      return {
        account_id: account.id,
        capabilities: presentCapabilities(await accountCapabilities(ctx, account.id)),
      };
    },
  );
}
