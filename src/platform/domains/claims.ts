import type { Kysely } from "kysely";
import { isUniqueViolation } from "../../lib/database.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { DomainKind, PlatformDatabase, Site, SiteUpdate } from "../db/schema.ts";
import { invalidField, PlatformError } from "../errors.ts";
import { checkDomain, wwwCompanion } from "./names.ts";
import { CERTIFICATE_QUEUE } from "./queue-names.ts";

/**
 * Claims: the domains a site answers to, one owner across all accounts. The site row holds the
 * settings as Netlify shows them (`custom_domain`, `domain_aliases`, `force_ssl`, Slipway's
 * `hsts_max_age`); `site_domains` holds one row per name (its primary key is the claim) with
 * its state. Both are written in the transaction that stores the site, and a change of names
 * enqueues the certificate job in that same transaction.
 */

/** The domain fields of Netlify's `siteSetup`, as the API hands them over. */
export interface DomainInput {
  custom_domain?: string | null;
  domain_aliases?: string[];
  force_ssl?: boolean;
  /** Slipway's addition: HSTS max-age in seconds on HTTPS answers; null or 0 turns it off. */
  hsts_max_age?: number | null;
}

export const MAX_ALIASES = 50;
/** Two years, what the HSTS preload list asks for; more is refused. */
export const MAX_HSTS_MAX_AGE = 63_072_000;

/** The site columns that hold the domain settings. */
export type DomainColumns = Pick<
  SiteUpdate,
  "custom_domain" | "domain_aliases" | "force_ssl" | "hsts_max_age"
>;

/** The site's current domain settings, as stored. */
export interface DomainSettings {
  customDomain: string | null;
  aliases: string[];
  forceSsl: boolean;
  hstsMaxAge: number | null;
}

export function readDomainSettings(site: Site): DomainSettings {
  let aliases: string[] = [];
  try {
    const parsed = JSON.parse(site.domain_aliases ?? "[]") as unknown;
    if (Array.isArray(parsed)) aliases = parsed.filter((a): a is string => typeof a === "string");
  } catch {
    aliases = [];
  }
  return {
    customDomain: site.custom_domain ?? null,
    aliases,
    forceSsl: (site.force_ssl ?? 0) === 1,
    hstsMaxAge: site.hsts_max_age ?? null,
  };
}

/**
 * Checks the domain fields of a request against the current settings (`current` null for a new
 * site) and returns the site columns to store, or none when nothing changes. Every value is
 * checked before anything is stored; a refusal is a 422 naming the field.
 */
export function checkDomainInput(
  ctx: Pick<PlatformContext, "config">,
  siteName: string,
  input: DomainInput,
  current: DomainSettings | null,
): { columns: DomainColumns; namesChanged: boolean } {
  const sitesDomain = ctx.config.sitesDomain;
  const base = { sitesDomain, siteName };
  const columns: DomainColumns = {};
  let customDomain = current?.customDomain ?? null;
  let aliases = current?.aliases ?? [];
  if (input.custom_domain !== undefined) {
    customDomain =
      input.custom_domain === null || input.custom_domain.trim() === ""
        ? null
        : checkDomain("custom_domain", input.custom_domain, { ...base, wildcard: false });
    columns.custom_domain = customDomain;
  }
  if (input.domain_aliases !== undefined) {
    if (input.domain_aliases.length > MAX_ALIASES) {
      throw invalidField("domain_aliases", `at most ${MAX_ALIASES} aliases per site`);
    }
    const seen = new Set<string>();
    aliases = [];
    for (const [i, raw] of input.domain_aliases.entries()) {
      if (raw.trim() === "") continue;
      const alias = checkDomain(`domain_aliases.${i}`, raw, { ...base, wildcard: true });
      if (!seen.has(alias)) aliases.push(alias);
      seen.add(alias);
    }
    columns.domain_aliases = JSON.stringify(aliases);
  }
  if (customDomain !== null && aliases.includes(customDomain)) {
    throw invalidField(
      "domain_aliases",
      `${customDomain} is the site's custom_domain already; an alias must be another name`,
    );
  }
  if (input.force_ssl !== undefined) columns.force_ssl = input.force_ssl ? 1 : 0;
  if (input.hsts_max_age !== undefined) {
    const age = input.hsts_max_age;
    if (age !== null && (!Number.isInteger(age) || age < 0 || age > MAX_HSTS_MAX_AGE)) {
      throw invalidField(
        "hsts_max_age",
        `must be a whole number of seconds from 0 (off) to ${MAX_HSTS_MAX_AGE} (two years), or null`,
      );
    }
    columns.hsts_max_age = age === null || age === 0 ? null : age;
  }
  const namesChanged =
    customDomain !== (current?.customDomain ?? null) ||
    JSON.stringify(aliases) !== JSON.stringify(current?.aliases ?? []);
  return { columns, namesChanged };
}

