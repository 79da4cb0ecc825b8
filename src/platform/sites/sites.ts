import type { Kysely } from "kysely";
import { randomBytes } from "node:crypto";
import { isUniqueViolation } from "../../lib/database.ts";
import { UUID, uuid } from "../../lib/ids.ts";
import type { Actor } from "../accounts/tokens.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type {
  Account,
  Deploy,
  PlatformDatabase,
  RepoProvider,
  Site,
  SiteUpdate,
} from "../db/schema.ts";
import { invalidField, notFound } from "../errors.ts";
import { authorize, type Ability } from "../accounts/policies.ts";
import {
  checkBranch,
  checkCheckoutDir,
  checkEnv,
  checkRepoUrl,
  checkText,
} from "./repo-settings.ts";
import { quote } from "../repos/repo-url.ts";
import { resolveInstallationSetting } from "../connections/installations.ts";
import { deployKeyForSite } from "../deploy-keys/deploy-keys.ts";

/**
 * Netlify's `repoInfo` (`repo`, or `build_settings`) as the domain reads it: the API's schema
 * caps lengths and types; `resolveRepoSettings` checks contents and says why a value is refused.
 * An empty string clears an optional setting.
 */
export interface RepoInput {
  provider?: RepoProvider;
  repo_url?: string;
  repo_path?: string;
  /** The provider's repository id: an integer (GitHub, GitLab) or `workspace/repo` (Bitbucket). */
  id?: number | string;
  repo_branch?: string;
  cmd?: string;
  dir?: string;
  base?: string;
  deploy_key_id?: string;
  installation_id?: number | null;
  /** The account's git connection to link through (Slipway installs the key and hook itself). */
  connection_id?: string;
  allowed_branches?: string[];
  env?: Record<string, string>;
  stop_builds?: boolean;
  build_network?: boolean;
}

/** Netlify's `siteSetup`: a name and the repository settings, both optional. */
export interface SiteSetup {
  name?: string;
  repo?: RepoInput;
  build_settings?: RepoInput;
}

/** A site's repository settings, complete and checked. */
export interface RepoSettings {
  provider: RepoProvider;
  repoUrl: string;
  repoPath: string | null;
  repoId: number | string | null;
  branch: string;
  cmd: string | null;
  dir: string | null;
  base: string | null;
  deployKeyId: string | null;
  /** GitHub App installation the repository is cloned through (`links/installations.ts`). */
  installationId: number | null;
  allowedBranches: string[];
  stopBuilds: boolean;
  /** Whether the build command may use the network (package installs); on by default. */
  buildNetwork: boolean;
}

/** Everything the presenter shows about a site, secrets opened for its members. */
export interface SiteView {
  site: Site;
  account: Account;
  repo: RepoSettings | null;
  envKeys: string[];
  webhookSecret: string | null;
  publishedDeploy: Deploy | null;
}

const SITE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DEFAULT_BRANCH = "main";

const envContext = (siteId: string): string => `site_env:${siteId}`;
const webhookContext = (siteId: string): string => `site_webhook:${siteId}`;

/** A fresh webhook secret: 32 random bytes, hex (accepted as a token or HMAC key everywhere). */
const newWebhookSecret = (): string => randomBytes(32).toString("hex");

/** A site name is its host name label, so DNS rules apply, and `--` is kept for permalinks. */
export function checkSiteName(name: string): string {
  if (!SITE_NAME.test(name) || name.includes("--") || UUID.test(name)) {
    throw invalidField(
      "name",
      `${quote(name)} is not a valid site name: use 1 to 63 lower-case letters, digits and single hyphens, not starting or ending with a hyphen (the name becomes the site's host name)`,
    );
  }
  return name;
}

