import type { PlatformContext } from "../context.ts";
import type { GitConnection, Site } from "../db/schema.ts";
import { PlatformError } from "../errors.ts";
import type { HttpsCredentials } from "../repos/git-session.ts";
import { connectionClient } from "./clients.ts";
import { GitHubClient } from "../providers/github.ts";
import { ProviderError, type ProviderRepo } from "../providers/types.ts";
import { RepoUrlError, validateRepoUrl } from "../repos/repo-url.ts";

/**
 * # GitHub App installations (`repo.installation_id`)
 *
 * A site may be cloned over HTTPS through an installation of a GitHub App, with tokens minted
 * from the account's OWN App credentials (its `github_app` connections). The seed's hazard —
 * an unrelated account kept building someone else's repository by naming the installation of a
 * shared App — is closed three ways:
 *
 * - an installation id counts only when GitHub confirms, to one of THIS account's Apps, that
 *   the installation is that App's (`GET /app/installations/:id` with the App's JWT; GitHub
 *   answers 404 for another App's installation): otherwise 403;
 * - the installation must be able to read the repository, and the site's `repo_url` must be the
 *   clone URL GitHub itself reports for it, so the token is only ever sent there;
 * - both are checked when the repository is linked and again before every build, so a
 *   repository removed from the installation (or an uninstalled App) stops the builds.
 */

/** A refusal, for the API (a 4xx) or the build log (its message). */
class InstallationRefusal extends Error {
  constructor(
    readonly kind: "forbidden" | "unprocessable" | "bad_gateway",
    message: string,
    /** `repo_url` when the site's URL is at fault, else the installation id. */
    readonly field: "installation_id" | "repo_url",
  ) {
    super(message);
  }
}

interface InstallationAccess {
  connection: GitConnection;
  client: GitHubClient;
  repo: ProviderRepo;
}

/** `https://Host/Owner/Repo.git/` and `https://host/owner/repo` are the same repository. */
const sameCloneUrl = (a: string, b: string): boolean => {
  const norm = (url: string) =>
    url
      .trim()
      .replace(/\/+$/, "")
      .replace(/\.git$/, "")
      .toLowerCase();
  return norm(a) === norm(b);
};

/** The account's App connection that owns the installation; the repository it can read. */
async function checkInstallation(
  ctx: PlatformContext,
  accountId: string,
  installationId: number,
  repoUrl: string,
): Promise<InstallationAccess> {
  let protocol: string;
  try {
    protocol = validateRepoUrl(repoUrl).protocol;
  } catch (error) {
    if (error instanceof RepoUrlError)
      throw new InstallationRefusal("unprocessable", error.message, "repo_url");
    throw error;
  }
  if (protocol !== "https") {
    throw new InstallationRefusal(
      "unprocessable",
      "a repository cloned through a GitHub App installation is linked by its https clone URL (https://github.com/owner/repo.git); installation tokens are never sent over SSH",
      "repo_url",
    );
  }

  const connections = await ctx.db
    .selectFrom("git_connections")
    .selectAll()
    .where("account_id", "=", accountId)
    .where("provider", "=", "github")
    .where("kind", "=", "github_app")
    .orderBy("created_at")
    .execute();
  const notOurs = (why: string) =>
    new InstallationRefusal(
      "forbidden",
      `installation ${installationId} does not belong to this account's GitHub App: ${why}. Slipway clones through an installation only with the App credentials of the site's own account; install your App on the repository's owner and use that installation's id (the number at the end of its settings URL, …/settings/installations/<id>).`,
      "installation_id",
    );
  if (connections.length === 0) {
    throw notOurs(
      'the account has no GitHub App connection (create one with POST /api/v1/git_connections {"provider": "github", "app_id": …, "private_key": …})',
    );
  }

  let owner: { connection: GitConnection; client: GitHubClient } | undefined;
  let unreachable: ProviderError | undefined;
  for (const connection of connections) {
    const client = connectionClient(ctx, connection);
    if (!(client instanceof GitHubClient)) continue;
    try {
      await client.installation(installationId);
      owner = { connection, client };
      break;
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      if (error.kind === "forbidden" && error.status === 404) continue; // another App's
      if (error.kind === "forbidden") {
        throw new InstallationRefusal(
          "forbidden",
          `${error.message}: ${error.hint}`,
          "installation_id",
        );
      }
      unreachable = error;
    }
  }
  if (!owner) {
    if (unreachable) {
      throw new InstallationRefusal(
        "bad_gateway",
        `Slipway could not ask GitHub whether installation ${installationId} belongs to this account's GitHub App: ${unreachable.message} (${unreachable.hint})`,
        "installation_id",
      );
    }
    const apps = connections.map((c) => c.remote_identity || c.id).join(", ");
    throw notOurs(`GitHub says it is not an installation of this account's App (${apps})`);
  }

  let repo: ProviderRepo;
  try {
    repo = await owner.client.installationRepo(installationId, repoUrl);
  } catch (error) {
    if (!(error instanceof ProviderError)) throw error;
    const kind =
      error.kind === "invalid"
        ? "unprocessable"
        : error.kind === "unavailable" || error.kind === "unauthorized"
          ? "bad_gateway"
          : "forbidden";
    const field = error.kind === "invalid" ? "repo_url" : "installation_id";
    throw new InstallationRefusal(kind, `${error.message}: ${error.hint}`, field);
  }
  if (!sameCloneUrl(repo.httpsUrl, repoUrl)) {
    throw new InstallationRefusal(
      "unprocessable",
      `must be the clone URL GitHub reports for ${repo.fullPath} (${repo.httpsUrl}) when the site is cloned through installation ${installationId}`,
      "repo_url",
    );
  }
  return { ...owner, repo };
}

