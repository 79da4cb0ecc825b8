import type { Kysely } from "kysely";
import type { QuotaDefaults } from "../../config.ts";
import { formatSize } from "../../lib/sizes.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { Account, PlatformDatabase } from "../db/schema.ts";
import { notFound, PlatformError } from "../errors.ts";
import { assertPlatformAdmin } from "../accounts/policies.ts";
import type { Actor } from "../accounts/tokens.ts";

/**
 * Per-account quotas: storage (the bytes of the account's deploys that retention keeps, each
 * deploy counted whole: sharing blobs on disk is the platform's saving), sites, and builds
 * running at once. Each is the instance's default (`SLIPWAY_QUOTA_*`) unless an administrator
 * set the account's own (`account_quotas`); 0 or null means no limit. Reported as Netlify's
 * account `capabilities` (`{included, used}`), enforced where each grows: site creation
 * (`sites/`), deploy creation and upload (`deploys/`), build start (`build-slots.ts`: the build
 * waits in the queue).
 */

export type QuotaName = "storage" | "sites" | "concurrent_builds";

export interface Capability {
  /** The limit; null: none. */
  included: number | null;
  used: number;
}

export type Capabilities = Record<QuotaName, Capability>;

type Db = Kysely<PlatformDatabase>;

/** What an administrator may set per account (null: back to the instance's default). */
export interface QuotaOverrides {
  storage_bytes?: number | null;
  sites?: number | null;
  concurrent_builds?: number | null;
}

async function limitsOf(
  db: Db,
  defaults: QuotaDefaults | undefined,
  accountId: string,
): Promise<Record<QuotaName, number | null>> {
  const own = await db
    .selectFrom("account_quotas")
    .selectAll()
    .where("account_id", "=", accountId)
    .executeTakeFirst();
  const pick = (value: number | null | undefined, fallback: number | undefined): number | null => {
    const chosen = value ?? fallback;
    return chosen === undefined || chosen === 0 ? null : Number(chosen);
  };
  return {
    storage: pick(own?.storage_bytes, defaults?.storageBytes),
    sites: pick(own?.sites, defaults?.sites),
    concurrent_builds: pick(own?.concurrent_builds, defaults?.concurrentBuilds),
  };
}

async function storageUsed(db: Db, accountId: string): Promise<number> {
  const row = await db
    .selectFrom("deploys as d")
    .innerJoin("sites as s", "s.id", "d.site_id")
    .select((eb) => eb.fn.sum<number | string | null>("d.size_bytes").as("bytes"))
    .where("s.account_id", "=", accountId)
    .where("d.expired_at", "is", null)
    .executeTakeFirstOrThrow();
  return Number(row.bytes ?? 0);
}

async function sitesUsed(db: Db, accountId: string): Promise<number> {
  const row = await db
    .selectFrom("sites")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("account_id", "=", accountId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function buildsRunning(db: Db, accountId: string): Promise<number> {
  const row = await db
    .selectFrom("builds as b")
    .innerJoin("sites as s", "s.id", "b.site_id")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("s.account_id", "=", accountId)
    .where("b.state", "=", "building")
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function accountCapabilities(
  ctx: Pick<PlatformContext, "db" | "config">,
  accountId: string,
): Promise<Capabilities> {
  const limits = await limitsOf(ctx.db, ctx.config.quotas, accountId);
  return {
    storage: { included: limits.storage, used: await storageUsed(ctx.db, accountId) },
    sites: { included: limits.sites, used: await sitesUsed(ctx.db, accountId) },
    concurrent_builds: {
      included: limits.concurrent_builds,
      used: await buildsRunning(ctx.db, accountId),
    },
  };
}

/** The account's limit of builds at once, or null. */
export async function concurrentBuildLimit(
  ctx: Pick<PlatformContext, "db" | "config">,
  accountId: string,
): Promise<number | null> {
  return (await limitsOf(ctx.db, ctx.config.quotas, accountId)).concurrent_builds;
}

/** Refuses a new site past the account's sites quota (403 naming it and the usage). */
export async function assertSiteQuota(
  ctx: Pick<PlatformContext, "db" | "config">,
  accountId: string,
  db: Db = ctx.db,
): Promise<void> {
  const { sites: included } = await limitsOf(db, ctx.config.quotas, accountId);
  if (included === null) return;
  const used = await sitesUsed(db, accountId);
  if (used >= included) {
    throw new PlatformError(
      "forbidden",
      `sites quota reached: the account has ${used} sites of the ${included} included (SLIPWAY_QUOTA_SITES, or the account's own quota set by an administrator); delete a site first`,
    );
  }
}

/** Refuses a new deploy or upload while the account's kept deploys fill its storage quota. */
export async function assertStorageQuota(
  ctx: Pick<PlatformContext, "db" | "config">,
  accountId: string,
  adding = 0,
): Promise<void> {
  const { storage: included } = await limitsOf(ctx.db, ctx.config.quotas, accountId);
  if (included === null) return;
  const used = await storageUsed(ctx.db, accountId);
  if (used + adding > included) {
    throw new PlatformError(
      "forbidden",
      `storage quota reached: the account's kept deploys use ${formatSize(used)} (${used} bytes)${adding > 0 ? ` and this adds ${formatSize(adding)}` : ""}, of ${formatSize(included)} included (SLIPWAY_QUOTA_STORAGE, or the account's own quota set by an administrator); delete or unlock old deploys, or ask for more`,
    );
  }
}

/** An administrator sets (or, with null, resets) an account's own quotas. */
export async function setQuotaOverrides(
  ctx: PlatformContext,
  accountId: string,
  overrides: QuotaOverrides,
): Promise<void> {
  const now = isoNow(ctx);
  const current = await ctx.db
    .selectFrom("account_quotas")
    .selectAll()
    .where("account_id", "=", accountId)
    .executeTakeFirst();
  const row = {
    account_id: accountId,
    storage_bytes:
      overrides.storage_bytes !== undefined
        ? overrides.storage_bytes
        : (current?.storage_bytes ?? null),
    sites: overrides.sites !== undefined ? overrides.sites : (current?.sites ?? null),
    concurrent_builds:
      overrides.concurrent_builds !== undefined
        ? overrides.concurrent_builds
        : (current?.concurrent_builds ?? null),
    updated_at: now,
  };
  await ctx.db
    .insertInto("account_quotas")
    .values(row)
    .onConflict((oc) =>
      oc.column("account_id").doUpdateSet({
        storage_bytes: row.storage_bytes,
        sites: row.sites,
        concurrent_builds: row.concurrent_builds,
        updated_at: now,
      }),
    )
    .execute();
}

/** The account an administrator names (by id or slug) to set its quotas; 404 otherwise. */
export async function findAccountForQuotas(
  ctx: PlatformContext,
  actor: Actor,
  slugOrId: string,
): Promise<Account> {
  assertPlatformAdmin(actor);
  const account = await ctx.db
    .selectFrom("accounts")
    .selectAll()
    .where((eb) => eb.or([eb("slug", "=", slugOrId.toLowerCase()), eb("id", "=", slugOrId)]))
    .executeTakeFirst();
  if (!account) throw notFound("Account");
  return account;
}
