import { createHash, createPrivateKey, sign, type KeyObject } from "node:crypto";
import type { Auth, GitHubApi } from "./github-api.ts";
import { field, githubMessage, isInteger } from "./github-parse.ts";
import { apiRepoPath, parseRepoRef } from "./github-refs.ts";
import { isString, PAGE_SIZE, record } from "./rest.ts";
import { ProviderError, type ProviderCredential, type ProviderRepo } from "./types.ts";

/**
 * # GitHub App authentication
 *
 * An App proves who it is with a short JSON Web Token signed with its private key (RS256,
 * `iss` = the App id, issued 60 s in the past to absorb clock drift, valid at most 10 minutes:
 * GitHub's documented rules). With that JWT it may only call `/app/...` endpoints; to touch a
 * repository it exchanges the JWT for an installation access token (one hour), scoped to the
 * repositories and permissions of one installation. Those tokens are cached until shortly
 * before they expire, keyed by the App's credentials, so that a connection with another key
 * never gets a token it did not mint itself. `GitHubAppAuth` makes the calls: the App's
 * installations (which must be this App's), the installation that covers a repository, and
 * its tokens.
 */

/** How long a JWT lives: GitHub accepts at most 10 minutes; 9 leaves room for clock drift. */
const JWT_LIFETIME_S = 9 * 60;
/** `iat` this far in the past, as GitHub recommends, in case our clock runs ahead of theirs. */
const JWT_BACKDATE_S = 60;
/** A cached installation token is replaced once it has less than this left (a fetch can take minutes). */
const TOKEN_RENEW_MARGIN_MS = 5 * 60_000;

/** The App's private key, checked: GitHub issues PEM RSA keys (PKCS#1 `RSA PRIVATE KEY`). */
export function parseAppPrivateKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch {
    throw new ProviderError(
      "invalid",
      "the GitHub App private key is not a PEM private key",
      "paste the whole .pem file GitHub generated for the App (App settings → Private keys → Generate a private key), from -----BEGIN RSA PRIVATE KEY----- to the END line",
    );
  }
  if (key.asymmetricKeyType !== "rsa") {
    throw new ProviderError(
      "invalid",
      `the GitHub App private key is a ${key.asymmetricKeyType ?? "non-RSA"} key, not an RSA key`,
      "GitHub Apps sign their tokens with RS256: use the RSA .pem file GitHub generated for the App",
    );
  }
  return key;
}

const base64url = (value: string | Buffer): string => Buffer.from(value).toString("base64url");

/** The App's JWT for `/app/...` calls, at `now`. */
export function appJwt(appId: number, privateKey: KeyObject | string, now = new Date()): string {
  const key = typeof privateKey === "string" ? parseAppPrivateKey(privateKey) : privateKey;
  const iat = Math.floor(now.getTime() / 1000) - JWT_BACKDATE_S;
  const header = base64url(JSON.stringify({ alg: "RS256", typ: "JWT" }));
  const payload = base64url(JSON.stringify({ iat, exp: iat + JWT_LIFETIME_S, iss: appId }));
  const signature = sign("sha256", Buffer.from(`${header}.${payload}`), key);
  return `${header}.${payload}.${base64url(signature)}`;
}

export interface InstallationToken {
  token: string;
  /** ISO 8601, as GitHub reports it. */
  expiresAt: string;
}

/** What an installation token is minted for; part of the cache key. */
export interface TokenScope {
  installationId: number;
  /** Restrict the token to these repositories (GitHub `repository_ids`); all when absent. */
  repositoryIds?: number[];
  /** Restrict the token's permissions (GitHub `permissions`); the installation's when absent. */
  permissions?: Record<string, "read" | "write">;
}

/**
 * Installation tokens, kept until `TOKEN_RENEW_MARGIN_MS` before they expire. Concurrent
 * requests for the same token share one mint. The key includes a digest of the App's
 * credentials (API base, App id, private key), never the key itself.
 */
export class InstallationTokenCache {
  private readonly entries = new Map<string, Promise<InstallationToken>>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly marginMs = TOKEN_RENEW_MARGIN_MS,
  ) {}

  async get(
    credentials: { baseUrl: string; appId: number; privateKey: string },
    scope: TokenScope,
    mint: () => Promise<InstallationToken>,
  ): Promise<InstallationToken> {
    const key = cacheKey(credentials, scope);
    const cached = this.entries.get(key);
    if (cached) {
      const token = await cached.catch(() => undefined);
      if (token && Date.parse(token.expiresAt) - this.now() > this.marginMs) return token;
      if (this.entries.get(key) === cached) this.entries.delete(key);
    }
    const minted = mint();
    this.entries.set(key, minted);
    try {
      return await minted;
    } catch (error) {
      if (this.entries.get(key) === minted) this.entries.delete(key);
      throw error;
    }
  }

  /** Forgets every token minted with these credentials (after GitHub refused one). */
  forget(credentials: { baseUrl: string; appId: number; privateKey: string }): void {
    const prefix = credentialDigest(credentials);
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}

function credentialDigest(credentials: {
  baseUrl: string;
  appId: number;
  privateKey: string;
}): string {
  return createHash("sha256")
    .update(`${credentials.baseUrl}\n${credentials.appId}\n${credentials.privateKey}`)
    .digest("hex");
}

