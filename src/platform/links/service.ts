import { join } from "node:path";
import type { Actor } from "../accounts/tokens.ts";
import { createDeployKey, openPrivateKey } from "../deploy-keys/deploy-keys.ts";
import { readWebhookSecret } from "../sites/secrets.ts";
import { gitWebhookUrl } from "../sites/urls.ts";
import { GitFetchError } from "../repos/diagnose.ts";
import { listRemoteBranches } from "../repos/git-branches.ts";
import { DbHostKeyStore } from "../repos/known-hosts-store.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { DeployKey, GitConnection, Site, SiteLink } from "../db/schema.ts";
import { connectionClient } from "../connections/clients.ts";
import {
  ProviderError,
  type HookEventKind,
  type HookSpec,
  type ProviderClient,
  type ProviderRepo,
} from "../providers/types.ts";
import { isAllowedHost } from "../repos/host-guard.ts";
import { PROVIDER_TERMS, StepLog, type LinkStep, type LinkStepName } from "./steps.ts";

/**
 * Linking through a provider connection does the provider's half of linking a repository:
 *
 *   repository → the site's deploy key → key installed read-only at the provider → webhook
 *   (push + pull/merge requests, the site's secret) → branch exists → `git ls-remote` with the key
 *
 * Each step is recorded in `site_links.steps` as soon as it is done, and the provider's ids of
 * what was installed are stored before the next step, so unlink and repair are exact and a
 * crash loses nothing. Every step is idempotent: our key is found by its public half and our
 * hook by its URL before anything is added, so linking again never makes a second one. When a
 * step fails, what *this* attempt created at the provider is removed again (nothing is left
 * half-done) and the failure says why and what to do; the site keeps the failed step, and a
 * retry (PATCH the repo, or `POST /sites/:id/link/repair`) carries on from there.
 */

export const LINK_EVENTS: HookEventKind[] = ["push", "pull_request"];

export interface LinkTarget {
  site: Site;
  connection: GitConnection;
  repo: ProviderRepo;
  branch: string;
}

export interface LinkFailure {
  step: LinkStepName;
  message: string;
  hint: string;
}

export interface LinkOutcome {
  ok: boolean;
  steps: LinkStep[];
  failure?: LinkFailure;
}

/** Something Slipway removed from (or failed to remove at) the provider. */
export interface RemovalReport {
  removed: { kind: "deploy_key" | "webhook"; id: string; message: string }[];
  failed: {
    kind: "deploy_key" | "webhook" | "connection";
    id: string | null;
    message: string;
    hint: string;
  }[];
}

