import { objectId, OBJECT_ID } from "../../lib/ids.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { DeliveryOutcome, GitConnection, Site } from "../db/schema.ts";
import { notFound, PlatformError } from "../errors.ts";
import { openAppWebhookSecret } from "../connections/clients.ts";
import { receiveAuthenticDelivery, type DeliveryResponse } from "./intake.ts";
import { recordDelivery, recordUnreadableDelivery } from "./deliveries.ts";
import { deliveryKey, header, verifySender, type RequestHeaders } from "./signatures.ts";

/**
 * # GitHub App webhooks (`POST /webhooks/github-app/:connection_id`)
 *
 * GitHub sends every webhook of an App — for all its installations and repositories — to the
 * ONE URL configured on the App. This intake checks `X-Hub-Signature-256` with the App's
 * webhook secret (sealed with the connection's credential), then routes:
 *
 * - `push` / `pull_request`: to the sites of the connection's account cloned through
 *   `installation.id` whose repository is `repository.id` (only those), each processed and
 *   recorded exactly as a delivery to the site's own webhook URL (`receiveAuthenticDelivery`);
 * - `installation` (deleted, suspended) / `installation_repositories` (removed): the matching
 *   sites get `link_broken_reason`, and their builds stop with it (`links/installations.ts`);
 *   access given back (unsuspend, repositories added) clears it;
 * - `ping` and anything else: 200, nothing to do.
 *
 * A refusal (no secret, missing or bad signature) is recorded against the sites the payload
 * names, when there are any, so the site's delivery log shows why pushes do not build; the
 * payload never chooses the secret or the account: the connection in the URL does.
 */

export interface AppDeliveryResult {
  site_id: string;
  delivery_id: string;
  outcome: DeliveryOutcome;
  reason: string;
  status_code: number;
  build_id?: string;
  deploy_id?: string;
}

export interface AppDeliveryResponse {
  statusCode: number;
  body: {
    outcome: DeliveryOutcome;
    reason: string;
    /** One per site the delivery reached. */
    deliveries: AppDeliveryResult[];
  };
}

export interface IncomingAppDelivery {
  connectionId: string;
  headers: RequestHeaders;
  /** The raw body, exactly as received (the signature is over these bytes). */
  body: Buffer | undefined;
}

const SECRET_HINT =
  "In the GitHub App's settings (General → Webhook), the Webhook secret must be the connection's webhook_secret (set it with PATCH /api/v1/git_connections/:connection_id {\"webhook_secret\": …}); GitHub then signs each delivery with X-Hub-Signature-256";

/** The App connection a webhook URL names; anything else is the same 404. */
export async function appConnection(ctx: PlatformContext, id: string): Promise<GitConnection> {
  const connectionId = id.toLowerCase();
  const connection = OBJECT_ID.test(connectionId)
    ? await ctx.db
        .selectFrom("git_connections")
        .selectAll()
        .where("id", "=", connectionId)
        .where("provider", "=", "github")
        .where("kind", "=", "github_app")
        .executeTakeFirst()
    : undefined;
  if (!connection) throw notFound("Git connection");
  return connection;
}

