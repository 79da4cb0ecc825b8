import type { Actor, Membership } from "./tokens.ts";
import { forbidden, notFound } from "../errors.ts";

/**
 * Every access decision of the platform. Tenancy is by account: an object (site, deploy key,
 * and later build, deploy, delivery, hook) belongs to one account, and a caller acts on it only
 * through a membership of that account. An object of another account does not exist for the
 * caller (404), whoever the caller is — platform admins included. Routes never decide; they ask.
 */

/** Anything that belongs to an account. */
export interface AccountOwned {
  account_id: string;
}

/**
 * - `read`: see it (secrets such as the webhook secret included: members must be able to
 *   configure the provider);
 * - `update`: change it, rotate its secrets, create things under it;
 * - `delete`: remove it.
 */
export type Ability = "read" | "update" | "delete";

export function membershipOf(actor: Actor, accountId: string): Membership | undefined {
  return actor.memberships.find((m) => m.accountId === accountId);
}

export function can(actor: Actor, ability: Ability, object: AccountOwned): boolean {
  const membership = membershipOf(actor, object.account_id);
  if (!membership) return false;
  switch (ability) {
    case "read":
    case "update":
      return membership.role === "Owner" || membership.role === "Developer";
    case "delete":
      return membership.role === "Owner";
  }
}

/**
 * Throws unless the actor may do `ability` on `object`: a 404 naming `what` when the object is
 * not visible to the actor at all, a 403 when it is visible but the role does not allow it.
 */
export function authorize(
  actor: Actor,
  ability: Ability,
  object: AccountOwned,
  what: string,
): void {
  if (can(actor, ability, object)) return;
  if (!can(actor, "read", object)) throw notFound(what);
  throw forbidden(
    `Your role in this account does not allow you to ${ability} this ${what.toLowerCase()}`,
  );
}

/** The accounts whose objects the actor may list. */
export function visibleAccountIds(actor: Actor): string[] {
  return actor.memberships.map((m) => m.accountId);
}

/** The accounts the actor owns (`GET /sites?filter=owner`) and the others (`filter=guest`). */
export function accountIdsByOwnership(actor: Actor, owner: boolean): string[] {
  return actor.memberships.filter((m) => (m.role === "Owner") === owner).map((m) => m.accountId);
}

/** Where new objects go when the request names no account: the actor's default account. */
export function defaultAccountId(actor: Actor): string {
  const chosen = actor.memberships.find((m) => m.isDefault) ?? actor.memberships[0];
  if (!chosen)
    throw forbidden("You are not a member of any account; ask an administrator to add you to one");
  return chosen.accountId;
}

/** Creating users is for platform administrators (`POST /api/v1/admin/users`). */
export function assertPlatformAdmin(actor: Actor): void {
  if (actor.user.is_admin !== 1) {
    throw forbidden("Only platform administrators may do this");
  }
}
