import type { Kysely } from "kysely";
import { objectId, OBJECT_ID } from "../../lib/ids.ts";
import type { Actor } from "../accounts/tokens.ts";
import { recordAudit, type AuditAction } from "../audit/record.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { GitConnection, GitProviderName, PlatformDatabase } from "../db/schema.ts";
import { invalidField, notFound } from "../errors.ts";
import { providerFailure } from "./provider-errors.ts";
import { authorize, visibleAccountIds, type Ability } from "../accounts/policies.ts";
import {
  connectionClient,
  openAppWebhookSecret,
  openCredential,
  platformProviderHttp,
  sealCredential,
} from "./clients.ts";
import { DEFAULT_BASE_URLS, providerClient } from "../providers/index.ts";
import { ProviderError, type ProviderCredential, type ProviderRepo } from "../providers/types.ts";
import { githubAppWebhookUrl } from "./urls.ts";

const PROVIDER_NAMES: Record<GitProviderName, string> = {
  github: "GitHub",
  gitlab: "GitLab",
  bitbucket: "Bitbucket",
  gitea: "Gitea",
};

export const providerName = (provider: GitProviderName): string => PROVIDER_NAMES[provider];

/**
 * The API base URL: http(s), no credentials, query or fragment, no trailing slash. Gitea has
 * no public default; the others default to their public service.
 */