export async function receiveAppDelivery(
  ctx: PlatformContext,
  incoming: IncomingAppDelivery,
): Promise<AppDeliveryResponse> {
  const connection = await appConnection(ctx, incoming.connectionId);
  const body = incoming.body ?? Buffer.alloc(0);
  const event = header(incoming.headers, "x-github-event")?.trim().slice(0, 100) ?? "";
  const refuse = (status: number, reason: string, hint?: string) =>
    refuseDelivery(ctx, connection, incoming.headers, body, status, reason, hint);

  const secret = openAppWebhookSecret(ctx, connection);
  if (secret === null) {
    return refuse(
      401,
      "rejected: the GitHub App connection has no webhook secret, so no delivery can be authenticated",
      SECRET_HINT,
    );
  }
  if (event === "") {
    return refuse(400, "rejected: no X-GitHub-Event header: this URL receives GitHub App webhooks");
  }
  const verdict = verifySender("github", incoming.headers, body, secret);
  if (!verdict.ok) {
    const detail = verdict.detail.replace("the site's secret", "the App's webhook secret");
    return refuse(
      401,
      `rejected: ${verdict.missing ? "missing" : "bad"} signature: ${detail}`,
      SECRET_HINT,
    );
  }

  // Authentic from here on.
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString("utf8"));
  } catch {
    return logged(ctx, connection, 400, "rejected", "rejected: malformed payload: not JSON");
  }
  if (event === "ping") return logged(ctx, connection, 200, "ignored", "ignored: ping");

  const installationId = positiveInt(field(payload, "installation", "id"));
  if (installationId === undefined) {
    return logged(
      ctx,
      connection,
      400,
      "rejected",
      `rejected: malformed payload: the ${JSON.stringify(event)} event has no installation.id (is this a repository webhook sent to the App's URL?)`,
    );
  }
  switch (event) {
    case "push":
    case "pull_request":
      return routeToSites(ctx, connection, incoming.headers, body, event, installationId, payload);
    case "installation":
    case "installation_repositories":
      return installationChanged(ctx, connection, incoming.headers, event, installationId, payload);
    default:
      return logged(
        ctx,
        connection,
        200,
        "ignored",
        `ignored: ${JSON.stringify(event)} is not a push, pull_request or installation event`,
      );
  }
}

/** push / pull_request: one delivery per matched site, each with its outcome and reason. */
async function routeToSites(
  ctx: PlatformContext,
  connection: GitConnection,
  headers: RequestHeaders,
  body: Buffer,
  event: string,
  installationId: number,
  payload: unknown,
): Promise<AppDeliveryResponse> {
  const repo = repositoryOf(field(payload, "repository"));
  if (repo === undefined) {
    return logged(
      ctx,
      connection,
      400,
      "rejected",
      `rejected: malformed payload: the ${event} event has no repository.id`,
    );
  }
  const sites = await sitesOf(ctx, connection.account_id, installationId, [repo]);
  if (sites.length === 0) {
    return logged(
      ctx,
      connection,
      200,
      "ignored",
      `ignored: no site of this account builds installation ${installationId} / repository ${repo.id}${repo.fullName === null ? "" : ` (${repo.fullName})`}`,
    );
  }
  const sender = { provider: "github" as const, event };
  const deliveries: AppDeliveryResult[] = [];
  for (const site of sites) {
    let response: DeliveryResponse;
    try {
      response = await receiveAuthenticDelivery(ctx, site, { headers, body, sender });
    } catch (error) {
      // One site's failure must not keep the others from their builds.
      ctx.log.error({ err: error, siteId: site.id }, "GitHub App delivery to a site failed");
      deliveries.push({
        site_id: site.id,
        delivery_id: "",
        outcome: "failed",
        reason:
          "failed: the platform could not handle this delivery (an internal error, logged); redeliver it later",
        status_code: 503,
      });
      continue;
    }
    deliveries.push({ site_id: site.id, ...response.body, status_code: response.statusCode });
  }
  return summarize(deliveries);
}

/**
 * The answer for several sites: 503 when one could not be handled (GitHub may redeliver; the
 * sites that built see it as a duplicate), 202 when one built, else the first site's status.
 */
function summarize(deliveries: AppDeliveryResult[]): AppDeliveryResponse {
  const first = deliveries[0]!;
  const failed = deliveries.find((d) => d.status_code >= 500);
  const built = deliveries.find((d) => d.status_code === 202);
  const lead = failed ?? built ?? first;
  const reason =
    deliveries.length === 1
      ? lead.reason
      : `${deliveries.length} sites: ${deliveries.map((d) => `${d.site_id} ${d.reason}`).join("; ")}`;
  return { statusCode: lead.status_code, body: { outcome: lead.outcome, reason, deliveries } };
}