interface WantedName {
  domain: string;
  kind: DomainKind;
}

function wantedNames(settings: DomainSettings): WantedName[] {
  const names: WantedName[] = [];
  if (settings.customDomain !== null) {
    names.push({ domain: settings.customDomain, kind: "primary" });
  }
  for (const alias of settings.aliases) {
    names.push({ domain: alias, kind: alias.startsWith("*.") ? "wildcard" : "alias" });
  }
  const companion =
    settings.customDomain === null ? undefined : wwwCompanion(settings.customDomain);
  if (companion !== undefined && !names.some((n) => n.domain === companion)) {
    names.push({ domain: companion, kind: "www" });
  }
  return names;
}

const taken = (domain: string, sameAccountSite: string | undefined): PlatformError =>
  new PlatformError(
    "conflict",
    sameAccountSite === undefined
      ? `${domain} is already used by another site on this Slipway. A domain belongs to one site; if it is yours, remove it from that site first, or ask this Slipway's administrator.`
      : `${domain} is already a domain of your site ${sameAccountSite}; remove it there first (PATCH /api/v1/sites/${sameAccountSite} with the domain left out).`,
    domain.startsWith("*.") || sameAccountSite !== undefined ? "domain" : "custom_domain",
  );

/**
 * Makes `site_domains` match the site's settings, inside the caller's transaction: new names are
 * claimed (a name another site holds is a 409 that does not say whose, unless the site is in the
 * same account), dropped names are released. The www/apex companion of the custom domain is
 * claimed only while no other site holds it. With any name left, the certificate job is due.
 */
