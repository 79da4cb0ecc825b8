import { GitFetchError } from "../repos/diagnose.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { DeployKey, GitConnection, Site, SiteLink } from "../db/schema.ts";
import { recordConnectionUse } from "../connections/connections.ts";
import { connectionClient } from "../connections/clients.ts";
import { ProviderError, type ProviderRepo } from "../providers/types.ts";
import { branchesWithKey, findLink, keyBlob, repoHost } from "./service.ts";
import { PROVIDER_TERMS } from "./steps.ts";

/**
 * Link health: is the deploy key still at the provider, the webhook present and enabled, has a
 * delivery arrived since linking, can the key read the branch? Checked on demand
 * (`POST /sites/:id/link/check`), before each build of a site linked through a connection, and
 * periodically. What stops builds (access lost: token revoked, repository gone, key removed,
 * key refused) is stored in `sites.link_broken_reason` and shown with the site; a check that
 * finds access again clears it, and builds resume.
 */

/** One checked thing: `ok` null when it could not be checked (provider unreachable...). */
export interface HealthItem {
  ok: boolean | null;
  message: string;
  hint?: string;
}

export interface LinkHealth {
  checked_at: string;
  /** Everything checked is fine. */
  healthy: boolean;
  /** Why builds stop, or null. */
  broken_reason: string | null;
  connection: HealthItem | null;
  deploy_key: HealthItem & { present: boolean | null; remote_id: string | null };
  webhook: HealthItem & {
    present: boolean | null;
    enabled: boolean | null;
    remote_id: string | null;
  };
  last_delivery: {
    received: boolean;
    message: string;
    outcome?: string;
    reason?: string;
    status_code?: number;
    received_at?: string;
  };
  /** `code`: git's failure (`auth_failed`, `repo_not_found`, ...), when the read failed. */
  branch: HealthItem & { readable: boolean | null; checked_at?: string; code?: string };
}

const REPAIR = (siteId: string): string =>
  `POST /api/v1/sites/${siteId}/link/repair installs it again`;

export function readHealth(link: Pick<SiteLink, "health"> | undefined): LinkHealth | null {
  if (!link?.health) return null;
  try {
    return JSON.parse(link.health) as LinkHealth;
  } catch {
    return null;
  }
}

async function siteKey(ctx: PlatformContext, site: Site): Promise<DeployKey | undefined> {
  if (site.deploy_key_id === null) return undefined;
  return ctx.db
    .selectFrom("deploy_keys")
    .selectAll()
    .where("id", "=", site.deploy_key_id)
    .where("account_id", "=", site.account_id)
    .executeTakeFirst();
}

/** The last webhook delivery since `since` (the link's creation), from the platform's own log. */
async function lastDelivery(
  ctx: PlatformContext,
  siteId: string,
  since: string,
): Promise<LinkHealth["last_delivery"]> {
  const last = await ctx.db
    .selectFrom("webhook_deliveries")
    .selectAll()
    .where("site_id", "=", siteId)
    .where("received_at", ">=", since)
    .orderBy("received_at", "desc")
    .limit(1)
    .executeTakeFirst();
  if (!last) return { received: false, message: "no delivery received since the site was linked" };
  return {
    received: true,
    message: `last delivery at ${last.received_at}: ${last.outcome} (${last.reason})`,
    outcome: last.outcome,
    reason: last.reason,
    status_code: last.status_code,
    received_at: last.received_at,
  };
}

