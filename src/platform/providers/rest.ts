import { isRecord } from "../../lib/json.ts";
import { hasControlCharacters } from "../../lib/text.ts";
import type { ProviderHttp, ProviderRequest, ProviderResponse } from "./http.ts";
import { ProviderError, type ProviderCredential, type ProviderErrorKind } from "./types.ts";

/**
 * What the adapters share: reading a provider's JSON without trusting it, comparing SSH keys,
 * the credential's header, one call with its refusal mapped onto a `ProviderError` in the
 * provider's own words, and every page of a list up to one cap. Bitbucket and Gitea, whose
 * refusals follow one pattern, map them with `refusalInWords`; GitHub and GitLab bring their
 * own mapping (`github-refusals.ts`, `gitlab.ts`).
 */

// ---------- reading JSON ----------

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

/** The most a file read through a provider's API (`readFile`) may weigh. */
export const READ_FILE_MAX_BYTES = 1024 * 1024;

/**
 * A file's path inside a repository, relative and plain (no `..`, `.`, empty parts or control
 * characters), as URL-encoded path segments; refused before any request.
 */
export function filePathSegments(path: string): string[] {
  const segments = path.split("/");
  const bad = (s: string) => s === "" || s === "." || s === ".." || hasControlCharacters(s);
  if (path.length > 1024 || segments.some(bad)) {
    throw new ProviderError(
      "invalid",
      `"${path.slice(0, 100)}" is not a file path inside a repository`,
      "name a file relative to the repository's root, without . or .. parts",
    );
  }
  return segments.map(encodeURIComponent);
}

/** The `name` of each branch of a provider's list; `unreadable()` when one has none. */
export function branchNames(items: unknown[], unreadable: () => ProviderError): string[] {
  return items.map((item) => {
    const name = text(record(item).name);
    if (name === undefined) throw unreadable();
    return name;
  });
}

/** The names that contain `search`, ignoring case; all of them for no (or an empty) search. */
export function containing(names: string[], search: string | undefined): string[] {
  const needle = search?.trim().toLowerCase() ?? "";
  return needle === "" ? names : names.filter((name) => name.toLowerCase().includes(needle));
}

/** `type base64` of an OpenSSH key line: providers keep or drop the comment. */
const keyMaterial = (key: string): string => key.trim().split(/\s+/).slice(0, 2).join(" ");

export const sameKey = (a: string, b: string): boolean => keyMaterial(a) === keyMaterial(b);

// ---------- the credential, and a refusal in the provider's words ----------

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

/** What a call is for, in the shared mapping: its refusal says it could not `action` (+ ` repo`). */
export interface Operation {
  /** "list the webhooks of", completed by `repo`, or a whole phrase without one. */
  action: string;
  /** The repository as the caller named it, when the call is about one. */
  repo?: string;
  /** What the call manages, which chooses the hint of a refusal. */
  subject?: "keys" | "hooks" | "status";
}

/** How a provider words its refusals; `refusalInWords` maps the statuses alike for all. */
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
}

/** A refused call as a `ProviderError`; `Op` is what the provider's mapping needs to know. */
export type Refusal<Op> = (response: ProviderResponse, operation: Op) => ProviderError;

/**
 * The refusals of a provider whose statuses mean what they mean everywhere (Bitbucket, Gitea):
 * what happened, in the provider's `words`, and where at the provider to fix it.
 */
export function refusalInWords(provider: string, words: ProviderWords): Refusal<Operation> {
  return (response, operation) => {
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
  };
}

// ---------- one call, and every page of a list ----------

/** Pages followed at most when listing: 1,000 items at the page size of 100 most APIs allow. */
export const MAX_PAGES = 10;
export const PAGE_SIZE = 100;

/** One page of a list: its items, and the URL of the next page when there is one. */
export interface Page {
  items: unknown[];
  next: string | undefined;
}