const ADJECTIVES = [
  "amber",
  "brisk",
  "calm",
  "dapper",
  "eager",
  "fuzzy",
  "gentle",
  "humble",
  "jolly",
  "keen",
  "lively",
  "mellow",
  "nimble",
  "plucky",
  "quiet",
  "rapid",
  "sunny",
  "tidy",
  "vivid",
  "witty",
];
const NOUNS = [
  "badger",
  "comet",
  "dune",
  "ember",
  "fjord",
  "gecko",
  "harbor",
  "island",
  "lagoon",
  "meadow",
  "nebula",
  "otter",
  "pebble",
  "quartz",
  "reef",
  "sparrow",
  "tundra",
  "walrus",
  "yarrow",
  "zephyr",
];

function generatedName(): string {
  const [a, n, h] = [randomBytes(1)[0]!, randomBytes(1)[0]!, randomBytes(3).toString("hex")];
  return `${ADJECTIVES[a % ADJECTIVES.length]}-${NOUNS[n % NOUNS.length]}-${h}`;
}

/** The repository settings stored on a site, or null when it is not linked. */
export function readRepoSettings(site: Site): RepoSettings | null {
  if (site.repo_url === null || site.repo_provider === null) return null;
  return {
    provider: site.repo_provider,
    repoUrl: site.repo_url,
    repoPath: site.repo_path,
    repoId: site.repo_id === null ? null : (JSON.parse(site.repo_id) as number | string),
    branch: site.repo_branch ?? DEFAULT_BRANCH,
    cmd: site.build_cmd,
    dir: site.publish_dir,
    base: site.base_dir,
    deployKeyId: site.deploy_key_id,
    installationId: site.installation_id,
    allowedBranches: JSON.parse(site.allowed_branches) as string[],
    stopBuilds: site.stop_builds === 1,
    buildNetwork: site.build_network === 1,
  };
}

/** The site's build environment (opened from its sealed column). */
export function readEnv(ctx: PlatformContext, site: Site): Record<string, string> {
  if (site.env_sealed === null) return {};
  return JSON.parse(ctx.secrets.open(site.env_sealed, envContext(site.id))) as Record<
    string,
    string
  >;
}

/** The secret the site's git webhook checks (token or HMAC key), or null when not linked. */
export function readWebhookSecret(ctx: PlatformContext, site: Site): string | null {
  return site.webhook_secret_sealed === null
    ? null
    : ctx.secrets.open(site.webhook_secret_sealed, webhookContext(site.id));
}

const emptyToNull = (value: string | undefined): string | null | undefined =>
  value === undefined ? undefined : value === "" ? null : value;

/**
 * Merges a `repo` (or `build_settings`) object into the current settings and checks the
 * result, field by field, before anything is stored. Linking needs `repo_url` (or, as
 * `netlify-cli` sends it for a hand-typed remote, a URL in `repo_path`).
 */
