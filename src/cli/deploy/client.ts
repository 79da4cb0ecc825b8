import { Agent, request as httpRequest, type IncomingMessage } from "node:http";
import type { Readable } from "node:stream";

/**
 * The few calls of Slipway's `/api/v1` (Netlify's digest deploy protocol) that `slipway deploy`
 * makes. Every failure becomes an `ApiError` carrying the server's own reason (`message` of its
 * `{code, message}` body) or a `ConnectionError` naming the address that could not be reached.
 * The token goes only into the Authorization header; it never appears in a message.
 *
 * Built on `node:http(s)` with one keep-alive agent rather than `fetch`: loading fetch's
 * implementation costs a CLI run more than all of an unchanged deploy's requests, and its idle
 * sockets keep the process alive after the work is done. `close()` ends the connections.
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

const REQUEST_TIMEOUT_MS = 60_000;
/** An upload may be a large file on a slow link. */
const UPLOAD_TIMEOUT_MS = 10 * 60_000;

/** Answers are small JSON documents; anything far larger is not the API. */
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

interface CallOptions {
  json?: unknown;
  /** An upload: the bytes, or a stream of `size` bytes. */
  body?: { data: Buffer | Readable; size: number };
  query?: Record<string, string | undefined>;
  timeoutMs?: number;
}

type Send = typeof httpRequest;

export class SlipwayApi {
  readonly base: string;
  private readonly agent: Agent;
  private transport: Promise<Send> | undefined;

  constructor(
    apiUrl: string,
    private readonly token: string,
    /** Connections kept open at once (uploads run in parallel). */
    maxSockets = 8,
  ) {
    this.base = apiBase(apiUrl);
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  /** Closes the kept-alive connections, so that the process can exit at once. */
  close(): void {
    this.agent.destroy();
  }

  createSite(name?: string): Promise<Site> {
    return this.call<Site>("POST", "/sites", { json: name === undefined ? {} : { name } });
  }

  /**
   * Creates a deploy of a site (by id or name) with its digest (path → SHA-1) in one call; the
   * answer's `required` lists the contents to upload. When the platform already has every
   * content, the answer is the finished (`ready`) deploy.
   */
  createDeploy(
    site: string,
    options: { draft: boolean; files: Record<string, string>; title?: string; branch?: string },
  ): Promise<Deploy> {
    return this.call<Deploy>("POST", `/sites/${encodeURIComponent(site)}/deploys`, {
      query: { title: options.title },
      json: {
        draft: options.draft,
        files: options.files,
        async: false,
        ...(options.branch === undefined ? {} : { branch: options.branch }),
      },
    });
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
    data: Buffer | Readable,
    size: number,
  ): Promise<void> {
    await this.call("PUT", `/deploys/${encodeURIComponent(deployId)}/files/${encodePath(path)}`, {
      body: { data, size },
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
    const headers: Record<string, string | number> = {
      authorization: `Bearer ${this.token}`,
      accept: "application/json",
    };
    let body: Buffer | Readable | undefined;
    if (options.json !== undefined) {
      body = Buffer.from(JSON.stringify(options.json));
      headers["content-type"] = "application/json";
      headers["content-length"] = body.length;
    } else if (options.body !== undefined) {
      body = options.body.data;
      headers["content-type"] = "application/octet-stream";
      headers["content-length"] = options.body.size;
    }
    const send = await (this.transport ??= transportFor(url));
    let answer: { status: number; text: string };
    try {
      answer = await exchange(send, url, {
        method,
        headers,
        body,
        agent: this.agent,
        timeoutMs: options.timeoutMs ?? REQUEST_TIMEOUT_MS,
      });
    } catch (error) {
      throw new ConnectionError(
        `cannot reach ${url.origin} (${method} ${path}): ${(error as Error).message}`,
      );
    }
    const { status, text } = answer;
    if (status < 200 || status > 299) throw new ApiError(status, errorMessage(status, text));
    if (text === "") return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(status, `${method} ${path}: the answer is not JSON`);
    }
  }
}

/** `node:https` is loaded only for https URLs (TLS costs start-up time). */
async function transportFor(url: URL): Promise<Send> {
  if (url.protocol === "http:") return httpRequest;
  return (await import("node:https")).request as unknown as Send;
}

/** One request and its whole answer; a socket idle for `timeoutMs` fails it. */
function exchange(
  send: Send,
  url: URL,
  options: {
    method: string;
    headers: Record<string, string | number>;
    body: Buffer | Readable | undefined;
    agent: Agent;
    timeoutMs: number;
  },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = send(url, {
      method: options.method,
      headers: options.headers,
      agent: options.agent,
    });
    request.setTimeout(options.timeoutMs, () =>
      request.destroy(new Error(`no answer in ${options.timeoutMs / 1000} s`)),
    );
    request.on("error", reject);
    request.on("response", (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) request.destroy(new Error("the answer is too large"));
        else chunks.push(chunk);
      });
      response.on("error", reject);
      response.on("aborted", () => reject(new Error("the answer broke off")));
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
      );
    });
    const { body } = options;
    if (body === undefined || Buffer.isBuffer(body)) {
      request.end(body);
    } else {
      body.on("error", (error) => request.destroy(error));
      body.pipe(request);
    }
  });
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
