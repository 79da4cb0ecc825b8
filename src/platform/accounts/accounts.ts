import type { Transaction } from "kysely";
import { objectId } from "../../lib/ids.ts";
import type { Actor } from "./tokens.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { Account, AccountRole, PlatformDatabase } from "../db/schema.ts";
import { invalidField, notFound } from "../errors.ts";
import { visibleAccountIds } from "./policies.ts";

/**
 * Slugs are the first path segment of `/{account_slug}/sites`, so the API's own first segments
 * can never be slugs.
 */
const RESERVED_SLUGS = new Set([
  "accounts",
  "admin",
  "api",
  "build_hooks",
  "builds",
  "deploy_keys",
  "deploys",
  "dns_zones",
  "forms",
  "git_connections",
  "healthz",
  "hooks",
  "oauth",
  "services",
  "sites",
  "submissions",
  "team",
  "user",
  "users",
  "webhooks",
]);

export const SLUG_PATTERN = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;

/** An account with the caller's membership in it. */
export interface AccountWithRole {
  account: Account;
  role: AccountRole;
  isDefault: boolean;
}

/** The accounts the actor belongs to, default first. */
export async function listAccounts(ctx: PlatformContext, actor: Actor): Promise<AccountWithRole[]> {
  const ids = visibleAccountIds(actor);
  if (ids.length === 0) return [];
  const accounts = await ctx.db.selectFrom("accounts").selectAll().where("id", "in", ids).execute();
  const byId = new Map(accounts.map((a) => [a.id, a]));
  return actor.memberships.flatMap((m) => {
    const account = byId.get(m.accountId);
    return account ? [{ account, role: m.role, isDefault: m.isDefault }] : [];
  });
}

/** User ids of each account's owners. */
export async function ownerIds(
  ctx: PlatformContext,
  accountIds: readonly string[],
): Promise<Map<string, string[]>> {
  const result = new Map<string, string[]>();
  if (accountIds.length === 0) return result;
  const rows = await ctx.db
    .selectFrom("account_memberships")
    .select(["account_id", "user_id"])
    .where("account_id", "in", accountIds)
    .where("role", "=", "Owner")
    .orderBy("created_at")
    .execute();
  for (const row of rows)
    result.set(row.account_id, [...(result.get(row.account_id) ?? []), row.user_id]);
  return result;
}

/** The account named by a slug (or id) in a URL, if the actor belongs to it; otherwise a 404. */
export async function findAccountForActor(
  ctx: PlatformContext,
  actor: Actor,
  slugOrId: string,
): Promise<Account> {
  const ids = visibleAccountIds(actor);
  const account =
    ids.length === 0
      ? undefined
      : await ctx.db
          .selectFrom("accounts")
          .selectAll()
          .where("id", "in", ids)
          .where((eb) => eb.or([eb("slug", "=", slugOrId.toLowerCase()), eb("id", "=", slugOrId)]))
          .executeTakeFirst();
  if (!account) throw notFound("Account");
  return account;
}

/** A slug made from a name or an e-mail address, made unique with a numeric suffix. */
export async function freeSlug(trx: Transaction<PlatformDatabase>, from: string): Promise<string> {
  const base =
    from
      .toLowerCase()
      .replace(/@.*$/, "")
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 32)
      .replace(/-+$/, "") || "account";
  for (let n = 1; ; n++) {
    const slug = n === 1 ? base : `${base}-${n}`;
    if (RESERVED_SLUGS.has(slug)) continue;
    const taken = await trx
      .selectFrom("accounts")
      .select("id")
      .where("slug", "=", slug)
      .executeTakeFirst();
    if (!taken) return slug;
  }
}

/** Creates an account with its first owner, inside the caller's transaction. */
export async function createAccount(
  trx: Transaction<PlatformDatabase>,
  ctx: PlatformContext,
  input: {
    name: string;
    slug: string | undefined;
    ownerId: string;
    type: Account["type"];
    isDefault: boolean;
  },
): Promise<Account> {
  let slug: string;
  if (input.slug !== undefined) {
    slug = input.slug;
    if (!SLUG_PATTERN.test(slug)) {
      throw invalidField(
        "account_slug",
        "must be 1 to 40 lower-case letters, digits and hyphens, not starting or ending with a hyphen",
      );
    }
    if (RESERVED_SLUGS.has(slug)) throw invalidField("account_slug", `"${slug}" is reserved`);
    const taken = await trx
      .selectFrom("accounts")
      .select("id")
      .where("slug", "=", slug)
      .executeTakeFirst();
    if (taken) throw invalidField("account_slug", `"${slug}" is already taken`);
  } else {
    slug = await freeSlug(trx, input.name);
  }
  const now = isoNow(ctx);
  const account: Account = {
    id: objectId(),
    slug,
    name: input.name,
    type: input.type,
    created_at: now,
    updated_at: now,
  };
  await trx.insertInto("accounts").values(account).execute();
  await trx
    .insertInto("account_memberships")
    .values({
      account_id: account.id,
      user_id: input.ownerId,
      role: "Owner",
      is_default: input.isDefault ? 1 : 0,
      created_at: now,
    })
    .execute();
  return account;
}
