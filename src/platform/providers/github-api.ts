import type { ProviderHttp, ProviderRequest, ProviderResponse } from "./http.ts";
import { BASE_URL_HINT, items } from "./github-parse.ts";
import { githubRefusal, type GitHubOperation } from "./github-refusals.ts";
import { hostOf, nextLink, READ_FILE_MAX_BYTES, RestApi, withinApi } from "./rest.ts";
import type { ProviderConnection, ProviderError } from "./types.ts";

/**
 * GitHub's REST API v3 for one connection, on the shared `RestApi`: every call carries the
 * bearer token it is made as (`Auth`: a personal access token, the App's JWT, or an
 * installation token), GitHub's media type and API version; lists follow `Link: rel="next"`
 * within the API, `MAX_PAGES` pages at most; refusals read as `github-refusals.ts` words them.
 */

export const GITHUB_API_VERSION = "2022-11-28";

/** Who a call is made as: the token's user, the App itself (its JWT), or one of its installations. */
export interface Auth {
  kind: "pat" | "jwt" | "installation";
  token: string;
}

export class GitHubApi {
  /** The API root without a trailing slash (`https://api.github.com`, `https://<host>/api/v3`). */
  readonly baseUrl: string;
  private readonly rest: RestApi<GitHubOperation>;

  constructor(connection: ProviderConnection, http: ProviderHttp) {
    this.baseUrl = connection.baseUrl.replace(/\/+$/, "");
    this.rest = new RestApi({
      http,
      apiUrl: () => this.baseUrl,
      headers: () => ({
        accept: "application/vnd.github+json",
        "x-github-api-version": GITHUB_API_VERSION,
      }),
      host: hostOf(this.baseUrl),
      refusal: githubRefusal(connection.credential, () => this.webUrl),
      unreadableHint: BASE_URL_HINT,
    });
  }

  /** GitHub's web host for this API (`https://github.com`, or a GHES host). */
  get webUrl(): string {
    const url = new URL(this.baseUrl);
    if (url.hostname === "api.github.com") return "https://github.com";
    return `${url.origin}${url.pathname.replace(/\/api\/v3$/, "")}`.replace(/\/+$/, "");
  }

  /**
   * One call as `auth`; a status outside 2xx throws its refusal unless listed in `tolerated`
   * (the caller then reads it).
   */
  call(
    method: ProviderRequest["method"],
    path: string,
    auth: Auth,
    operation: GitHubOperation,
    options: { body?: unknown; tolerated?: readonly number[]; rawFile?: boolean } = {},
  ): Promise<ProviderResponse> {
    return this.rest.call(
      {
        method,
        url: path,
        // A file's contents as they are (GitHub's raw media type), not base64 in JSON.
        headers: options.rawFile
          ? { ...bearer(auth), accept: "application/vnd.github.raw+json" }
          : bearer(auth),
        ...(options.rawFile ? { raw: { maxBytes: READ_FILE_MAX_BYTES } } : {}),
        ...(options.body !== undefined ? { body: options.body } : {}),
      },
      operation,
      options.tolerated,
    );
  }

  /**
   * Every item of a list (the body, or its `key`), following `Link: rel="next"` as long as it
   * stays within the API.
   */
  paged(path: string, auth: Auth, operation: GitHubOperation, key?: string): Promise<unknown[]> {
    return this.rest.list(
      path,
      operation,
      (response) => {
        const next = nextLink(response);
        return {
          items: items(response.body, operation.action, key),
          next: next !== undefined && withinApi(next, this.baseUrl) ? next : undefined,
        };
      },
      { headers: bearer(auth) },
    );
  }

  /** A refused call as a `ProviderError` with a hint in GitHub's terms. */
  refusal(response: ProviderResponse, operation: GitHubOperation): ProviderError {
    return this.rest.refusal(response, operation);
  }
}

const bearer = (auth: Auth): Record<string, string> => ({
  authorization: `Bearer ${auth.token}`,
});
