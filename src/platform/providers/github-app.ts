import { createHash, createPrivateKey, sign, type KeyObject } from "node:crypto";
import { ProviderError } from "./types.ts";

/**
 * # GitHub App authentication
 *
 * An App proves who it is with a short JSON Web Token signed with its private key (RS256,
 * `iss` = the App id, issued 60 s in the past to absorb clock drift, valid at most 10 minutes:
 * GitHub's documented rules). With that JWT it may only call `/app/...` endpoints; to touch a
 * repository it exchanges the JWT for an installation access token (one hour), scoped to the
 * repositories and permissions of one installation. Those tokens are cached until shortly
 * before they expire, keyed by the App's credentials, so that a connection with another key
 * never gets a token it did not mint itself.
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
