import type { ProviderHttp, ProviderRequest, ProviderResponse } from "./http.ts";
import { ProviderError, type ProviderCredential, type ProviderErrorKind } from "./types.ts";

/**
 * What the adapters share: reading a provider's JSON without trusting it, comparing SSH keys,
 * and (for Bitbucket and Gitea, whose refusals follow one pattern) one call with its refusal
 * mapped onto a `ProviderError` in the provider's own words (`ProviderWords`).
 */

// ---------- reading JSON ----------

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** The object, or `{}` for anything else, so that a missing field reads as undefined. */
export const record = (value: unknown): Record<string, unknown> => (isRecord(value) ? value : {});

/** A non-empty string, or undefined. */
export const text = (value: unknown): string | undefined =>
  typeof value === "string" && value !== "" ? value : undefined;

export const isString = (value: unknown): value is string => typeof value === "string";

export function header(response: ProviderResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

/** A provider's message as one line, capped. */
export const oneLine = (value: string): string => value.replace(/\s+/g, " ").trim().slice(0, 300);

/** The host of a URL, for messages; the text itself when it is not a URL. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** `sha` when it is a commit id in the provider's form (`pattern`); refused before any request. */
export function commitId(sha: string, pattern: RegExp): string {
  if (pattern.test(sha)) return sha;
  throw new ProviderError(
    "invalid",
    `"${sha.slice(0, 70)}" is not a commit id`,
    "pass the commit's hash",
  );
}

/** `type base64` of an OpenSSH key line: providers keep or drop the comment. */
const keyMaterial = (key: string): string => key.trim().split(/\s+/).slice(0, 2).join(" ");

export const sameKey = (a: string, b: string): boolean => keyMaterial(a) === keyMaterial(b);

// ---------- one call, and its refusal in the provider's words ----------

/** The `Authorization` header of a token (`<scheme> <token>`) or an app password (Basic). */
export function authorization(
  credential: ProviderCredential,
  tokenScheme: string,
  provider: string,
  hint: string,
): string {
  switch (credential.kind) {
    case "token":
      return `${tokenScheme} ${credential.token}`;
    case "app_password":
      return `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString("base64")}`;
    case "github_app":
      throw new ProviderError(
        "invalid",
        `a GitHub App credential cannot be used with ${provider}`,
        hint,
      );
  }
}

/** What a call is for: its refusal says it could not `action` (+ ` repo`). */
export interface Operation {
  /** "list the webhooks of", completed by `repo`, or a whole phrase without one. */
  action: string;
  /** The repository as the caller named it, when the call is about one. */
  repo?: string;
  /** What the call manages, which chooses the hint of a refusal. */
  subject?: "keys" | "hooks" | "status";
}

/** How a provider words its refusals; `RestApi.refusal` maps the statuses alike for all. */
export interface ProviderWords {
  /** What the connection holds: "credential", "token". */
  credential: string;
  /** The provider's message in an error body, as one line ("" when it has none). */
  said(body: unknown): string;
  /** A 403 for a scope the credential lacks ("the Gitea token lacks the x scope"), else undefined. */
  missingScope(body: unknown, said: string): string | undefined;
  unauthorizedHint: string;
  scopeHint: string;
  forbiddenHint(operation: Operation): string;
  notFoundHint: string;
  /** Added to a 404 that is about no repository. */
  notFoundAside?: string;
  invalidHints: { keys: string; hooks: string; other: string };
  unavailableHint(status: number): string;
  /** What to check when the provider sends JSON Slipway cannot read. */
  unreadableHint: string;
}

export interface RestApiOptions {
  http: ProviderHttp;
  /** The API root without a trailing slash; throws (before anything is sent) when there is none. */
  apiUrl: () => string;
  /** The `Authorization` header; throws for a credential the provider does not take. */
  authorization: () => string;
  /** Who answers, in messages: "Bitbucket", or a Gitea instance's host. */
  provider: string;
  /** The API's host, named when an answer cannot be read. */
  host: string;
  words: ProviderWords;
}

export class RestApi {
  constructor(private readonly options: RestApiOptions) {}

  /**
   * One request; a status outside 2xx throws its refusal unless listed in `tolerated` (the
   * caller then reads it). `url` is a path under the API root, or a whole URL (a next link).
   */
  async call(
    request: ProviderRequest,
    operation: Operation,
    tolerated: readonly number[] = [],
  ): Promise<ProviderResponse> {
    const url = request.url.startsWith("/")
      ? `${this.options.apiUrl()}${request.url}`
      : request.url;
    const response = await this.options.http.request({
      ...request,
      url,
      headers: { ...request.headers, authorization: this.options.authorization() },
    });
    if ((response.status >= 200 && response.status < 300) || tolerated.includes(response.status)) {
      return response;
    }
    throw this.refusal(response, operation);
  }

  /** A refusal: what happened, in the provider's words, and where at the provider to fix it. */
  refusal(response: ProviderResponse, operation: Operation): ProviderError {
    const { provider, words } = this.options;
    const credential = words.credential;
    const status = response.status;
    const said = words.said(response.body);
    const detail = said === "" ? `HTTP ${status}` : `${status}: ${said}`;
    const target =
      operation.repo === undefined ? operation.action : `${operation.action} ${operation.repo}`;
    const refused = (kind: ProviderErrorKind, message: string, hint: string) =>
      new ProviderError(kind, message, hint, status);
    if (status === 401) {
      return refused(
        "unauthorized",
        `${provider} did not accept the connection's ${credential} (${detail})`,
        words.unauthorizedHint,
      );
    }
    if (status === 403) {
      const lacking = words.missingScope(response.body, said);
      return lacking === undefined
        ? refused(
            "forbidden",
            `${provider} refused to let this ${credential} ${target} (${detail})`,
            words.forbiddenHint(operation),
          )
        : refused("forbidden", `${lacking} needed to ${target}`, words.scopeHint);
    }
    if (status === 404) {
      return refused(
        "not_found",
        operation.repo
          ? `repository ${operation.repo} was not found on ${provider}, or this ${credential} cannot see it (${detail})`
          : `${provider} could not find what Slipway asked for (${detail})${words.notFoundAside ?? ""}`,
        words.notFoundHint,
      );
    }
    if (status === 400 || status === 422) {
      const { subject } = operation;
      return refused(
        "invalid",
        `${provider} refused to ${target} (${detail})`,
        subject === "keys" || subject === "hooks"
          ? words.invalidHints[subject]
          : words.invalidHints.other,
      );
    }
    if (status === 409) {
      return refused("conflict", `${provider} refused to ${target} (${detail})`, "Try again.");
    }
    return refused(
      "unavailable",
      `${provider} could not ${target} (${detail})`,
      words.unavailableHint(status),
    );
  }

  /** An answer whose `what` object is not what the provider's API sends. */
  unreadable(what: string): ProviderError {
    return new ProviderError(
      "unavailable",
      `${this.options.host} sent a ${what} object Slipway cannot read`,
      this.options.words.unreadableHint,
    );
  }
}