interface RepoRef {
  id: number;
  fullName: string | null;
}

/**
 * installation (deleted, suspend, unsuspend) and installation_repositories (removed, added):
 * the matching sites' `link_broken_reason` set or cleared, and one delivery recorded per site.
 */
async function installationChanged(
  ctx: PlatformContext,
  connection: GitConnection,
  headers: RequestHeaders,
  event: string,
  installationId: number,
  payload: unknown,
): Promise<AppDeliveryResponse> {
  const action = field(payload, "action");
  const change = describeChange(event, action, installationId, payload);
  if (change === undefined) {
    return logged(
      ctx,
      connection,
      200,
      "ignored",
      `ignored: ${event}.${typeof action === "string" ? action.slice(0, 40) : "?"} changes no site's access`,
    );
  }
  const sites = await sitesOf(ctx, connection.account_id, installationId, change.repos);
  if (sites.length === 0) {
    return logged(
      ctx,
      connection,
      200,
      "ignored",
      `ignored: no site of this account builds installation ${installationId}${change.repos === "all" ? "" : ` / ${change.repos.map(repoName).join(", ")}`}`,
    );
  }
  const deliveries: AppDeliveryResult[] = [];
  for (const site of sites) {
    const reason = change.reasonFor(site);
    if (change.broken) {
      await setBrokenReason(ctx, site.id, reason);
    } else if (
      site.link_broken_reason?.startsWith(`the GitHub App installation ${installationId} `)
    ) {
      // Only what an App event said is cleared; a check finding access again clears the rest.
      await setBrokenReason(ctx, site.id, null);
    }
    const id = objectId();
    const text = change.broken
      ? `ignored: builds stop: ${reason}`
      : `ignored: ${reason}; builds resume`;
    const row = await recordDelivery(ctx, site.id, id, {
      provider: "github",
      event,
      delivery_key: deliveryKey("github", headers),
      ref: null,
      sha: null,
      outcome: "ignored",
      reason: text,
      status_code: 200,
      build_id: null,
      duplicate_of: null,
    });
    ctx.log.info({ siteId: site.id, deliveryId: id, reason: row.reason }, "webhook delivery");
    deliveries.push({
      site_id: site.id,
      delivery_id: id,
      outcome: row.outcome,
      reason: row.reason,
      status_code: 200,
    });
  }
  return summarize(deliveries);
}

interface AccessChange {
  /** true: access lost (set the reason); false: given back (clear it). */
  broken: boolean;
  repos: RepoRef[] | "all";
  reasonFor: (site: Site) => string;
}

function describeChange(
  event: string,
  action: unknown,
  installationId: number,
  payload: unknown,
): AccessChange | undefined {
  const subject = `the GitHub App installation ${installationId}`;
  if (event === "installation") {
    const verb =
      action === "deleted" ? "was removed" : action === "suspend" ? "was suspended" : undefined;
    if (verb !== undefined) {
      return { broken: true, repos: "all", reasonFor: () => `${subject} ${verb}` };
    }
    if (action === "unsuspend") {
      return { broken: false, repos: "all", reasonFor: () => `${subject} was unsuspended` };
    }
    return undefined;
  }
  const key =
    action === "removed"
      ? "repositories_removed"
      : action === "added"
        ? "repositories_added"
        : undefined;
  if (key === undefined) return undefined;
  const list = field(payload, key);
  const repos = (Array.isArray(list) ? list : [])
    .map(repositoryOf)
    .filter((r): r is RepoRef => r !== undefined);
  if (repos.length === 0) return undefined;
  const named = (site: Site) => {
    const repo = repos.find((r) => siteRepoIs(site, r));
    return repo ? repoName(repo) : "the repository";
  };
  return action === "removed"
    ? { broken: true, repos, reasonFor: (site) => `${subject} lost access to ${named(site)}` }
    : {
        broken: false,
        repos,
        reasonFor: (site) => `${subject} was given access to ${named(site)}`,
      };
}