async function resolveRepoSettings(
  ctx: PlatformContext,
  actor: Actor,
  accountId: string,
  current: RepoSettings | null,
  input: RepoInput,
  prefix: string,
): Promise<RepoSettings> {
  const f = (name: string): string => `${prefix}.${name}`;
  const provider: RepoProvider = input.provider ?? current?.provider ?? "git";
  let repoUrl = input.repo_url === "" ? undefined : input.repo_url;
  if (
    repoUrl === undefined &&
    current === null &&
    (provider === "manual" || provider === "git") &&
    input.repo_path !== undefined &&
    /^(ssh:\/\/|https:\/\/|[^/:]+@[^/:]+:)/.test(input.repo_path)
  ) {
    repoUrl = input.repo_path;
  }
  if (repoUrl === undefined && current === null) {
    throw invalidField(
      f("repo_url"),
      "is required to link a repository (ssh://git@host/owner/repo.git, git@host:owner/repo.git or https://host/owner/repo.git)",
    );
  }
  if (repoUrl !== undefined) {
    await checkRepoUrl(f("repo_url"), repoUrl, {
      resolve: ctx.resolveHost,
      allowed: ctx.config.allowedPrivateRepoHosts,
    });
  }

  const branch =
    input.repo_branch !== undefined
      ? checkBranch(f("repo_branch"), input.repo_branch)
      : (current?.branch ?? DEFAULT_BRANCH);
  let allowedBranches: string[];
  if (input.allowed_branches !== undefined) {
    allowedBranches = [
      ...new Set(input.allowed_branches.map((b, i) => checkBranch(f(`allowed_branches.${i}`), b))),
    ];
  } else if (current === null) {
    allowedBranches = [branch];
  } else if (
    current.allowedBranches.length === 1 &&
    current.allowedBranches[0] === current.branch
  ) {
    // Still the default (just the production branch): follow a change of production branch.
    allowedBranches = [branch];
  } else {
    allowedBranches = current.allowedBranches;
  }

  const dir = emptyToNull(input.dir);
  const base = emptyToNull(input.base);
  const cmd = emptyToNull(input.cmd);
  if (cmd !== undefined && cmd !== null && cmd.includes("\0")) {
    throw invalidField(f("cmd"), "must not contain NUL characters");
  }
  const repoPath = emptyToNull(input.repo_path);
  let repoId: number | string | null | undefined = input.id === "" ? null : input.id;
  if (typeof repoId === "string") repoId = checkText(f("id"), repoId, 255);

  let deployKeyId = emptyToNull(input.deploy_key_id);
  if (deployKeyId !== undefined && deployKeyId !== null) {
    deployKeyId = (await deployKeyForSite(ctx, actor, f("deploy_key_id"), deployKeyId, accountId))
      .id;
  }

  return {
    provider,
    repoUrl: repoUrl ?? current!.repoUrl,
    repoPath:
      repoPath === undefined
        ? (current?.repoPath ?? null)
        : repoPath === null
          ? null
          : checkText(f("repo_path"), repoPath, 2048),
    repoId: repoId === undefined ? (current?.repoId ?? null) : repoId,
    branch,
    cmd: cmd === undefined ? (current?.cmd ?? null) : cmd,
    dir:
      dir === undefined
        ? (current?.dir ?? null)
        : dir === null
          ? null
          : checkCheckoutDir(f("dir"), dir),
    base:
      base === undefined
        ? (current?.base ?? null)
        : base === null
          ? null
          : checkCheckoutDir(f("base"), base),
    deployKeyId: deployKeyId === undefined ? (current?.deployKeyId ?? null) : deployKeyId,
    installationId: await resolveInstallationSetting(
      ctx,
      accountId,
      {
        requested: input.installation_id,
        current: current?.installationId ?? null,
        repoUrl: repoUrl ?? current!.repoUrl,
        repoUrlChanged: repoUrl !== undefined && repoUrl !== current?.repoUrl,
      },
      prefix,
    ),
    allowedBranches,
    stopBuilds: input.stop_builds ?? current?.stopBuilds ?? false,
    buildNetwork: input.build_network ?? current?.buildNetwork ?? true,
  };
}

type RepoColumns = Pick<
  Site,
  | "repo_provider"
  | "repo_url"
  | "repo_path"
  | "repo_id"
  | "repo_branch"
  | "build_cmd"
  | "publish_dir"
  | "base_dir"
  | "deploy_key_id"
  | "installation_id"
  | "allowed_branches"
  | "stop_builds"
  | "build_network"
>;

/** The columns that hold repository settings. */
function repoColumns(settings: RepoSettings | null): RepoColumns {
  return {
    repo_provider: settings?.provider ?? null,
    repo_url: settings?.repoUrl ?? null,
    repo_path: settings?.repoPath ?? null,
    repo_id: settings === null || settings.repoId === null ? null : JSON.stringify(settings.repoId),
    repo_branch: settings?.branch ?? null,
    build_cmd: settings?.cmd ?? null,
    publish_dir: settings?.dir ?? null,
    base_dir: settings?.base ?? null,
    deploy_key_id: settings?.deployKeyId ?? null,
    installation_id: settings?.installationId ?? null,
    allowed_branches: JSON.stringify(settings?.allowedBranches ?? []),
    stop_builds: settings?.stopBuilds === true ? 1 : 0,
    build_network: settings?.buildNetwork === false ? 0 : 1,
  };
}

