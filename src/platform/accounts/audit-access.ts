import type { PlatformContext } from "../context.ts";
import type { Account } from "../db/schema.ts";
import { forbidden, notFound } from "../errors.ts";
import { membershipOf } from "./policies.ts";
import type { Actor } from "./tokens.ts";

/**
 * The account whose audit log the actor asks for (`GET /accounts/:account_id/audit`): its
 * owners read it, platform administrators read every account's; a member of another role gets a
 * 403, anyone else a 404 (the account does not exist for them).
 */
export async function findAuditableAccount(
  ctx: PlatformContext,
  actor: Actor,
  slugOrId: string,
): Promise<Account> {
  const account = await ctx.db
    .selectFrom("accounts")
    .selectAll()
    .where((eb) => eb.or([eb("slug", "=", slugOrId.toLowerCase()), eb("id", "=", slugOrId)]))
    .executeTakeFirst();
  if (actor.user.is_admin === 1 && account) return account;
  const membership = account ? membershipOf(actor, account.id) : undefined;
  if (!account || !membership) throw notFound("Account");
  if (membership.role !== "Owner") {
    throw forbidden("Only the account's owners can read its audit log");
  }
  return account;
}