async function setBrokenReason(
  ctx: PlatformContext,
  siteId: string,
  reason: string | null,
): Promise<void> {
  await ctx.db
    .updateTable("sites")
    .set({ link_broken_reason: reason, updated_at: isoNow(ctx) })
    .where("id", "=", siteId)
    .execute();
}

/** The account's sites cloned through the installation, for these repositories (or all). */
async function sitesOf(
  ctx: PlatformContext,
  accountId: string,
  installationId: number,
  repos: RepoRef[] | "all",
): Promise<Site[]> {
  const sites = await ctx.db
    .selectFrom("sites")
    .selectAll()
    .where("account_id", "=", accountId)
    .where("installation_id", "=", installationId)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  return repos === "all" ? sites : sites.filter((s) => repos.some((r) => siteRepoIs(s, r)));
}

/**
 * Whether the site builds this repository: by its stored repository id (`repo.id`); a site
 * linked without one is matched by its clone URL's path, which linking checked against the
 * clone URL GitHub reports for the installation's repository.
 */
function siteRepoIs(site: Site, repo: RepoRef): boolean {
  if (site.repo_id !== null) {
    let stored: unknown;
    try {
      stored = JSON.parse(site.repo_id);
    } catch {
      return false;
    }
    return String(stored) === String(repo.id);
  }
  if (site.repo_url === null || repo.fullName === null) return false;
  let path: string;
  try {
    path = new URL(site.repo_url).pathname;
  } catch {
    return false;
  }
  const normalized = path
    .replace(/\/+$/, "")
    .replace(/\.git$/, "")
    .toLowerCase();
  return normalized === `/${repo.fullName.toLowerCase()}`;
}

const repoName = (repo: RepoRef): string => repo.fullName ?? `repository ${repo.id}`;

function repositoryOf(value: unknown): RepoRef | undefined {
  const id = positiveInt(field(value, "id"));
  if (id === undefined) return undefined;
  const fullName = field(value, "full_name");
  return {
    id,
    fullName: typeof fullName === "string" && /^[\w.-]+\/[\w.-]+$/.test(fullName) ? fullName : null,
  };
}

function field(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== "object" || current === null || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

const positiveInt = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : undefined;

/** A delivery that reaches no site: answered, and written to the platform's log. */
function logged(
  ctx: PlatformContext,
  connection: GitConnection,
  statusCode: number,
  outcome: DeliveryOutcome,
  reason: string,
): AppDeliveryResponse {
  ctx.log.info({ connectionId: connection.id, outcome, reason }, "GitHub App webhook delivery");
  if (statusCode >= 400) throw PlatformError.withStatus(statusCode, reason);
  return { statusCode, body: { outcome, reason, deliveries: [] } };
}

/**
 * A refused delivery: recorded as rejected against the sites its (unauthenticated) payload
 * names within the connection's account — so a wrong secret shows in the site's delivery log —
 * and logged; then refused.
 */
async function refuseDelivery(
  ctx: PlatformContext,
  connection: GitConnection,
  headers: RequestHeaders,
  body: Buffer,
  statusCode: number,
  reason: string,
  hint?: string,
): Promise<never> {
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString("utf8"));
  } catch {
    payload = undefined;
  }
  const installationId = positiveInt(field(payload, "installation", "id"));
  const repo = repositoryOf(field(payload, "repository"));
  const sites =
    installationId === undefined || repo === undefined
      ? []
      : await sitesOf(ctx, connection.account_id, installationId, [repo]);
  for (const site of sites) {
    await recordUnreadableDelivery(ctx, site.id, headers, statusCode, reason);
  }
  ctx.log.info(
    { connectionId: connection.id, outcome: "rejected", reason, sites: sites.length },
    "GitHub App webhook delivery",
  );
  throw PlatformError.withStatus(statusCode, hint === undefined ? reason : `${reason}. ${hint}`);
}
