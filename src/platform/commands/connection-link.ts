import type { Kysely } from "kysely";
import type { Actor } from "../accounts/tokens.ts";
import type { RepoInput } from "../sites/repo-settings.ts";
import { createSite, repoInput, updateSite, type SiteSetup } from "../sites/sites.ts";
import type { BuildRequestResult } from "../builds/service.ts";
import { firstBuild } from "./first-build.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type {
  GitConnection,
  GitProviderName,
  PlatformDatabase,
  Site,
  SiteLink,
} from "../db/schema.ts";
import { invalidField } from "../errors.ts";
import { can } from "../accounts/policies.ts";
import { connectionClient } from "../connections/clients.ts";
import { ProviderError, type ProviderRepo } from "../providers/types.ts";
import { RepoUrlError, validateRepoUrl } from "../repos/repo-url.ts";
import { checkLink, type LinkHealth } from "../links/health.ts";
import { asApiError, providerFailure } from "../connections/provider-errors.ts";
import {
  findLink,
  linkRepository,
  removeInstalled,
  type LinkOutcome,
  type RemovalReport,
} from "../links/service.ts";
import { PROVIDER_TERMS, StepLog } from "../links/steps.ts";

/**
 * Sites linked through a provider connection: `POST /sites` (and `PATCH /sites/:id`) with a
 * `repo` naming the repository (`repo_path`, or the provider's `id`) and a connection (given,
 * or the account's only one for that provider and host) and no `deploy_key_id`. The
 * repository is looked up first (a refusal is a 4xx and nothing is stored); then the site is
 * stored with its connection and link row, the provider's half is done, and only then does
 * the single initial build start. A failed step leaves the site with the failure recorded.
 */

const LINKABLE = new Set<string>(["github", "gitlab", "bitbucket", "gitea"]);

export interface ConnectionPlan {
  connection: GitConnection;
  repo: ProviderRepo;
  /** The request with `repo_url`, `repo_path`, `id` and the branch filled in from the provider. */
  body: SiteSetup;
}

/** What linking through a connection did, as API responses show it (`link`). */
export interface LinkResult {
  site: Site;
  started: BuildRequestResult | undefined;
  link: ReturnType<typeof presentOutcome>;
}

export function presentOutcome(
  connection: GitConnection,
  repo: Pick<ProviderRepo, "id" | "fullPath">,
  outcome: LinkOutcome,
  extra: { removed_from_previous?: RemovalReport; health?: LinkHealth } = {},
) {
  return {
    status: outcome.ok ? ("linked" as const) : ("failed" as const),
    connection_id: connection.id,
    provider: connection.provider,
    repository: { id: repo.id, full_path: repo.fullPath },
    steps: outcome.steps,
    error: outcome.failure ?? null,
    ...extra,
  };
}

const given = (value: string | number | undefined): boolean => value !== undefined && value !== "";

/** Whether a PATCH names the repository (and so links again), not just build settings. */
const namesRepository = (input: RepoInput): boolean =>
  given(input.connection_id) ||
  given(input.id) ||
  given(input.repo_path) ||
  given(input.repo_url) ||
  given(input.repo_branch) ||
  input.provider !== undefined;

/** `github.com` for `api.github.com`, `bitbucket.org` for `api.bitbucket.org`. */
const siteHost = (hostname: string): string => hostname.toLowerCase().replace(/^api\./, "");

/** The repository path in a URL (`group/project` of `git@host:group/project.git`). */
function pathInUrl(url: string): { host: string; path: string } | undefined {
  try {
    const parsed = validateRepoUrl(url);
    return { host: parsed.host, path: parsed.path.replace(/^\/+/, "").replace(/\.git$/, "") };
  } catch (error) {
    if (error instanceof RepoUrlError) return undefined;
    throw error;
  }
}