class StepFailed extends Error {
  constructor(
    readonly step: LinkStepName,
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** `github.com`, `gitlab.example.com`: where the repository lives, as people name it. */
export function repoHost(repo: Pick<ProviderRepo, "webUrl">, connection: GitConnection): string {
  try {
    return new URL(repo.webUrl).host;
  } catch {
    return new URL(connection.base_url).host;
  }
}

/** `ssh-ed25519 AAAA…` without the comment, which providers may keep or trim. */
export function keyBlob(key: string): string {
  const [type, blob] = key.trim().split(/\s+/);
  return `${type ?? ""} ${blob ?? ""}`;
}

const eventWords = (connection: GitConnection, events: readonly HookEventKind[]): string =>
  events
    .map((e) => (e === "push" ? "push" : PROVIDER_TERMS[connection.provider].reviewEvents))
    .join(", ");

/** Where the platform's git sessions keep their per-session key directories. */
const gitTempRoot = (ctx: PlatformContext): string => join(ctx.config.dataDir, "builds", "tmp");

/**
 * The branches of `repoUrl` as the site's deploy key sees them (`git ls-remote` over the same
 * hardened SSH session builds use, with the account's pinned host keys).
 */
export async function branchesWithKey(
  ctx: PlatformContext,
  site: Site,
  repoUrl: string,
  key: DeployKey | undefined,
  provider: GitConnection["provider"] | "git",
): Promise<string[]> {
  const allowed = ctx.config.allowedPrivateRepoHosts;
  return listRemoteBranches({
    repoUrl,
    ...(key ? { privateKey: openPrivateKey(ctx, key) } : {}),
    hostKeys: new DbHostKeyStore(ctx.db, site.account_id, ctx.now),
    allowPrivateNetwork: (host, address, port) =>
      isAllowedHost(allowed, host, port) || isAllowedHost(allowed, address, port),
    provider,
    timeoutMs: 60_000,
    connectTimeoutSec: 10,
    tempRoot: gitTempRoot(ctx),
  });
}

export async function findLink(
  ctx: PlatformContext,
  siteId: string,
): Promise<SiteLink | undefined> {
  return ctx.db
    .selectFrom("site_links")
    .selectAll()
    .where("site_id", "=", siteId)
    .executeTakeFirst();
}

/**
 * The site's link row for this connection and repository, created when missing. A link that
 * pointed at another repository starts over (its ids belonged to that repository).
 */
async function ensureLinkRow(ctx: PlatformContext, target: LinkTarget): Promise<SiteLink> {
  const { site, connection, repo } = target;
  const now = isoNow(ctx);
  const existing = await findLink(ctx, site.id);
  if (!existing) {
    const row: SiteLink = {
      site_id: site.id,
      connection_id: connection.id,
      provider: connection.provider,
      repo_ref: repo.id,
      remote_key_id: null,
      remote_hook_id: null,
      steps: "[]",
      health: null,
      checked_at: null,
      created_at: now,
      updated_at: now,
    };
    await ctx.db.insertInto("site_links").values(row).execute();
    return row;
  }
  const sameRepo = existing.repo_ref === repo.id && existing.connection_id === connection.id;
  const changes = {
    connection_id: connection.id,
    provider: connection.provider,
    repo_ref: repo.id,
    steps: "[]",
    updated_at: now,
    ...(sameRepo
      ? {}
      : { remote_key_id: null, remote_hook_id: null, health: null, checked_at: null }),
  };
  return ctx.db
    .updateTable("site_links")
    .set(changes)
    .where("site_id", "=", site.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

async function setRemoteIds(
  ctx: PlatformContext,
  siteId: string,
  ids: { remote_key_id?: string | null; remote_hook_id?: string | null },
): Promise<void> {
  await ctx.db
    .updateTable("site_links")
    .set({ ...ids, updated_at: isoNow(ctx) })
    .where("site_id", "=", siteId)
    .execute();
}

/** The site's own deploy key: the one it has, or a new one for its account. */
async function siteDeployKey(
  ctx: PlatformContext,
  actor: Actor | undefined,
  site: Site,
): Promise<{ key: DeployKey; created: boolean }> {
  if (site.deploy_key_id !== null) {
    const key = await ctx.db
      .selectFrom("deploy_keys")
      .selectAll()
      .where("id", "=", site.deploy_key_id)
      .where("account_id", "=", site.account_id)
      .executeTakeFirst();
    if (key) return { key, created: false };
  }
  if (!actor) {
    throw new StepFailed(
      "deploy_key",
      "the site has no deploy key",
      `repair the link (POST /api/v1/sites/${site.id}/link/repair) to create and install one`,
    );
  }
  const key = await createDeployKey(ctx, actor, site.account_id);
  await ctx.db
    .updateTable("sites")
    .set({ deploy_key_id: key.id, updated_at: isoNow(ctx) })
    .where("id", "=", site.id)
    .execute();
  return { key, created: true };
}

/** A provider refusal (or a git failure) as the step's failure. */
function stepFailure(step: LinkStepName, error: unknown, siteId: string): StepFailed | undefined {
  if (error instanceof StepFailed) return error;
  if (error instanceof ProviderError) return new StepFailed(step, error.message, error.hint);
  if (error instanceof GitFetchError) {
    return new StepFailed(
      step,
      error.message,
      `once fixed, repair the link (POST /api/v1/sites/${siteId}/link/repair)`,
    );
  }
  return undefined;
}

/**
 * Does the provider's half of linking `target.repo` to the site (see the module comment).
 * The site must already have its webhook secret. Never throws for a provider's refusal: the
 * outcome says which step failed, why, and what to do.
 */
export async function linkRepository(
  ctx: PlatformContext,
  actor: Actor | undefined,
  target: LinkTarget,
): Promise<LinkOutcome> {
  const { site, connection, repo, branch } = target;
  const link = await ensureLinkRow(ctx, target);
  const client = connectionClient(ctx, connection);
  const log = new StepLog(ctx, site.id);
  const host = repoHost(repo, connection);
  const where = `${host} ${repo.fullPath}`;
  const created: { keyId?: string; hookId?: string } = {};
  let step: LinkStepName = "repository";
  try {
    await log.add(
      "repository",
      "ok",
      `repository ${repo.fullPath} found on ${host} (id ${repo.id})`,
    );

    step = "deploy_key";
    const { key, created: newKey } = await siteDeployKey(ctx, actor, site);
    await log.add(
      "deploy_key",
      "ok",
      newKey
        ? `created the site's deploy key ${key.fingerprint}`
        : `using the site's deploy key ${key.fingerprint}`,
    );

    step = "install_key";
    const keyId = await installKey(ctx, client, site, repo, key, created);
    await log.add(
      "install_key",
      "ok",
      created.keyId !== undefined
        ? `deploy key installed on ${where} as id ${keyId} (read-only)`
        : `deploy key already installed on ${where} as id ${keyId}`,
    );

    step = "webhook";
    const hook = await installHook(ctx, client, site, link, repo, created);
    await log.add(
      "webhook",
      "ok",
      `webhook ${created.hookId !== undefined ? "created" : "updated"} on ${where} as id ${hook.id} (${eventWords(connection, hook.events.length > 0 ? hook.events : LINK_EVENTS)})${hook.note}`,
    );

    step = "branch";
    if (!(await client.branchExists(repo, branch))) {
      throw new StepFailed(
        "branch",
        `the branch ${branch} does not exist in ${repo.fullPath} on ${host}`,
        `push the branch, or link another one (repo.repo_branch; the repository's default branch is ${repo.defaultBranch})`,
      );
    }
    await log.add("branch", "ok", `branch ${branch} exists in ${repo.fullPath}`);

    step = "clone_access";
    const branches = await branchesWithKey(ctx, site, repo.sshUrl, key, connection.provider);
    if (!branches.includes(branch)) {
      throw new StepFailed(
        "clone_access",
        `the deploy key can read ${repo.sshUrl}, but the branch ${branch} is not there (branches: ${branches.slice(0, 20).join(", ") || "none"})`,
        "push the branch, or link another one (repo.repo_branch)",
      );
    }
    await log.add(
      "clone_access",
      "ok",
      `the deploy key reads ${repo.sshUrl} over SSH (git ls-remote: branch ${branch} found)`,
    );
    await ctx.db
      .updateTable("sites")
      .set({ link_broken_reason: null, updated_at: isoNow(ctx) })
      .where("id", "=", site.id)
      .execute();
    return { ok: true, steps: log.steps };
  } catch (error) {
    const failed = stepFailure(step, error, site.id);
    await log.add(step, "failed", failed?.message ?? "internal error", failed?.hint);
    await undoAttempt(ctx, client, site, repo, where, created, log);
    if (!failed) throw error;
    await ctx.db
      .updateTable("sites")
      .set({
        link_broken_reason: `linking did not finish: ${failed.message}; ${failed.hint}`,
        updated_at: isoNow(ctx),
      })
      .where("id", "=", site.id)
      .execute();
    return {
      ok: false,
      steps: log.steps,
      failure: { step: failed.step, message: failed.message, hint: failed.hint },
    };
  }
}

/** Finds our key at the provider (by its public half) or adds it; stores its id. */
async function installKey(
  ctx: PlatformContext,
  client: ProviderClient,
  site: Site,
  repo: ProviderRepo,
  key: DeployKey,
  created: { keyId?: string },
): Promise<string> {
  const blob = keyBlob(key.public_key);
  const present = (await client.listDeployKeys(repo)).find((k) => keyBlob(k.key) === blob);
  if (present) {
    await setRemoteIds(ctx, site.id, { remote_key_id: present.id });
    return present.id;
  }
  const added = await client.addDeployKey(repo, {
    title: `Slipway: ${site.name}`,
    key: key.public_key,
  });
  created.keyId = added.id;
  await setRemoteIds(ctx, site.id, { remote_key_id: added.id });
  return added.id;
}

/**
 * Finds our hook at the provider (by its URL) and updates it (secret, events, re-enabled), or
 * adds it; duplicates left by earlier tools are removed, so each push builds once.
 */
async function installHook(
  ctx: PlatformContext,
  client: ProviderClient,
  site: Site,
  link: SiteLink,
  repo: ProviderRepo,
  created: { hookId?: string },
): Promise<{ id: string; events: HookEventKind[]; note: string }> {
  const secret = readWebhookSecret(ctx, site);
  if (secret === null) throw new Error(`site ${site.id} has no webhook secret`);
  const spec: HookSpec = { url: gitWebhookUrl(ctx.config, site.id), secret, events: LINK_EVENTS };
  // Ours: the hook this link recorded (its URL may be an old public URL) and any with our URL.
  const ours = (await client.listHooks(repo)).filter(
    (h) => h.url === spec.url || h.id === link.remote_hook_id,
  );
  if (ours.length === 0) {
    const added = await client.addHook(repo, spec);
    created.hookId = added.id;
    await setRemoteIds(ctx, site.id, { remote_hook_id: added.id });
    return { id: added.id, events: added.events, note: "" };
  }
  const keep = ours.find((h) => h.id === link.remote_hook_id) ?? ours[0]!;
  const updated = await client.updateHook(repo, keep.id, spec);
  await setRemoteIds(ctx, site.id, { remote_hook_id: updated.id });
  const extras = ours.filter((h) => h.id !== keep.id);
  for (const extra of extras) await client.removeHook(repo, extra.id);
  const notes = [
    keep.active ? "" : `; re-enabled it (${keep.disabledReason ?? "it was disabled"})`,
    extras.length > 0 ? `; removed ${extras.length} duplicate webhook(s) with the same URL` : "",
  ];
  return { id: updated.id, events: updated.events, note: notes.join("") };
}

/** Removes what this attempt created at the provider, and says so. */
async function undoAttempt(
  ctx: PlatformContext,
  client: ProviderClient,
  site: Site,
  repo: ProviderRepo,
  where: string,
  created: { keyId?: string; hookId?: string },
  log: StepLog,
): Promise<void> {
  const removed: string[] = [];
  const failed: string[] = [];
  if (created.hookId !== undefined) {
    try {
      await client.removeHook(repo, created.hookId);
      await setRemoteIds(ctx, site.id, { remote_hook_id: null });
      removed.push(`the webhook ${created.hookId}`);
    } catch (error) {
      failed.push(`the webhook ${created.hookId} (${(error as Error).message})`);
    }
  }
  if (created.keyId !== undefined) {
    try {
      await client.removeDeployKey(repo, created.keyId);
      await setRemoteIds(ctx, site.id, { remote_key_id: null });
      removed.push(`the deploy key ${created.keyId}`);
    } catch (error) {
      failed.push(`the deploy key ${created.keyId} (${(error as Error).message})`);
    }
  }
  if (removed.length > 0) {
    await log.add(
      "cleanup",
      "ok",
      `removed ${removed.join(" and ")} that this attempt had added on ${where}, so nothing is left half-done`,
    );
  }
  if (failed.length > 0) {
    await log.add(
      "cleanup",
      "failed",
      `could not remove ${failed.join(" and ")} that this attempt had added on ${where}`,
      `a retry reuses them; or remove them by hand there`,
    );
  }
}

/**
 * Removes the deploy key and the webhook Slipway installed (by their recorded ids, nothing
 * else) for a site linked through a connection. Undefined for a site without such a link.
 */
export async function removeLinkAtProvider(
  ctx: PlatformContext,
  site: Site,
): Promise<RemovalReport | undefined> {
  const link = await findLink(ctx, site.id);
  return link ? removeInstalled(ctx, site, link) : undefined;
}

/** Removes the key and hook a link row records (also of a link the site has moved away from). */
export async function removeInstalled(
  ctx: PlatformContext,
  site: Site,
  link: SiteLink,
): Promise<RemovalReport> {
  const report: RemovalReport = { removed: [], failed: [] };
  if (link.remote_key_id === null && link.remote_hook_id === null) return report;
  const connection = await ctx.db
    .selectFrom("git_connections")
    .selectAll()
    .where("id", "=", link.connection_id)
    .executeTakeFirst();
  if (!connection) {
    report.failed.push({
      kind: "connection",
      id: link.connection_id,
      message:
        "the site's git connection no longer exists, so nothing could be removed at the provider",
      hint: `remove the deploy key ${link.remote_key_id ?? "-"} and the webhook ${link.remote_hook_id ?? "-"} by hand`,
    });
    return report;
  }
  const client = connectionClient(ctx, connection);
  const terms = PROVIDER_TERMS[connection.provider];
  let repo: ProviderRepo;
  try {
    repo = await client.getRepo(link.repo_ref);
  } catch (error) {
    const reason = error instanceof ProviderError ? error : undefined;
    report.failed.push({
      kind: "connection",
      id: connection.id,
      message: `could not reach the repository ${link.repo_ref} on ${new URL(connection.base_url).host} to remove the deploy key and webhook: ${reason?.message ?? String(error)}`,
      hint: reason?.hint ?? "remove them by hand",
    });
    return report;
  }
  const where = `${repoHost(repo, connection)} ${repo.fullPath}`;
  const attempts: [kind: "webhook" | "deploy_key", id: string | null, place: string][] = [
    ["webhook", link.remote_hook_id, terms.webhooksPlace],
    ["deploy_key", link.remote_key_id, terms.deployKeysPlace],
  ];
  for (const [kind, id, place] of attempts) {
    if (id === null) continue;
    const what = kind === "webhook" ? "webhook" : "deploy key";
    try {
      if (kind === "webhook") await client.removeHook(repo, id);
      else await client.removeDeployKey(repo, id);
      await setRemoteIds(
        ctx,
        site.id,
        kind === "webhook" ? { remote_hook_id: null } : { remote_key_id: null },
      );
      report.removed.push({ kind, id, message: `${what} ${id} removed from ${where}` });
    } catch (error) {
      report.failed.push({
        kind,
        id,
        message: `could not remove the ${what} ${id} from ${where}: ${(error as Error).message}`,
        hint: `remove it by hand in ${place}`,
      });
    }
  }
  return report;
}