/** Whether `url` is under the API root `apiUrl`: the only place a credential is ever sent. */
export const withinApi = (url: string, apiUrl: string): boolean =>
  url === apiUrl || url.startsWith(`${apiUrl}/`) || url.startsWith(`${apiUrl}?`);

/** The `rel="next"` URL of a `Link` header (GitHub, GitLab), if there is one. */
export function nextLink(response: ProviderResponse): string | undefined {
  const link = header(response, "link");
  if (link === undefined) return undefined;
  for (const part of link.split(",")) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
    if (match) return match[1];
  }
  return undefined;
}

export interface RestApiOptions<Op> {
  http: ProviderHttp;
  /** The API root without a trailing slash; throws (before anything is sent) when there is none. */
  apiUrl: () => string;
  /**
   * Headers of every request, the credential's among them (`Authorization`, GitLab's
   * `PRIVATE-TOKEN`; they win over a request's own); throws for a credential the provider does
   * not take.
   */
  headers: () => Record<string, string>;
  /** The API's host, named when an answer cannot be read. */
  host: string;
  /** A refused call in the provider's words (`refusalInWords`, or the provider's own mapping). */
  refusal: Refusal<Op>;
  /** What to check when the provider sends JSON Slipway cannot read. */
  unreadableHint: string;
}

/** One provider's REST API: its calls, its lists, and its refusals as `ProviderError`s. */
export class RestApi<Op = Operation> {
  constructor(private readonly options: RestApiOptions<Op>) {}

  /** The API root (throws when the connection has none). */
  get apiUrl(): string {
    return this.options.apiUrl();
  }

  /**
   * One request, whatever the answer (the caller reads the status). `url` is a path under the
   * API root, or a whole URL (a next link).
   */
  send(request: ProviderRequest): Promise<ProviderResponse> {
    const url = request.url.startsWith("/") ? `${this.apiUrl}${request.url}` : request.url;
    const headers = { ...request.headers, ...this.options.headers() };
    // A request's own media type wins (a file's raw contents instead of JSON).
    if (request.headers?.accept !== undefined) headers.accept = request.headers.accept;
    return this.options.http.request({ ...request, url, headers });
  }

  /**
   * One request; a status outside 2xx throws its refusal unless listed in `tolerated` (the
   * caller then reads it).
   */
  async call(
    request: ProviderRequest,
    operation: Op,
    tolerated: readonly number[] = [],
  ): Promise<ProviderResponse> {
    const response = await this.send(request);
    if ((response.status >= 200 && response.status < 300) || tolerated.includes(response.status)) {
      return response;
    }
    throw this.refusal(response, operation);
  }

  /**
   * Every item of a paged list from `url` on, `maxPages` pages at most: `page` reads each
   * answer (its number from 1) into its items, throwing when they are not a list, and the next
   * page's URL. Each page is a `call` with `headers` on top.
   */
  async list(
    url: string,
    operation: Op,
    page: (response: ProviderResponse, number: number) => Page,
    options: { headers?: Record<string, string>; maxPages?: number } = {},
  ): Promise<unknown[]> {
    const items: unknown[] = [];
    const maxPages = options.maxPages ?? MAX_PAGES;
    let next: string | undefined = url;
    for (let number = 1; next !== undefined && number <= maxPages; number++) {
      const response = await this.call(
        { method: "GET", url: next, ...(options.headers ? { headers: options.headers } : {}) },
        operation,
      );
      const read = page(response, number);
      items.push(...read.items);
      next = read.next;
    }
    return items;
  }

  /** A refusal: what happened, in the provider's words, and where at the provider to fix it. */
  refusal(response: ProviderResponse, operation: Op): ProviderError {
    return this.options.refusal(response, operation);
  }

  /** An answer whose `what` object is not what the provider's API sends. */
  unreadable(what: string): ProviderError {
    return new ProviderError(
      "unavailable",
      `${this.options.host} sent a ${what} object Slipway cannot read`,
      this.options.unreadableHint,
    );
  }
}