/** The repository in the provider's native form, from what the request gives. */
function repoRef(input: RepoInput, previous: SiteLink | undefined): string | undefined {
  if (typeof input.id === "number") return String(input.id);
  if (given(input.id)) return String(input.id).trim();
  if (given(input.repo_path)) {
    const path = input.repo_path!.trim();
    return /^(ssh:\/\/|https:\/\/|[^/:]+@[^/:]+:)/.test(path) ? pathInUrl(path)?.path : path;
  }
  if (given(input.repo_url)) return pathInUrl(input.repo_url!)?.path;
  return previous?.repo_ref;
}

async function connectionById(
  ctx: PlatformContext,
  actor: Actor,
  accountId: string,
  id: string,
  field: string,
): Promise<GitConnection> {
  const connection = await ctx.db
    .selectFrom("git_connections")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirst();
  if (!connection || !can(actor, "read", connection)) {
    throw invalidField(
      field,
      `there is no git connection ${JSON.stringify(id.slice(0, 40))} in your accounts; create one with POST /api/v1/git_connections`,
    );
  }
  if (connection.account_id !== accountId) {
    throw invalidField(
      field,
      "the git connection belongs to another of your accounts than the site",
    );
  }
  return connection;
}

/**
 * Decides whether a site create/update links through a connection, and if so looks the
 * repository up at the provider. Undefined: the request is not one (the manual flow with
 * `deploy_key_id` and `repo_url`, a settings-only update, or no connection for the provider).
 */
export async function planConnectionLink(
  ctx: PlatformContext,
  actor: Actor,
  accountId: string,
  body: SiteSetup,
  current?: Site,
): Promise<ConnectionPlan | undefined> {
  const part = repoInput(body);
  if (!part) return undefined;
  const { input, prefix } = part;
  const f = (name: string): string => `${prefix}.${name}`;
  const explicit = given(input.connection_id);
  if (!explicit && given(input.deploy_key_id)) return undefined;
  // Cloned over HTTPS through a GitHub App installation (links/installations.ts): no deploy key.
  if (!explicit && input.installation_id !== undefined && input.installation_id !== null) {
    return undefined;
  }
  if (current && !explicit) {
    // A site linked by hand stays so; a connection site links again only when the repository,
    // branch or provider is named.
    if (current.connection_id === null && current.repo_url !== null) return undefined;
    if (current.connection_id !== null && !namesRepository(input)) return undefined;
  }
  const previous = current ? await findLink(ctx, current.id) : undefined;
  const provider = input.provider ?? current?.repo_provider ?? undefined;

  let connection: GitConnection | undefined;
  if (explicit) {
    connection = await connectionById(
      ctx,
      actor,
      accountId,
      input.connection_id!,
      f("connection_id"),
    );
  } else if (current?.connection_id) {
    connection = await ctx.db
      .selectFrom("git_connections")
      .selectAll()
      .where("id", "=", current.connection_id)
      .executeTakeFirst();
    if (!connection) {
      throw invalidField(
        f("connection_id"),
        "the site's git connection was deleted; name another one",
      );
    }
  } else {
    if (provider === undefined || !LINKABLE.has(provider)) return undefined;
    let candidates = await ctx.db
      .selectFrom("git_connections")
      .selectAll()
      .where("account_id", "=", accountId)
      .where("provider", "=", provider as GitProviderName)
      .orderBy("created_at")
      .execute();
    const host = given(input.repo_url) ? pathInUrl(input.repo_url!)?.host : undefined;
    if (host !== undefined) {
      candidates = candidates.filter(
        (c) => siteHost(new URL(c.base_url).hostname) === siteHost(host),
      );
    }
    if (candidates.length === 0) return undefined;
    if (candidates.length > 1) {
      throw invalidField(
        f("connection_id"),
        `the account has ${candidates.length} ${PROVIDER_TERMS[provider as GitProviderName].name} connections (${candidates.map((c) => `${c.id}: ${c.remote_identity} on ${new URL(c.base_url).host}`).join(", ")}); choose one`,
      );
    }
    connection = candidates[0]!;
  }
  if (provider !== undefined && LINKABLE.has(provider) && provider !== connection.provider) {
    throw invalidField(
      f("provider"),
      `is ${provider}, but the git connection is for ${PROVIDER_TERMS[connection.provider].name}`,
    );
  }

  const ref = repoRef(input, previous);
  if (ref === undefined || ref === "") {
    throw invalidField(
      f("repo_path"),
      `is required to link through the ${PROVIDER_TERMS[connection.provider].name} connection: the repository's path (${connection.provider === "bitbucket" ? "workspace/repo_slug" : connection.provider === "gitlab" ? "group/project" : "owner/repo"}) or its id (${prefix}.id)`,
    );
  }
  const client = connectionClient(ctx, connection);
  const field = given(input.id) ? f("id") : f("repo_path");
  const repo = await asApiError(client.getRepo(ref), { field });
  const linked: RepoInput = {
    ...input,
    provider: connection.provider,
    repo_url: repo.sshUrl,
    repo_path: repo.fullPath,
    id: /^\d+$/.test(repo.id) ? Number(repo.id) : repo.id,
    repo_branch: input.repo_branch ?? current?.repo_branch ?? repo.defaultBranch,
  };
  return { connection, repo, body: { ...body, [prefix]: linked } };
}