function cacheKey(
  credentials: { baseUrl: string; appId: number; privateKey: string },
  scope: TokenScope,
): string {
  const repos = scope.repositoryIds ? [...scope.repositoryIds].sort((a, b) => a - b) : "all";
  const permissions = scope.permissions
    ? Object.entries(scope.permissions)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}=${v}`)
        .join(",")
    : "default";
  return `${credentialDigest(credentials)}|${scope.installationId}|${String(repos)}|${permissions}`;
}

/** The process's cache (tokens are re-minted after a restart, which GitHub allows freely). */
export const installationTokens = new InstallationTokenCache();

/**
 * A GitHub App connection's credentials for each call: the App's JWT for `/app/...`, and for a
 * repository a token of the App's installation that covers it (`GET /repos/:o/:r/installation`),
 * minted through `tokens`.
 */
export class GitHubAppAuth {
  private appKey: KeyObject | undefined;

  constructor(
    private readonly api: GitHubApi,
    private readonly credential: ProviderCredential,
    private readonly tokens: InstallationTokenCache,
  ) {}

  /** The App's id and private key; `invalid` for a connection that is not an App's. */
  app(): { appId: number; privateKey: string } {
    if (this.credential.kind !== "github_app") {
      throw new ProviderError(
        "invalid",
        "only a GitHub App connection has installations",
        "create a connection with the App's id and private key to clone through an installation",
      );
    }
    return this.credential;
  }

  /** The App itself, with a fresh JWT. */
  jwt(): Auth {
    const { appId, privateKey } = this.app();
    this.appKey ??= parseAppPrivateKey(privateKey);
    return { kind: "jwt", token: appJwt(appId, this.appKey) };
  }

  /** The ids of the App's installations. */
  async installationIds(): Promise<number[]> {
    const installations = await this.api.paged(
      `/app/installations?per_page=${PAGE_SIZE}`,
      this.jwt(),
      { action: "list the App's installations", purpose: "app" },
    );
    return installations.map((i) => field(i, "id", isInteger, "GET /app/installations"));
  }

  /** An installation of this App: `forbidden` when GitHub says it is not one of the App's. */
  async installation(installationId: number): Promise<{ id: number; account: string }> {
    const app = this.app();
    if (!Number.isSafeInteger(installationId) || installationId <= 0) {
      throw new ProviderError(
        "invalid",
        `${installationId} is not an installation id`,
        "installation ids are positive integers",
      );
    }
    const res = await this.api.call(
      "GET",
      `/app/installations/${installationId}`,
      this.jwt(),
      { action: `read installation ${installationId}`, purpose: "app" },
      { tolerated: [404] },
    );
    if (res.status === 404) {
      throw new ProviderError(
        "forbidden",
        `installation ${installationId} does not belong to the GitHub App ${app.appId}`,
        "use an installation of this App (the number at the end of the installation's settings URL, …/settings/installations/<id>), or connect the App that owns it",
        404,
      );
    }
    const body = record(res.body);
    if (body.suspended_at !== null && body.suspended_at !== undefined) {
      throw new ProviderError(
        "forbidden",
        `installation ${installationId} of the GitHub App ${app.appId} is suspended`,
        `unsuspend it in the installation's settings (${this.api.webUrl}/settings/installations/${installationId})`,
      );
    }
    const account = record(body.account).login;
    return { id: installationId, account: typeof account === "string" ? account : "" };
  }

  /**
   * A token of an installation for `scope`, cached; when `repo` is given, GitHub refusing it
   * means the installation lost access to the repository.
   */
  token(scope: TokenScope, repo?: ProviderRepo): Promise<InstallationToken> {
    const { appId, privateKey } = this.app();
    return this.tokens.get({ baseUrl: this.api.baseUrl, appId, privateKey }, scope, async () => {
      const operation = {
        action: `mint a token for installation ${scope.installationId}`,
        purpose: "app" as const,
      };
      const res = await this.api.call(
        "POST",
        `/app/installations/${scope.installationId}/access_tokens`,
        this.jwt(),
        operation,
        {
          body: {
            ...(scope.repositoryIds ? { repository_ids: scope.repositoryIds } : {}),
            ...(scope.permissions ? { permissions: scope.permissions } : {}),
          },
          tolerated: [422],
        },
      );
      if (res.status === 422) {
        if (repo === undefined) throw this.api.refusal(res, operation);
        throw new ProviderError(
          "forbidden",
          `the GitHub App installation ${scope.installationId} no longer has access to ${repo.fullPath} (${githubMessage(res.body)})`,
          `add the repository back to the installation (${this.api.webUrl}/settings/installations/${scope.installationId} → Repository access)`,
          422,
        );
      }
      const what = "POST /app/installations/:id/access_tokens";
      return {
        token: field(res.body, "token", isString, what),
        expiresAt: field(res.body, "expires_at", isString, what),
      };
    });
  }

  /** An installation, for calls on its repositories. */
  async installationAuth(scope: TokenScope): Promise<Auth> {
    return { kind: "installation", token: (await this.token(scope)).token };
  }

  /** The App's installation that covers a repository (`owner/name`), for calls on it. */
  async repositoryAuth(fullPath: string): Promise<Auth> {
    const res = await this.api.call(
      "GET",
      `${apiRepoPath(parseRepoRef(fullPath))}/installation`,
      this.jwt(),
      { action: `find the installation of ${fullPath}`, purpose: "app" },
      { tolerated: [404] },
    );
    if (res.status === 404) {
      throw new ProviderError(
        "not_found",
        `the GitHub App ${this.app().appId} is not installed on ${fullPath}`,
        "install the App on the repository's owner and give it access to this repository",
        404,
      );
    }
    return this.installationAuth({
      installationId: field(res.body, "id", isInteger, "GET /repos/:owner/:repo/installation"),
    });
  }
}