/** What the provider says about the key and hook (connection sites only). */
async function checkAtProvider(
  ctx: PlatformContext,
  site: Site,
  link: SiteLink,
  connection: GitConnection,
  key: DeployKey | undefined,
): Promise<Pick<LinkHealth, "connection" | "deploy_key" | "webhook"> & { repo?: ProviderRepo }> {
  const client = connectionClient(ctx, connection);
  const terms = PROVIDER_TERMS[connection.provider];
  const unknown = (message: string) => ({ ok: null, message });
  let repo: ProviderRepo;
  try {
    repo = await client.getRepo(link.repo_ref);
    await recordConnectionUse(ctx, connection.id, undefined);
  } catch (error) {
    if (!(error instanceof ProviderError)) throw error;
    await recordConnectionUse(ctx, connection.id, error);
    const item: HealthItem = {
      ok: error.kind === "unavailable" ? null : false,
      message:
        error.kind === "unavailable"
          ? `could not check the link at ${terms.name}: ${error.message}`
          : `the connection can no longer reach the repository: ${error.message}`,
      hint: error.hint,
    };
    return {
      connection: item,
      deploy_key: { ...unknown("not checked"), present: null, remote_id: link.remote_key_id },
      webhook: {
        ...unknown("not checked"),
        present: null,
        enabled: null,
        remote_id: link.remote_hook_id,
      },
    };
  }
  const where = `${repoHost(repo, connection)} ${repo.fullPath}`;
  const connectionItem: HealthItem = {
    ok: true,
    message: `the connection (${connection.remote_identity} on ${new URL(connection.base_url).host}) reaches ${repo.fullPath}`,
  };

  let deployKey: LinkHealth["deploy_key"];
  try {
    const keys = await client.listDeployKeys(repo);
    const blob = key ? keyBlob(key.public_key) : undefined;
    const present =
      keys.find(
        (k) => k.id === link.remote_key_id && (blob === undefined || keyBlob(k.key) === blob),
      ) ?? (blob === undefined ? undefined : keys.find((k) => keyBlob(k.key) === blob));
    const name = `deploy key${key ? ` ${key.fingerprint}` : ""}${link.remote_key_id !== null ? ` (id ${link.remote_key_id})` : ""}`;
    deployKey = present
      ? {
          ok: true,
          present: true,
          remote_id: present.id,
          message: `deploy key ${key?.fingerprint ?? present.id} is on ${where} as id ${present.id}${present.readOnly ? " (read-only)" : ""}`,
        }
      : link.remote_key_id === null
        ? {
            ok: false,
            present: false,
            remote_id: null,
            message: `no deploy key was installed on ${where} (linking did not finish)`,
            hint: `POST /api/v1/sites/${site.id}/link/repair installs it`,
          }
        : {
            ok: false,
            present: false,
            remote_id: link.remote_key_id,
            message: `${name} is no longer on ${where}: someone removed it from ${terms.deployKeysPlace}, so builds cannot fetch the repository`,
            hint: REPAIR(site.id),
          };
  } catch (error) {
    if (!(error instanceof ProviderError)) throw error;
    deployKey = {
      ok: error.kind === "unavailable" ? null : false,
      present: null,
      remote_id: link.remote_key_id,
      message: `could not list the deploy keys of ${where}: ${error.message}`,
      hint: error.hint,
    };
  }

  let webhook: LinkHealth["webhook"];
  try {
    const hooks = await client.listHooks(repo);
    const hook = hooks.find((h) => h.id === link.remote_hook_id);
    webhook = !hook
      ? {
          ok: false,
          present: false,
          enabled: null,
          remote_id: link.remote_hook_id,
          message:
            link.remote_hook_id === null
              ? `no webhook was created on ${where} (linking did not finish)`
              : `the webhook (id ${link.remote_hook_id}) is no longer on ${where}: pushes no longer reach Slipway`,
          hint: REPAIR(site.id),
        }
      : hook.active
        ? {
            ok: true,
            present: true,
            enabled: true,
            remote_id: hook.id,
            message: `webhook ${hook.id} is on ${where} and enabled`,
          }
        : {
            ok: false,
            present: true,
            enabled: false,
            remote_id: hook.id,
            message: `the provider disabled the webhook after failures (${hook.disabledReason ?? "disabled"}): pushes no longer reach Slipway`,
            hint: `see why deliveries failed (GET /api/v1/sites/${site.id}/webhook_deliveries and the hook's log at ${terms.name}); then POST /api/v1/sites/${site.id}/link/repair re-enables it`,
          };
  } catch (error) {
    if (!(error instanceof ProviderError)) throw error;
    webhook = {
      ok: error.kind === "unavailable" ? null : false,
      present: null,
      enabled: null,
      remote_id: link.remote_hook_id,
      message: `could not list the webhooks of ${where}: ${error.message}`,
      hint: error.hint,
    };
  }
  return { connection: connectionItem, deploy_key: deployKey, webhook, repo };
}

