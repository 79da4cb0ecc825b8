import type { Kysely } from "kysely";
import type { DomainKind, PlatformDatabase } from "../db/schema.ts";
import { certificateServes } from "./certificates.ts";
import { readDomainSettings } from "./claims.ts";
import { wildcardOf } from "./names.ts";

/**
 * A custom host as the edge sees it: which site claims it (exactly, or through a wildcard alias),
 * in what role, and what the site's settings say about redirects and HTTPS.
 */
export interface DomainRoute {
  siteId: string;
  siteName: string;
  publishedDeployId: string | null;
  /** The role of the claim that matched: `wildcard` when only `*.parent` matched. */
  kind: DomainKind;
  /** The site's custom domain (where aliases and the www companion redirect). */
  primary: string | null;
  /** The site's certificate covers the primary domain (redirects then go to https). */
  primarySecure: boolean;
  /** The site's certificate covers this host (HTTPS works for it). */
  hostSecure: boolean;
  forceSsl: boolean;
  hstsMaxAge: number | null;
}

/** The route of a normalised host, or undefined when no site claims it. */
export async function routeForHost(
  db: Kysely<PlatformDatabase>,
  host: string,
  now: Date,
): Promise<DomainRoute | undefined> {
  const candidates = [host, wildcardOf(host)].filter((d): d is string => d !== undefined);
  const claims = await db
    .selectFrom("site_domains")
    .select(["domain", "site_id", "kind"])
    .where("domain", "in", candidates)
    .execute();
  const claim = claims.find((c) => c.domain === host) ?? claims[0];
  if (!claim) return undefined;
  const site = await db
    .selectFrom("sites")
    .selectAll()
    .where("id", "=", claim.site_id)
    .executeTakeFirst();
  if (!site) return undefined;
  const cert = await db
    .selectFrom("site_certificates")
    .selectAll()
    .where("site_id", "=", site.id)
    .executeTakeFirst();
  const settings = readDomainSettings(site);
  return {
    siteId: site.id,
    siteName: site.name,
    publishedDeployId: site.published_deploy_id,
    kind: claim.domain === host ? claim.kind : "wildcard",
    primary: settings.customDomain,
    primarySecure:
      cert !== undefined &&
      settings.customDomain !== null &&
      certificateServes(cert, settings.customDomain, now),
    hostSecure: cert !== undefined && certificateServes(cert, host, now),
    forceSsl: settings.forceSsl,
    hstsMaxAge: settings.hstsMaxAge,
  };
}