function sealEnv(ctx: PlatformContext, siteId: string, env: Record<string, string>): string | null {
  return Object.keys(env).length === 0
    ? null
    : ctx.secrets.seal(JSON.stringify(env), envContext(siteId));
}

/** `repo` wins over `build_settings` when a client sends both. */
export function repoInput(body: SiteSetup): { input: RepoInput; prefix: string } | undefined {
  if (body.repo !== undefined) return { input: body.repo, prefix: "repo" };
  if (body.build_settings !== undefined)
    return { input: body.build_settings, prefix: "build_settings" };
  return undefined;
}

function nameTaken(name: string): never {
  throw invalidField("name", `the site name ${quote(name)} is already taken; choose another name`);
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

  for (let attempt = 0; ; attempt++) {
    const name = requested ?? generatedName();
    const id = uuid();
    const now = isoNow(ctx);
    const site: Site = {
      id,
      account_id: accountId,
      created_by: actor.user.id,
      name,
      state: "current",
      ...repoColumns(settings),
      env_sealed: sealEnv(ctx, id, env),
      webhook_secret_sealed: settings
        ? ctx.secrets.seal(newWebhookSecret(), webhookContext(id))
        : null,
      connection_id: null,
      link_broken_reason: null,
      published_deploy_id: null,
      created_at: now,
      updated_at: now,
    };
    try {
      await ctx.db.transaction().execute(async (trx) => {
        await trx.insertInto("sites").values(site).execute();
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
 * A site by id (UUID) or name that the actor may `ability`; any other site, and a site of
 * another account, is "Site not found".
 */
export async function findSite(
  ctx: PlatformContext,
  actor: Actor,
  idOrName: string,
  ability: Ability = "read",
): Promise<Site> {
  const key = idOrName.toLowerCase();
  const site = await ctx.db
    .selectFrom("sites")
    .selectAll()
    .where(UUID.test(key) ? "id" : "name", "=", key)
    .executeTakeFirst();
  if (!site) throw notFound("Site");
  authorize(actor, ability, site, "Site");
  return site;
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
      changes.webhook_secret_sealed = ctx.secrets.seal(newWebhookSecret(), webhookContext(site.id));
    }
  }
  if (Object.keys(changes).length === 0) return site;
  changes.updated_at = isoNow(ctx);
  try {
    return await ctx.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable("sites")
        .set(changes)
        .where("id", "=", site.id)
        .returningAll()
        .executeTakeFirstOrThrow();
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
  return ctx.db
    .updateTable("sites")
    .set({
      webhook_secret_sealed: ctx.secrets.seal(newWebhookSecret(), webhookContext(site.id)),
      updated_at: isoNow(ctx),
    })
    .where("id", "=", site.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Deletes a site with its builds, deploys, deliveries and hooks (foreign keys cascade). */
export async function deleteSite(ctx: PlatformContext, actor: Actor, site: Site): Promise<void> {
  authorize(actor, "delete", site, "Site");
  await ctx.db.deleteFrom("sites").where("id", "=", site.id).execute();
}

export interface SiteListQuery {
  accountIds: readonly string[];
  name: string | undefined;
  offset: number;
  limit: number;
}

/**
 * Sites of the given accounts (already narrowed to the actor's by the caller), by name, with
 * the total for pagination. `name` matches part of the name, as Netlify's search does.
 */
export async function listSites(
  ctx: PlatformContext,
  query: SiteListQuery,
): Promise<{ sites: Site[]; total: number }> {
  if (query.accountIds.length === 0) return { sites: [], total: 0 };
  let base = ctx.db.selectFrom("sites").where("account_id", "in", query.accountIds);
  if (query.name !== undefined && query.name !== "") {
    const needle = query.name.toLowerCase();
    // Names hold only [a-z0-9-]; anything else matches nothing (and no LIKE wildcard gets in).
    if (!/^[a-z0-9-]+$/.test(needle)) return { sites: [], total: 0 };
    base = base.where("name", "like", `%${needle}%`);
  }
  const { n } = await base
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  const sites = await base
    .selectAll()
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
  return sites.map((site) => ({
    site,
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