/** `git ls-remote` with the site's key: the branch is readable, or why not. */
async function checkBranch(
  ctx: PlatformContext,
  site: Site,
  key: DeployKey | undefined,
  provider: GitConnection["provider"] | "git",
): Promise<LinkHealth["branch"]> {
  const branch = site.repo_branch ?? "main";
  const at = isoNow(ctx);
  if (site.repo_url === null) return { ok: null, readable: null, message: "not linked" };
  if (!key && !site.repo_url.startsWith("https://")) {
    return {
      ok: false,
      readable: false,
      checked_at: at,
      message: "the site has no deploy key, so its SSH repository cannot be read",
      hint: "create one with POST /api/v1/deploy_keys and set repo.deploy_key_id",
    };
  }
  try {
    const branches = await branchesWithKey(ctx, site, site.repo_url, key, provider);
    return branches.includes(branch)
      ? {
          ok: true,
          readable: true,
          checked_at: at,
          message: `the deploy key reads branch ${branch} of ${site.repo_url}`,
        }
      : {
          ok: false,
          readable: false,
          checked_at: at,
          message: `the deploy key reads ${site.repo_url}, but it has no branch ${branch} (branches: ${branches.slice(0, 20).join(", ") || "none"})`,
          hint: "push the branch, or change the site's branch (repo.repo_branch)",
        };
  } catch (error) {
    if (!(error instanceof GitFetchError)) throw error;
    return { ok: false, readable: false, checked_at: at, code: error.code, message: error.message };
  }
}

/** Problems that stop builds: lost access, not a missing hook or a missing branch. */
function brokenReason(
  health: Omit<LinkHealth, "broken_reason" | "healthy">,
  branchChecked: boolean,
) {
  if (health.connection?.ok === false) return health.connection.message;
  if (health.deploy_key.ok === false) return health.deploy_key.message;
  const lostAccess =
    health.branch.code === "auth_failed" || health.branch.code === "repo_not_found";
  if (branchChecked && lostAccess) return health.branch.message;
  return null;
}

/**
 * Checks the site's link now and stores the result (`site_links.health`, and for connection
 * sites `sites.link_broken_reason`). `cloneAccess: false` skips `git ls-remote` (before a build,
 * whose fetch reads the repository right after) and keeps the last branch result.
 */
export async function checkLink(
  ctx: PlatformContext,
  site: Site,
  options: {
    cloneAccess: boolean;
    /** What linking just found with `git ls-remote` (instead of reading it again). */
    branch?: LinkHealth["branch"];
  } = { cloneAccess: true },
): Promise<LinkHealth> {
  const link = await findLink(ctx, site.id);
  const connection = link
    ? await ctx.db
        .selectFrom("git_connections")
        .selectAll()
        .where("id", "=", link.connection_id)
        .executeTakeFirst()
    : undefined;
  const key = await siteKey(ctx, site);
  const checkedAt = isoNow(ctx);

  let atProvider: Pick<LinkHealth, "connection" | "deploy_key" | "webhook">;
  if (link && connection) {
    atProvider = await checkAtProvider(ctx, site, link, connection, key);
  } else {
    const manual =
      "Slipway has no connection to the provider for this site, so it cannot look (see the manual steps)";
    atProvider = {
      connection: link
        ? {
            ok: false,
            message: "the site's git connection was deleted",
            hint: "link the site again through a connection",
          }
        : null,
      deploy_key: { ok: null, present: null, remote_id: null, message: manual },
      webhook: { ok: null, present: null, enabled: null, remote_id: null, message: manual },
    };
  }
  const provider = connection?.provider ?? gitProviderOf(site);
  const previous = readHealth(link);
  const branch =
    options.branch ??
    (options.cloneAccess
      ? await checkBranch(ctx, site, key, provider)
      : (previous?.branch ?? { ok: null, readable: null, message: "not checked yet" }));
  const since = link?.created_at ?? site.created_at;
  const partial = {
    checked_at: checkedAt,
    ...atProvider,
    last_delivery: await lastDelivery(ctx, site.id, since),
    branch,
  };
  const reason = link
    ? brokenReason(partial, options.cloneAccess || options.branch !== undefined)
    : null;
  const health: LinkHealth = {
    ...partial,
    healthy:
      reason === null &&
      [
        partial.connection?.ok ?? true,
        partial.deploy_key.ok ?? true,
        partial.webhook.ok ?? true,
        branch.ok ?? true,
      ].every((ok) => ok),
    broken_reason: reason,
  };
  ctx.metrics?.linkChecked(health.healthy ? "healthy" : reason !== null ? "broken" : "unknown");
  if (link) {
    await ctx.db
      .updateTable("site_links")
      .set({ health: JSON.stringify(health), checked_at: checkedAt })
      .where("site_id", "=", site.id)
      .execute();
    await ctx.db
      .updateTable("sites")
      .set({ link_broken_reason: reason })
      .where("id", "=", site.id)
      .execute();
  }
  return health;
}

