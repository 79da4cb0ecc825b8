import type { Kysely } from "kysely";
import { domainToASCII } from "node:url";
import { isUniqueViolation } from "../../lib/database.ts";
import { UUID, uuid } from "../../lib/ids.ts";
import type { Actor } from "../accounts/tokens.ts";
import { recordAudit, type AuditAction } from "../audit/record.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { Account, Deploy, PlatformDatabase, Site, SiteUpdate } from "../db/schema.ts";
import { invalidField, notFound } from "../errors.ts";
import { authorize, type Ability } from "../accounts/policies.ts";
import { checkSiteName, generatedName, nameTaken } from "./names.ts";
import {
  checkEnv,
  readRepoSettings,
  repoColumns,
  resolveRepoSettings,
  type RepoInput,
  type RepoSettings,
} from "./repo-settings.ts";
import { readEnv, readWebhookSecret, sealEnv, sealNewWebhookSecret } from "./secrets.ts";
import {
  checkDomainInput,
  readDomainSettings,
  syncDomainClaims,
  type DomainInput,
} from "../domains/claims.ts";
import {
  applyProtectionChange,
  checkProtectionInput,
  passwordContexts,
  type PasswordContext,
  type ProtectionInput,
} from "./protection.ts";
import { assertSiteQuota } from "../quotas/quotas.ts";

/**
 * Sites: create, find, update, unlink and delete (each asks the policy first, and checks every
 * field before anything is stored), and the list and views the API presents.
 */

/** Netlify's `siteSetup`: a name, the repository settings and the domains, all optional. */
export interface SiteSetup extends DomainInput, ProtectionInput {
  name?: string;
  repo?: RepoInput;
  build_settings?: RepoInput;
}

/** Everything the presenter shows about a site, secrets opened for its members. */
export interface SiteView {
  site: Site;
  account: Account;
  repo: RepoSettings | null;
  envKeys: string[];
  webhookSecret: string | null;
  publishedDeploy: Deploy | null;
  /** The site's certificate is in use (Netlify's `ssl`). */
  sslActive: boolean;
  /** Which deploys the site's visitor password protects; null: no password. */
  passwordContext: PasswordContext | null;
}

/** `repo` wins over `build_settings` when a client sends both. */
export function repoInput(body: SiteSetup): { input: RepoInput; prefix: string } | undefined {
  if (body.repo !== undefined) return { input: body.repo, prefix: "repo" };
  if (body.build_settings !== undefined)
    return { input: body.build_settings, prefix: "build_settings" };
  return undefined;
}

/** Work done in the transaction that stores a site (its first build, when linked). */
export interface SiteHooks {
  onCreated?: (trx: Kysely<PlatformDatabase>, site: Site) => Promise<void>;
  onUpdated?: (trx: Kysely<PlatformDatabase>, before: Site, after: Site) => Promise<void>;
}

/**
 * Creates a site in an account: name (given or generated) and, with `repo`, its repository
 * link and a fresh webhook secret. Every field is checked before the site is stored.
 * `hooks.onCreated` runs in the same transaction (the first build is stored with the site).
 */
export async function createSite(
  ctx: PlatformContext,
  actor: Actor,
  accountId: string,
  body: SiteSetup,
  hooks: SiteHooks = {},
): Promise<Site> {
  authorize(actor, "update", { account_id: accountId }, "Account");
  const requested =
    body.name === undefined || body.name === "" ? undefined : checkSiteName(body.name);
  const repo = repoInput(body);
  const settings = repo
    ? await resolveRepoSettings(ctx, actor, accountId, null, repo.input, repo.prefix)
    : null;
  const env = repo?.input.env !== undefined ? checkEnv(`${repo.prefix}.env`, repo.input.env) : {};
  const protection = await checkProtectionInput(ctx, null, body);

  for (let attempt = 0; ; attempt++) {
    const name = requested ?? generatedName();
    const domains = checkDomainInput(ctx, name, body, null);
    const id = uuid();
    const now = isoNow(ctx);
    const site: Site = {
      ...domains.columns,
      id,
      account_id: accountId,
      created_by: actor.user.id,
      name,
      state: "current",
      ...repoColumns(settings),
      env_sealed: sealEnv(ctx, id, env),
      webhook_secret_sealed: settings ? sealNewWebhookSecret(ctx, id) : null,
      connection_id: null,
      link_broken_reason: null,
      published_deploy_id: null,
      created_at: now,
      updated_at: now,
    };
    try {
      await ctx.db.transaction().execute(async (trx) => {
        await assertSiteQuota(ctx, accountId, trx);
        await trx.insertInto("sites").values(site).execute();
        await auditSite(trx, "site.create", site, body);
        if (domains.namesChanged) await syncDomainClaims(ctx, trx, site);
        if (protection) await applyProtectionChange(ctx, trx, site.id, protection);
        await hooks.onCreated?.(trx, site);
      });
      return site;
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      if (requested !== undefined) nameTaken(requested);
      if (attempt >= 5) throw error;
    }
  }
}