export function checkBaseUrl(provider: GitProviderName, raw: string | undefined): string {
  const fallback = DEFAULT_BASE_URLS[provider];
  if (raw === undefined || raw === "") {
    if (fallback === undefined) {
      throw invalidField(
        "base_url",
        `is required for ${providerName(provider)}: the address of your instance, e.g. https://gitea.example.com`,
      );
    }
    return fallback;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidField("base_url", `${JSON.stringify(raw.slice(0, 100))} is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw invalidField("base_url", "must be an https:// (or http://) URL");
  }
  if (url.username !== "" || url.password !== "") {
    throw invalidField(
      "base_url",
      "must not contain credentials; give the token in `token` (it is stored encrypted)",
    );
  }
  if (url.search !== "" || url.hash !== "") {
    throw invalidField("base_url", "must not have a query or a fragment");
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
}

/**
 * A new connection: one credential — `token`, `username` + `app_password` (Bitbucket), or
 * `app_id` + `private_key` (a GitHub App, with its `webhook_secret`).
 */
export interface NewGitConnection {
  provider: GitProviderName;
  base_url?: string;
  token?: string;
  username?: string;
  app_password?: string;
  app_id?: number;
  private_key?: string;
  webhook_secret?: string;
}

/** Where a GitHub App sends its webhooks, and whether their secret is set (never the secret). */
export interface AppWebhookView {
  webhookUrl: string;
  secretSet: boolean;
}

/** The one credential the body gives, as the provider accepts it. */
export function readCredential(body: NewGitConnection): ProviderCredential {
  const given = [
    body.token !== undefined ? "token" : undefined,
    body.username !== undefined || body.app_password !== undefined ? "app_password" : undefined,
    body.app_id !== undefined || body.private_key !== undefined ? "github_app" : undefined,
  ].filter((k): k is string => k !== undefined);
  const name = providerName(body.provider);
  const accepted: Record<GitProviderName, string> = {
    gitlab: "`token` (a personal, group or project access token with the `api` scope)",
    gitea: "`token` (an access token with repository and user read/write)",
    github: "`token` (a personal access token) or `app_id` and `private_key` (a GitHub App)",
    bitbucket: "`username` and `app_password` (an app password), or `token` (an access token)",
  };
  if (given.length !== 1) {
    throw invalidField(
      given.length === 0 ? "token" : given[1]!,
      `give exactly one credential for ${name}: ${accepted[body.provider]}`,
    );
  }
  const kind = given[0];
  if (kind === "token") return { kind: "token", token: body.token! };
  if (kind === "app_password") {
    if (body.provider !== "bitbucket") {
      throw invalidField(
        "app_password",
        `${name} does not use app passwords: give ${accepted[body.provider]}`,
      );
    }
    if (body.username === undefined)
      throw invalidField("username", "is required with app_password");
    if (body.app_password === undefined)
      throw invalidField("app_password", "is required with username");
    return { kind: "app_password", username: body.username, password: body.app_password };
  }
  if (body.provider !== "github") {
    throw invalidField("app_id", `${name} has no GitHub Apps: give ${accepted[body.provider]}`);
  }
  if (body.app_id === undefined) throw invalidField("app_id", "is required with private_key");
  if (body.private_key === undefined) throw invalidField("private_key", "is required with app_id");
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(body.private_key)) {
    throw invalidField(
      "private_key",
      "must be the App's private key in PEM format (-----BEGIN RSA PRIVATE KEY-----)",
    );
  }
  return { kind: "github_app", appId: body.app_id, privateKey: body.private_key };
}

/** The field a refused credential is reported on. */
function credentialField(credential: ProviderCredential): string {
  return credential.kind === "token"
    ? "token"
    : credential.kind === "app_password"
      ? "app_password"
      : "private_key";
}

/**
 * Stores a connection for an account after checking its credential at the provider: a
 * credential the provider refuses is a 422 with the provider's reason and hint, and nothing is
 * stored. The credential is sealed, bound to the new row's id.
 */
export async function createGitConnection(
  ctx: PlatformContext,
  actor: Actor,
  accountId: string,
  body: NewGitConnection,
): Promise<GitConnection> {
  authorize(actor, "update", { account_id: accountId }, "Account");
  const baseUrl = checkBaseUrl(body.provider, body.base_url);
  const credential = readCredential(body);
  if (body.webhook_secret !== undefined && credential.kind !== "github_app") {
    throw invalidField("webhook_secret", NOT_AN_APP);
  }
  const client = providerClient(
    { provider: body.provider, baseUrl, credential },
    platformProviderHttp(ctx),
  );
  let username: string;
  try {
    username = (await client.verify()).username;
  } catch (error) {
    // Not reachable (or not allowed): most likely the base_url; otherwise the credential.
    const field =
      error instanceof ProviderError &&
      error.kind === "unavailable" &&
      (error.status === undefined || error.status === 404)
        ? "base_url"
        : credentialField(credential);
    throw providerFailure(error, {
      field,
      unavailableKind: field === "base_url" ? "unprocessable" : "bad_gateway",
    });
  }
  const id = objectId();
  const now = isoNow(ctx);
  const row: GitConnection = {
    id,
    account_id: accountId,
    provider: body.provider,
    base_url: baseUrl,
    kind: credential.kind,
    remote_identity: username,
    credential_sealed: sealCredential(ctx, id, credential, body.webhook_secret),
    created_by: actor.user.id,
    created_at: now,
    updated_at: now,
    last_checked_at: now,
    last_error: null,
  };
  await ctx.db.transaction().execute(async (trx) => {
    await trx.insertInto("git_connections").values(row).execute();
    await auditConnection(trx, "git_connection.create", row, ["provider", "base_url", row.kind]);
  });
  return row;
}

const NOT_AN_APP =
  "only a GitHub App connection (app_id and private_key) receives App webhooks; a repository webhook's secret is set per site (git_webhook.secret)";

/** A GitHub App connection's webhook URL and whether its secret is set; undefined otherwise. */
export function appWebhookView(
  ctx: PlatformContext,
  connection: GitConnection,
): AppWebhookView | undefined {
  if (connection.kind !== "github_app") return undefined;
  return {
    webhookUrl: githubAppWebhookUrl(ctx.config, connection.id),
    secretSet: openAppWebhookSecret(ctx, connection) !== null,
  };
}

/**
 * Sets (or removes, with null) a GitHub App connection's webhook secret, sealed again with its
 * credential. Without one, the App's webhooks are refused.
 */
export async function setAppWebhookSecret(
  ctx: PlatformContext,
  actor: Actor,
  id: string,
  secret: string | null,
): Promise<GitConnection> {
  const connection = await findGitConnection(ctx, actor, id, "update");
  if (connection.kind !== "github_app") throw invalidField("webhook_secret", NOT_AN_APP);
  const credential_sealed = sealCredential(
    ctx,
    connection.id,
    openCredential(ctx, connection),
    secret ?? undefined,
  );
  return ctx.db.transaction().execute(async (trx) => {
    await auditConnection(trx, "git_connection.update", connection, ["webhook_secret"]);
    return trx
      .updateTable("git_connections")
      .set({ credential_sealed, updated_at: isoNow(ctx) })
      .where("id", "=", connection.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

function auditConnection(
  trx: Kysely<PlatformDatabase>,
  action: AuditAction,
  connection: GitConnection,
  fields: readonly string[],
): Promise<void> {
  return recordAudit(trx, {
    action,
    accountId: connection.account_id,
    target: {
      type: "git_connection",
      id: connection.id,
      name: `${connection.provider} ${connection.base_url}`,
    },
    fields,
  });
}

/** The connections of the given accounts (already narrowed to the actor's), oldest first. */
export async function listGitConnections(
  ctx: PlatformContext,
  actor: Actor,
  accountIds: readonly string[] = visibleAccountIds(actor),
): Promise<GitConnection[]> {
  const visible = new Set(visibleAccountIds(actor));
  const ids = accountIds.filter((id) => visible.has(id));
  if (ids.length === 0) return [];
  return ctx.db
    .selectFrom("git_connections")
    .selectAll()
    .where("account_id", "in", ids)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
}

/** A connection the actor may `ability`; another account's connection is a 404. */
export async function findGitConnection(
  ctx: PlatformContext,
  actor: Actor,
  id: string,
  ability: Ability = "read",
): Promise<GitConnection> {
  const connection = OBJECT_ID.test(id)
    ? await ctx.db.selectFrom("git_connections").selectAll().where("id", "=", id).executeTakeFirst()
    : undefined;
  if (!connection) throw notFound("Git connection");
  authorize(actor, ability, connection, "Git connection");
  return connection;
}

/** Deletes a connection no site is linked through; otherwise names the sites. */
export async function deleteGitConnection(
  ctx: PlatformContext,
  actor: Actor,
  id: string,
): Promise<void> {
  const connection = await findGitConnection(ctx, actor, id, "delete");
  const users = await ctx.db
    .selectFrom("sites")
    .select("name")
    .where("connection_id", "=", connection.id)
    .orderBy("name")
    .execute();
  if (users.length > 0) {
    throw invalidField(
      "connection_id",
      `the connection is used by ${users.length === 1 ? "site" : "sites"} ${users.map((s) => s.name).join(", ")}; unlink ${users.length === 1 ? "it" : "them"} first (PUT /api/v1/sites/:site_id/unlink_repo, which also removes the deploy key and webhook at the provider) or delete ${users.length === 1 ? "it" : "them"}`,
    );
  }
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom("git_connections").where("id", "=", connection.id).execute();
    await auditConnection(trx, "git_connection.delete", connection, []);
  });
}

/** Records the outcome of using a connection's credential (shown as `last_error`). */
export async function recordConnectionUse(
  ctx: PlatformContext,
  connectionId: string,
  error: unknown,
): Promise<void> {
  const refused =
    error instanceof ProviderError && (error.kind === "unauthorized" || error.kind === "forbidden");
  const now = isoNow(ctx);
  await ctx.db
    .updateTable("git_connections")
    .set(
      error === undefined
        ? { last_checked_at: now, last_error: null }
        : refused
          ? {
              last_checked_at: now,
              last_error: `${(error as ProviderError).message}; ${(error as ProviderError).hint}`,
            }
          : { last_checked_at: now },
    )
    .where("id", "=", connectionId)
    .execute();
}

/** The repositories the connection reaches, for the CLI and the dashboard. */
export async function listConnectionRepos(
  ctx: PlatformContext,
  connection: GitConnection,
  search: string | undefined,
): Promise<ProviderRepo[]> {
  const client = connectionClient(ctx, connection);
  try {
    const repos = await client.listRepos(search);
    await recordConnectionUse(ctx, connection.id, undefined);
    return repos;
  } catch (error) {
    await recordConnectionUse(ctx, connection.id, error);
    throw providerFailure(error);
  }
}

/** A repository's branches, found through the connection: its default branch first, then by name. */
export interface ConnectionBranches {
  repo: ProviderRepo;
  branches: string[];
}

/**
 * The branches of a repository the connection reaches (`ref`: its path or the provider's id),
 * narrowed by `search`, for picking a site's branch.
 */
export async function listConnectionBranches(
  ctx: PlatformContext,
  connection: GitConnection,
  ref: string,
  search: string | undefined,
): Promise<ConnectionBranches> {
  const client = connectionClient(ctx, connection);
  try {
    const repo = await client.getRepo(ref);
    const names = await client.listBranches(repo, search);
    await recordConnectionUse(ctx, connection.id, undefined);
    const rest = names.filter((name) => name !== repo.defaultBranch).sort();
    return {
      repo,
      branches: names.includes(repo.defaultBranch) ? [repo.defaultBranch, ...rest] : rest,
    };
  } catch (error) {
    await recordConnectionUse(ctx, connection.id, error);
    throw providerFailure(error, { field: "repo" });
  }
}