function gitProviderOf(site: Site): GitConnection["provider"] | "git" {
  const p = site.repo_provider;
  return p === "gitlab" || p === "github" || p === "bitbucket" || p === "gitea" ? p : "git";
}

/**
 * Before a build of a site linked through a connection: is the key still there and does the
 * token still work? Returns why the build must stop, or undefined. A provider that cannot be
 * reached does not stop the build (the fetch will tell).
 */
export async function checkLinkBeforeBuild(
  ctx: PlatformContext,
  site: Site,
  note: (message: string, error?: boolean) => void,
): Promise<string | undefined> {
  const health = await checkLink(ctx, site, { cloneAccess: false });
  if (health.broken_reason !== null) {
    note(`The link to the repository is broken: ${health.broken_reason}`, true);
    return `${health.broken_reason}. Builds of this site stop until the link is repaired (POST /api/v1/sites/${site.id}/link/repair).`;
  }
  for (const item of [health.connection, health.deploy_key, health.webhook]) {
    if (item) note(`Link check: ${item.message}`, item.ok === false);
  }
  return undefined;
}

/**
 * The periodic check: every site linked through a connection whose last check is older than
 * the interval, a few at a time. Returns how many were checked.
 */
export async function checkDueLinks(
  ctx: PlatformContext,
  intervalSeconds: number,
): Promise<number> {
  const due = new Date(ctx.now().getTime() - intervalSeconds * 1000).toISOString();
  const rows = await ctx.db
    .selectFrom("site_links")
    .innerJoin("sites", "sites.id", "site_links.site_id")
    .selectAll("sites")
    .where((eb) =>
      eb.or([eb("site_links.checked_at", "is", null), eb("site_links.checked_at", "<", due)]),
    )
    .where("sites.repo_url", "is not", null)
    .orderBy("site_links.checked_at")
    .limit(20)
    .execute();
  for (const site of rows) {
    try {
      await checkLink(ctx, site);
    } catch (error) {
      ctx.log.warn({ err: error, siteId: site.id }, "periodic link check failed");
    }
  }
  return rows.length;
}

/** Runs `checkDueLinks` every `intervalSeconds` (0: never); `stop()` ends it. */
export function startLinkChecks(
  ctx: PlatformContext,
  intervalSeconds: number,
): { stop(): Promise<void> } {
  if (intervalSeconds <= 0) return { stop: async () => undefined };
  let running: Promise<unknown> | undefined;
  // Checks are spread out: a tick at a tenth of the interval picks up what is due, and a tick
  // that finds the previous one still running skips.
  const tickMs = Math.max(1000, Math.min(intervalSeconds * 100, 5 * 60_000));
  const timer = setInterval(() => {
    if (running) return;
    running = checkDueLinks(ctx, intervalSeconds)
      .catch((error: unknown) => ctx.log.warn({ err: error }, "periodic link checks failed"))
      .finally(() => {
        running = undefined;
      });
  }, tickMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