/**
 * The installation id to store with a site's repository settings, checked: `requested` is the
 * request's `installation_id` (undefined: unchanged, null: none). An unchanged installation is
 * checked again when the repository URL changes. Throws the API's 403/422 refusals.
 */
export async function resolveInstallationSetting(
  ctx: PlatformContext,
  accountId: string,
  setting: {
    requested: number | null | undefined;
    current: number | null;
    repoUrl: string;
    repoUrlChanged: boolean;
  },
  prefix: string,
): Promise<number | null> {
  if (setting.requested === null) return null;
  if (setting.requested === undefined && (setting.current === null || !setting.repoUrlChanged)) {
    return setting.current;
  }
  const installationId = setting.requested ?? setting.current!;
  try {
    await checkInstallation(ctx, accountId, installationId, setting.repoUrl);
  } catch (error) {
    if (!(error instanceof InstallationRefusal)) throw error;
    const field = `${prefix}.${error.field}`;
    throw new PlatformError(error.kind, `${field}: ${error.message}`, field);
  }
  return installationId;
}

export type InstallationCloneAccess =
  { ok: true; credentials: HttpsCredentials; repo: ProviderRepo } | { ok: false; reason: string };

/**
 * Before a build of a site cloned through an installation: the same checks as at link time,
 * then a token that may only read this repository's contents. `reason` is for the build log.
 */
export async function installationCloneAccess(
  ctx: PlatformContext,
  site: Pick<Site, "account_id" | "installation_id" | "repo_url"> &
    Partial<Pick<Site, "id" | "link_broken_reason">>,
): Promise<InstallationCloneAccess> {
  const access = await checkCloneAccess(ctx, site);
  // What a GitHub App webhook said (installation removed, repository removed: see
  // `api/webhooks/app-webhooks.ts`) stops builds with that reason, until access is found again.
  const said = site.link_broken_reason ?? null;
  if (said === null || site.id === undefined) return access;
  if (!access.ok) return { ok: false, reason: `Builds stop: ${said}. ${access.reason}` };
  await ctx.db
    .updateTable("sites")
    .set({ link_broken_reason: null })
    .where("id", "=", site.id)
    .execute();
  return access;
}

async function checkCloneAccess(
  ctx: PlatformContext,
  site: Pick<Site, "account_id" | "installation_id" | "repo_url">,
): Promise<InstallationCloneAccess> {
  const installationId = site.installation_id;
  if (installationId === null || site.repo_url === null) {
    return { ok: false, reason: "The site is not cloned through a GitHub App installation." };
  }
  try {
    const access = await checkInstallation(ctx, site.account_id, installationId, site.repo_url);
    const token = await access.client.cloneCredentials(installationId, access.repo);
    const settings = `${access.client.webUrl}/settings/installations/${installationId}`;
    return {
      ok: true,
      repo: access.repo,
      credentials: {
        username: token.username,
        password: token.password,
        refusedMessage: `The GitHub App installation ${installationId} no longer has access to ${access.repo.fullPath}: GitHub refused its token. Add the repository back to the installation (${settings} → Repository access), then build again.`,
      },
    };
  } catch (error) {
    if (error instanceof InstallationRefusal) {
      const lost =
        error.kind === "forbidden" && /has no access|no longer has access/.test(error.message);
      return {
        ok: false,
        reason: lost
          ? `The GitHub App installation ${installationId} no longer has access to the repository: ${error.message}`
          : `The repository cannot be cloned through the GitHub App installation ${installationId}: ${error.message}`,
      };
    }
    if (error instanceof ProviderError) {
      return {
        ok: false,
        reason: `The GitHub App installation ${installationId} no longer has access to the repository: ${error.message} (${error.hint})`,
      };
    }
    throw error;
  }
}