export async function syncDomainClaims(
  ctx: PlatformContext,
  trx: Kysely<PlatformDatabase>,
  site: Site,
): Promise<void> {
  const names = wantedNames(readDomainSettings(site));
  const now = isoNow(ctx);
  // No query for no names (`in ()` is no SQL, and Postgres text cannot hold a NUL sentinel).
  const existing =
    names.length === 0
      ? []
      : await trx
          .selectFrom("site_domains")
          .select(["domain", "site_id", "kind"])
          .where(
            "domain",
            "in",
            names.map((n) => n.domain),
          )
          .execute();
  const holders = new Map(existing.map((row) => [row.domain, row.site_id]));
  const claimable: WantedName[] = [];
  for (const name of names) {
    const holder = holders.get(name.domain);
    if (holder === undefined || holder === site.id) {
      claimable.push(name);
      continue;
    }
    if (name.kind === "www") continue; // the companion is a courtesy, never a conflict
    if (existing.find((row) => row.domain === name.domain)?.kind === "www") {
      // Another site holds it only as its www/apex companion: an explicit claim takes it over.
      await trx.deleteFrom("site_domains").where("domain", "=", name.domain).execute();
      holders.delete(name.domain);
      claimable.push(name);
      continue;
    }
    const other = await trx
      .selectFrom("sites")
      .select(["name", "account_id"])
      .where("id", "=", holder)
      .executeTakeFirst();
    throw taken(name.domain, other?.account_id === site.account_id ? other.name : undefined);
  }

  const keep = claimable.map((n) => n.domain);
  let release = trx.deleteFrom("site_domains").where("site_id", "=", site.id);
  if (keep.length > 0) release = release.where("domain", "not in", keep);
  await release.execute();

  const acmeOff = ctx.config.domains?.acme == null;
  for (const name of claimable) {
    const mine = holders.get(name.domain) === site.id;
    if (mine) {
      await trx
        .updateTable("site_domains")
        .set({ kind: name.kind, updated_at: now })
        .where("domain", "=", name.domain)
        .execute();
      continue;
    }
    try {
      await trx
        .insertInto("site_domains")
        .values({
          domain: name.domain,
          site_id: site.id,
          kind: name.kind,
          state: "pending_dns",
          reason: initialReason(name, acmeOff, site.id),
          checked_at: null,
          created_at: now,
          updated_at: now,
        })
        .execute();
    } catch (error) {
      // Claimed by another request between the read and this insert.
      if (isUniqueViolation(error)) throw taken(name.domain, undefined);
      throw error;
    }
  }

  if (claimable.length === 0) {
    // No name left: an obtained certificate goes with them; an uploaded one stays until deleted.
    await trx
      .deleteFrom("site_certificates")
      .where("site_id", "=", site.id)
      .where((eb) => eb.or([eb("source", "is", null), eb("source", "=", "acme")]))
      .execute();
    return;
  }
  await trx
    .insertInto("site_certificates")
    .values({
      site_id: site.id,
      ...noCertificateYet(now),
      renewal_failures: 0,
      created_at: now,
    })
    .onConflict((oc) =>
      oc.column("site_id").doUpdateSet({ next_attempt_at: now, attempts: 0, updated_at: now }),
    )
    .execute();
  await enqueueCertificateWork(ctx, site.id, trx);
}

/** The certificate job of a site (deduplicated while one is pending or running). */
export async function enqueueCertificateWork(
  ctx: PlatformContext,
  siteId: string,
  db: Kysely<PlatformDatabase> = ctx.db,
  options: { force?: boolean } = {},
): Promise<void> {
  if (ctx.config.domains?.acme == null && !options.force) return;
  await ctx.jobs.enqueue(
    {
      queue: CERTIFICATE_QUEUE,
      payload: { siteId, ...(options.force ? { force: true } : {}) },
      concurrencyKey: `certificate:${siteId}`,
      dedupeKey: `certificate:${siteId}${options.force ? ":force" : ""}`,
      maxAttempts: 2,
    },
    db,
  );
}

function initialReason(name: WantedName, acmeOff: boolean, siteId: string): string {
  if (name.kind === "wildcard") {
    return `${name.domain} is served over HTTP; a wildcard certificate cannot be obtained over http-01 (it needs DNS-01): upload one with POST /api/v1/sites/${siteId}/ssl`;
  }
  if (acmeOff) {
    return `automatic certificates are off on this Slipway (SLIPWAY_ACME_DIRECTORY_URL=off); ${name.domain} is served over HTTP until a certificate is uploaded with POST /api/v1/sites/${siteId}/ssl`;
  }
  return `waiting for the first check that ${name.domain} points at this Slipway; a certificate is requested right after`;
}

/** A site's certificate row before Slipway has obtained one: waiting for its names' DNS. */
export function noCertificateYet(now: string) {
  return {
    source: null,
    state: "pending_dns" as const,
    reason: null,
    domains: "[]",
    certificate_pem: null,
    ca_certificates_pem: null,
    private_key_sealed: null,
    not_before: null,
    not_after: null,
    renew_at: null,
    attempts: 0,
    next_attempt_at: now,
    updated_at: now,
  };
}
