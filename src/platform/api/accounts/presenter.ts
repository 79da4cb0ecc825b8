import type { AccountWithRole } from "../../accounts/accounts.ts";
import type { Capabilities } from "../../quotas/quotas.ts";

/** Netlify's `accountMembership`, plus `default` (which the CLI reads) and the caller's `role`. */
export function presentAccount(entry: AccountWithRole, owners: readonly string[]) {
  const { account } = entry;
  return {
    id: account.id,
    name: account.name,
    slug: account.slug,
    type: account.type,
    type_name: account.type === "personal" ? "Personal" : "Team",
    default: entry.isDefault,
    role: entry.role,
    owner_ids: owners,
    roles_allowed: ["Owner", "Developer"],
    created_at: account.created_at,
    updated_at: account.updated_at,
  };
}

/** An account's JSON (`GET /accounts`). */
export type AccountJson = ReturnType<typeof presentAccount>;

/** `GET /accounts?minimal=true`: what clients need to pick an account. */
export function presentAccountMinimal(entry: AccountWithRole) {
  return {
    id: entry.account.id,
    name: entry.account.name,
    slug: entry.account.slug,
    type: entry.account.type,
    default: entry.isDefault,
  };
}

/**
 * Netlify's account `capabilities`: each quota's `included` (null: no limit) and `used`;
 * storage in bytes, concurrent builds counting those running now.
 */
export function presentCapabilities(capabilities: Capabilities) {
  return {
    sites: capabilities.sites,
    storage: capabilities.storage,
    concurrent_builds: capabilities.concurrent_builds,
  };
}