/** The link row and the site's connection, written with the site (one transaction). */
async function recordConnection(
  ctx: PlatformContext,
  trx: Kysely<PlatformDatabase>,
  site: Site,
  plan: ConnectionPlan,
): Promise<void> {
  const now = isoNow(ctx);
  await trx
    .updateTable("sites")
    .set({ connection_id: plan.connection.id })
    .where("id", "=", site.id)
    .execute();
  const existing = await trx
    .selectFrom("site_links")
    .select("site_id")
    .where("site_id", "=", site.id)
    .executeTakeFirst();
  if (!existing) {
    await trx
      .insertInto("site_links")
      .values({
        site_id: site.id,
        connection_id: plan.connection.id,
        provider: plan.connection.provider,
        repo_ref: plan.repo.id,
        remote_key_id: null,
        remote_hook_id: null,
        steps: "[]",
        health: null,
        checked_at: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
  }
}

const reload = (ctx: PlatformContext, id: string): Promise<Site> =>
  ctx.db.selectFrom("sites").selectAll().where("id", "=", id).executeTakeFirstOrThrow();

async function hasBuilds(ctx: PlatformContext, siteId: string): Promise<boolean> {
  const row = await ctx.db
    .selectFrom("builds")
    .select("id")
    .where("site_id", "=", siteId)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** `POST /sites` through a connection; undefined when the request is not one. */
export async function createSiteThroughConnection(
  ctx: PlatformContext,
  actor: Actor,
  accountId: string,
  body: SiteSetup,
): Promise<LinkResult | undefined> {
  const plan = await planConnectionLink(ctx, actor, accountId, body);
  if (!plan) return undefined;
  const created = await createSite(ctx, actor, accountId, plan.body, {
    onCreated: (trx, site) => recordConnection(ctx, trx, site, plan),
  });
  const site = await reload(ctx, created.id);
  const outcome = await linkRepository(ctx, actor, {
    site,
    connection: plan.connection,
    repo: plan.repo,
    branch: site.repo_branch ?? plan.repo.defaultBranch,
  });
  const started = outcome.ok ? await firstBuild(ctx, site) : undefined;
  return {
    site: await reload(ctx, site.id),
    started,
    link: presentOutcome(plan.connection, plan.repo, outcome),
  };
}

/** `PATCH /sites/:id` through a connection (link again, or link another repository). */
export async function updateSiteThroughConnection(
  ctx: PlatformContext,
  actor: Actor,
  site: Site,
  body: SiteSetup,
): Promise<LinkResult | undefined> {
  const plan = await planConnectionLink(ctx, actor, site.account_id, body, site);
  if (!plan) return undefined;
  const previous = await findLink(ctx, site.id);
  const previousConnection =
    previous === undefined
      ? undefined
      : await ctx.db
          .selectFrom("git_connections")
          .selectAll()
          .where("id", "=", previous.connection_id)
          .executeTakeFirst();
  const built = await hasBuilds(ctx, site.id);
  const updated = await updateSite(ctx, actor, site, plan.body, {
    onUpdated: (trx, _before, after) => recordConnection(ctx, trx, after, plan),
  });
  const fresh = await reload(ctx, updated.id);
  const outcome = await linkRepository(ctx, actor, {
    site: fresh,
    connection: plan.connection,
    repo: plan.repo,
    branch: fresh.repo_branch ?? plan.repo.defaultBranch,
  });
  // Another repository (or another host): what was installed at the old one goes.
  let removedFromPrevious: RemovalReport | undefined;
  const moved =
    previous !== undefined &&
    (previous.repo_ref !== plan.repo.id ||
      previousConnection?.base_url !== plan.connection.base_url);
  if (outcome.ok && moved && previous) {
    removedFromPrevious = await removeInstalled(ctx, site, previous);
  }
  const relinked =
    site.repo_url !== fresh.repo_url ||
    site.repo_branch !== fresh.repo_branch ||
    site.deploy_key_id !== fresh.deploy_key_id;
  const started = outcome.ok && (relinked || !built) ? await firstBuild(ctx, fresh) : undefined;
  return {
    site: await reload(ctx, site.id),
    started,
    link: presentOutcome(
      plan.connection,
      plan.repo,
      outcome,
      removedFromPrevious ? { removed_from_previous: removedFromPrevious } : {},
    ),
  };
}

/**
 * `POST /sites/:id/link/repair`: links again (reinstalls a missing key or hook, re-enables a
 * disabled hook), checks the link, and starts the initial build if linking never got that far.
 */
export async function repairLink(
  ctx: PlatformContext,
  actor: Actor,
  site: Site,
): Promise<LinkResult & { health: LinkHealth | undefined }> {
  const link = await findLink(ctx, site.id);
  if (!link || site.repo_url === null) {
    throw invalidField(
      "site_id",
      "the site is not linked through a git connection, so Slipway cannot repair anything at the provider; follow the manual steps of GET /api/v1/sites/:site_id/link, or link it through a connection (PATCH /api/v1/sites/:site_id with repo.connection_id and repo.repo_path)",
    );
  }
  const connection = await ctx.db
    .selectFrom("git_connections")
    .selectAll()
    .where("id", "=", link.connection_id)
    .executeTakeFirst();
  if (!connection) {
    throw invalidField(
      "site_id",
      "the site's git connection was deleted; link the site through another one (PATCH /api/v1/sites/:site_id with repo.connection_id)",
    );
  }
  const built = await hasBuilds(ctx, site.id);
  let repo: ProviderRepo;
  try {
    repo = await connectionClient(ctx, connection).getRepo(link.repo_ref);
  } catch (error) {
    if (error instanceof ProviderError) {
      await new StepLog(ctx, site.id).add("repository", "failed", error.message, error.hint);
    }
    throw providerFailure(error);
  }
  const outcome = await linkRepository(ctx, actor, {
    site,
    connection,
    repo,
    branch: site.repo_branch ?? repo.defaultBranch,
  });
  // Linking has just read the branch with the key: the check reuses that.
  const cloned = outcome.steps.find((s) => s.step === "clone_access");
  const health = outcome.ok
    ? await checkLink(ctx, await reload(ctx, site.id), {
        cloneAccess: false,
        branch: {
          ok: true,
          readable: true,
          checked_at: cloned?.at,
          message: cloned?.message ?? "",
        },
      })
    : undefined;
  const fresh = await reload(ctx, site.id);
  const started = outcome.ok && !built ? await firstBuild(ctx, fresh) : undefined;
  return {
    site: fresh,
    started,
    health,
    link: presentOutcome(connection, repo, outcome, health ? { health } : {}),
  };
}