/**
 * A site by id (UUID), name or domain that the actor may `ability`, as Netlify's `site_id`;
 * any other site, and a site of another account, is "Site not found".
 */
export async function findSite(
  ctx: PlatformContext,
  actor: Actor,
  idOrName: string,
  ability: Ability = "read",
): Promise<Site> {
  const key = idOrName.toLowerCase();
  // A site's domains name it too, as on Netlify (`site_id=www.example.com`, `hello.netlify.app`).
  const site = key.includes(".")
    ? await findSiteByDomain(ctx, key)
    : await ctx.db
        .selectFrom("sites")
        .selectAll()
        .where(UUID.test(key) ? "id" : "name", "=", key)
        .executeTakeFirst();
  if (!site) throw notFound("Site");
  authorize(actor, ability, site, "Site");
  return site;
}

/** The site whose own host (`{name}.{sitesDomain}`), custom domain or alias `domain` is. */
async function findSiteByDomain(ctx: PlatformContext, domain: string): Promise<Site | undefined> {
  const ascii = domainToASCII(domain.replace(/\.$/, ""));
  if (ascii === "") return undefined;
  const sitesDomain = `.${ctx.config.sitesDomain}`;
  if (ascii.endsWith(sitesDomain)) {
    // Under the sites domain a site may use no name but its own (checkDomain).
    const name = ascii.slice(0, -sitesDomain.length);
    if (name.includes(".")) return undefined;
    return ctx.db.selectFrom("sites").selectAll().where("name", "=", name).executeTakeFirst();
  }
  return ctx.db
    .selectFrom("sites")
    .innerJoin("site_domains", "site_domains.site_id", "sites.id")
    .selectAll("sites")
    .where("site_domains.domain", "=", ascii)
    .where("site_domains.kind", "!=", "wildcard")
    .executeTakeFirst();
}

/**
 * Renames a site and/or changes its repository settings (merged into the current ones).
 * `hooks.onUpdated` runs in the same transaction.
 */
export async function updateSite(
  ctx: PlatformContext,
  actor: Actor,
  site: Site,
  body: SiteSetup,
  hooks: SiteHooks = {},
): Promise<Site> {
  authorize(actor, "update", site, "Site");
  const changes: SiteUpdate = {};
  if (body.name !== undefined && body.name !== site.name) {
    if (body.name === "") throw invalidField("name", "must not be empty");
    changes.name = checkSiteName(body.name);
  }
  const repo = repoInput(body);
  if (repo) {
    const current = readRepoSettings(site);
    const settings = await resolveRepoSettings(
      ctx,
      actor,
      site.account_id,
      current,
      repo.input,
      repo.prefix,
    );
    Object.assign(changes, repoColumns(settings));
    if (repo.input.env !== undefined) {
      changes.env_sealed = sealEnv(ctx, site.id, checkEnv(`${repo.prefix}.env`, repo.input.env));
    }
    if (site.webhook_secret_sealed === null) {
      changes.webhook_secret_sealed = sealNewWebhookSecret(ctx, site.id);
    }
  }
  const domains = checkDomainInput(ctx, changes.name ?? site.name, body, readDomainSettings(site));
  Object.assign(changes, domains.columns);
  const protection = await checkProtectionInput(ctx, site.id, body);
  if (Object.keys(changes).length === 0 && protection === undefined) return site;
  changes.updated_at = isoNow(ctx);
  try {
    return await ctx.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable("sites")
        .set(changes)
        .where("id", "=", site.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await auditSite(trx, "site.update", updated, body);
      if (domains.namesChanged) await syncDomainClaims(ctx, trx, updated);
      if (protection) await applyProtectionChange(ctx, trx, site.id, protection);
      await hooks.onUpdated?.(trx, site, updated);
      return updated;
    });
  } catch (error) {
    if (isUniqueViolation(error) && changes.name !== undefined) nameTaken(changes.name);
    throw error;
  }
}

/**
 * Removes the repository link: every repository and build setting, the webhook secret (its URL
 * stops working) and the site's build hooks. The environment stays. The account's deploy keys
 * are not deleted (other sites may use them); Netlify deletes the site's own key.
 */
