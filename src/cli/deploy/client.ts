/**
 * The few calls of Slipway's `/api/v1` (Netlify's digest deploy protocol) that `slipway deploy`
 * makes. Every failure becomes an `ApiError` carrying the server's own reason (`message` of its
 * `{code, message}` body) or a `ConnectionError` naming the address that could not be reached.
 * The token goes only into the Authorization header; it never appears in a message.
 */

export interface Site {
  id: string;
  name: string;
  url: string;
  ssl_url?: string;
}

export interface Deploy {
  id: string;
  site_id: string;
  state: string;
  name?: string;
  url?: string;
  ssl_url?: string;
  deploy_url?: string;
  deploy_ssl_url?: string;
  required?: string[];
  error_message?: string | null;
  draft?: boolean;
}

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }

  /** Worth another try: the server was busy or failed; a 4xx is an answer about the request. */
  get transient(): boolean {
    return this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export class ConnectionError extends Error {
  override name = "ConnectionError";
  readonly transient = true;
}

/**
 * `http://host:port` or `http://host:port/api/v1` (with or without a trailing slash), as
 * netlify-cli accepts it, to the API base (`…/api/v1`).
 */
export function apiBase(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`the API URL "${url}" is not a URL (expected e.g. http://localhost:8080)`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new Error(`the API URL "${url}" must start with http:// or https://`);
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new Error("the API URL must not hold credentials; pass the token with --auth");
  }
  const path = parsed.pathname.replace(/\/+$/, "");
  return `${parsed.origin}${path === "" ? "/api/v1" : path}`;
}

/** Each segment percent-encoded, the `/` separators kept (`a b/c#d` → `a%20b/c%23d`). */
export function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const REQUEST_TIMEOUT_MS = 60_000;
/** An upload may be a large file on a slow link. */
const UPLOAD_TIMEOUT_MS = 10 * 60_000;

interface CallOptions {
  json?: unknown;
  body?: Buffer | ReadableStream<Uint8Array>;
  query?: Record<string, string | undefined>;
  timeoutMs?: number;
}

export class SlipwayApi {
  readonly base: string;

  constructor(
    apiUrl: string,
    private readonly token: string,
  ) {
    this.base = apiBase(apiUrl);
  }

  /** A site by id (UUID) or by exact name; a missing one is an `ApiError` 404. */
  async findSite(idOrName: string): Promise<Site> {
    if (UUID.test(idOrName)) return this.call<Site>("GET", `/sites/${idOrName}`);
    const sites = await this.call<Site[]>("GET", "/sites", {
      query: { name: idOrName, filter: "all", per_page: "100" },
    });
    const site = sites.find((s) => s.name === idOrName);
    if (!site) throw new ApiError(404, `no site named "${idOrName}" in your account`);
    return site;
  }

  createSite(name?: string): Promise<Site> {
    return this.call<Site>("POST", "/sites", { json: name === undefined ? {} : { name } });
  }

  createDeploy(
    siteId: string,
    options: { draft: boolean; title?: string; branch?: string },
  ): Promise<Deploy> {
    return this.call<Deploy>("POST", `/sites/${encodeURIComponent(siteId)}/deploys`, {
      query: { title: options.title },
      json: {
        draft: options.draft,
        ...(options.branch === undefined ? {} : { branch: options.branch }),
      },
    });
  }

  /** Sends the digest (path → SHA-1); the answer's `required` lists the contents to upload. */
  sendDigest(siteId: string, deployId: string, files: Record<string, string>): Promise<Deploy> {
    return this.call<Deploy>(
      "PUT",
      `/sites/${encodeURIComponent(siteId)}/deploys/${encodeURIComponent(deployId)}`,
      { json: { files, async: false } },
    );
  }

  getDeploy(siteId: string, deployId: string): Promise<Deploy> {
    return this.call<Deploy>(
      "GET",
      `/sites/${encodeURIComponent(siteId)}/deploys/${encodeURIComponent(deployId)}`,
    );
  }

  async uploadFile(
    deployId: string,
    path: string,
    body: Buffer | ReadableStream<Uint8Array>,
    size: number,
  ): Promise<void> {
    await this.call("PUT", `/deploys/${encodeURIComponent(deployId)}/files/${encodePath(path)}`, {
      body,
      query: { size: String(size) },
      timeoutMs: UPLOAD_TIMEOUT_MS,
    });
  }

  async cancelDeploy(deployId: string): Promise<void> {
    await this.call("POST", `/deploys/${encodeURIComponent(deployId)}/cancel`);
  }

  private async call<T = unknown>(
    method: string,
    path: string,
    options: CallOptions = {},
  ): Promise<T> {
    const url = new URL(`${this.base}${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.token}`,
      accept: "application/json",
    };
    let body: string | Buffer | ReadableStream<Uint8Array> | undefined;
    if (options.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.json);
    } else if (options.body !== undefined) {
      headers["content-type"] = "application/octet-stream";
      body = options.body;
    }
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body,
        // A stream body is sent as it is read (fetch requires saying so).
        ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
        signal: AbortSignal.timeout(options.timeoutMs ?? REQUEST_TIMEOUT_MS),
      } as RequestInit);
    } catch (error) {
      throw new ConnectionError(`cannot reach ${url.origin} (${method} ${path}): ${cause(error)}`);
    }
    const text = await response.text().catch((error: unknown) => {
      throw new ConnectionError(`${method} ${path}: the response broke off: ${cause(error)}`);
    });
    if (!response.ok) throw new ApiError(response.status, errorMessage(response.status, text));
    if (text === "") return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(response.status, `${method} ${path}: the answer is not JSON`);
    }
  }
}

function cause(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === "TimeoutError") return "no answer in time";
  const inner = (error as { cause?: unknown }).cause;
  // fetch fails with "fetch failed"; the reason (`connect ECONNREFUSED …`) is its cause.
  return inner instanceof Error ? inner.message : error.message;
}

/** The server's `message`, else a short piece of its body, else the status. */
function errorMessage(status: number, text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown; error?: unknown };
    if (typeof parsed.message === "string" && parsed.message !== "") return parsed.message;
    if (typeof parsed.error === "string" && parsed.error !== "") return parsed.error;
  } catch {
    // not JSON
  }
  const snippet = text.trim().slice(0, 200);
  return snippet === "" ? `HTTP ${status}` : `HTTP ${status}: ${snippet}`;
}
