import type { Kysely } from "kysely";
import type { PlatformDatabase } from "../db/schema.ts";
import { routeForHost, type DomainRoute } from "../domains/hosts.ts";
import { HostCache } from "./host-cache.ts";

/**
 * Custom host → its route (`domains/hosts.ts`: the claiming site, its published deploy, its
 * redirect and HTTPS settings; undefined when no site claims it), one cache for the front, the
 * resolver (`db-resolver.ts`, which forgets a site's routes when it publishes) and the password
 * check: a custom host costs one look-up (three queries) per expiry, not one per cache and per
 * request that arrives while it runs.
 */
export type DomainRoutes = HostCache<DomainRoute | undefined>;

export function createDomainRoutes(
  db: Kysely<PlatformDatabase>,
  options: { ttlMs?: number; now?: () => number } = {},
): DomainRoutes {
  return new HostCache({ load: (host) => routeForHost(db, host, new Date()), ...options });
}