export async function unlinkSite(ctx: PlatformContext, actor: Actor, site: Site): Promise<Site> {
  authorize(actor, "update", site, "Site");
  return ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom("build_hooks").where("site_id", "=", site.id).execute();
    // What linking through a connection recorded goes too (the caller removed it at the provider).
    await trx.deleteFrom("site_links").where("site_id", "=", site.id).execute();
    await auditSite(trx, "site.unlink", site, {});
    return trx
      .updateTable("sites")
      .set({
        ...repoColumns(null),
        webhook_secret_sealed: null,
        connection_id: null,
        link_broken_reason: null,
        updated_at: isoNow(ctx),
      })
      .where("id", "=", site.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/** A new webhook secret for a linked site; the old one stops working at once. */
export async function rotateWebhookSecret(
  ctx: PlatformContext,
  actor: Actor,
  site: Site,
): Promise<Site> {
  authorize(actor, "update", site, "Site");
  if (readRepoSettings(site) === null) {
    throw invalidField(
      "site_id",
      "the site is not linked to a repository, so it has no git webhook; link it first with PATCH /api/v1/sites/:site_id and a repo object",
    );
  }
  return ctx.db.transaction().execute(async (trx) => {
    await auditSite(trx, "site.rotate_webhook_secret", site, { webhook_secret: true });
    return trx
      .updateTable("sites")
      .set({
        webhook_secret_sealed: sealNewWebhookSecret(ctx, site.id),
        updated_at: isoNow(ctx),
      })
      .where("id", "=", site.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/** Deletes a site with its builds, deploys, deliveries and hooks (foreign keys cascade). */
export async function deleteSite(ctx: PlatformContext, actor: Actor, site: Site): Promise<void> {
  authorize(actor, "delete", site, "Site");
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom("sites").where("id", "=", site.id).execute();
    await auditSite(trx, "site.delete", site, {});
  });
}

/**
 * An audit event for a change to `site`; the changed fields are the request's field names
 * (one level into `repo`/`build_settings`), never their values.
 */
function auditSite(
  trx: Kysely<PlatformDatabase>,
  action: AuditAction,
  site: Site,
  body: object,
): Promise<void> {
  const fields = Object.entries(body).flatMap(([key, value]) =>
    (key === "repo" || key === "build_settings") && value !== null && typeof value === "object"
      ? Object.keys(value).map((inner) => `${key}.${inner}`)
      : [key],
  );
  return recordAudit(trx, {
    action,
    accountId: site.account_id,
    target: { type: "site", id: site.id, name: site.name },
    fields,
  });
}

export interface SiteListQuery {
  accountIds: readonly string[];
  name: string | undefined;
  offset: number;
  limit: number;
}

/**
 * Sites of the given accounts (already narrowed to the actor's by the caller), by name, with
 * the total for pagination. `name` matches part of the name, as Netlify's search does, and the
 * site of exactly that name comes first: netlify-cli looks for it in the first page only
 * (`netlify link --name`, `netlify deploy --site <name>`).
 */
export async function listSites(
  ctx: PlatformContext,
  query: SiteListQuery,
): Promise<{ sites: Site[]; total: number }> {
  if (query.accountIds.length === 0) return { sites: [], total: 0 };
  let base = ctx.db.selectFrom("sites").where("account_id", "in", query.accountIds);
  let exact = "";
  if (query.name !== undefined && query.name !== "") {
    const needle = query.name.toLowerCase();
    // Names hold only [a-z0-9-]; anything else matches nothing (and no LIKE wildcard gets in).
    if (!/^[a-z0-9-]+$/.test(needle)) return { sites: [], total: 0 };
    base = base.where("name", "like", `%${needle}%`);
    exact = needle;
  }
  const { n } = await base
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  const sites = await base
    .selectAll()
    .orderBy((eb) => eb("name", "=", exact), "desc")
    .orderBy("name")
    .limit(query.limit)
    .offset(query.offset)
    .execute();
  return { sites, total: Number(n) };
}

/** Loads what the presenter needs for each site (accounts and published deploys in batches). */
export async function viewSites(ctx: PlatformContext, sites: readonly Site[]): Promise<SiteView[]> {
  if (sites.length === 0) return [];
  const accountIds = [...new Set(sites.map((s) => s.account_id))];
  const accounts = new Map(
    (await ctx.db.selectFrom("accounts").selectAll().where("id", "in", accountIds).execute()).map(
      (a) => [a.id, a],
    ),
  );
  const deployIds = sites.map((s) => s.published_deploy_id).filter((d): d is string => d !== null);
  const deploys = new Map(
    deployIds.length === 0
      ? []
      : (await ctx.db.selectFrom("deploys").selectAll().where("id", "in", deployIds).execute()).map(
          (d) => [d.id, d],
        ),
  );
  const secured = new Set(
    (
      await ctx.db
        .selectFrom("site_certificates")
        .select("site_id")
        .where(
          "site_id",
          "in",
          sites.map((s) => s.id),
        )
        .where("certificate_pem", "is not", null)
        .execute()
    ).map((c) => c.site_id),
  );
  const protectedSites = await passwordContexts(
    ctx.db,
    sites.map((s) => s.id),
  );
  return sites.map((site) => ({
    site,
    sslActive: secured.has(site.id),
    passwordContext: protectedSites.get(site.id) ?? null,
    account: accounts.get(site.account_id)!,
    repo: readRepoSettings(site),
    envKeys: Object.keys(readEnv(ctx, site)).sort(),
    webhookSecret: readWebhookSecret(ctx, site),
    publishedDeploy:
      site.published_deploy_id === null ? null : (deploys.get(site.published_deploy_id) ?? null),
  }));
}

export async function viewSite(ctx: PlatformContext, site: Site): Promise<SiteView> {
  const [view] = await viewSites(ctx, [site]);
  return view!;
}
