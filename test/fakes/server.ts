import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * The small HTTP base the provider fakes share: a route table of `METHOD /path/:param`
 * patterns, JSON bodies in and out, and a log of every request (so tests can assert what an
 * adapter called, and that it called nothing it should not). Each fake (github/, bitbucket/,
 * gitea/) is written from that provider's public API documentation and answers what the real
 * API answers — including refusals — for the endpoints it implements; anything else is the
 * provider's 404.
 */
export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  params: Record<string, string>;
  headers: IncomingMessage["headers"];
  /** The raw body (webhook signatures, git). */
  raw: Buffer;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

export interface FakeReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type FakeHandler = (req: FakeRequest) => FakeReply | Promise<FakeReply>;

export interface FakeRoute {
  method: string;
  pattern: string;
  handler: FakeHandler;
}

export interface LoggedRequest {
  method: string;
  path: string;
  status: number;
}

export interface FakeServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  requests: LoggedRequest[];
  close(): Promise<void>;
}

/** `/repos/:owner/:repo` → a matcher yielding the params, or null. Params never match `/`. */
function compile(pattern: string): (path: string) => Record<string, string> | null {
  const names: string[] = [];
  const source = pattern
    .split("/")
    .map((part) => {
      if (part.startsWith(":")) {
        names.push(part.slice(1));
        return "([^/]+)";
      }
      if (part === "*") {
        names.push("*");
        return "(.+)";
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  const regex = new RegExp(`^${source}$`);
  return (path) => {
    const match = regex.exec(path);
    if (!match) return null;
    const params: Record<string, string> = {};
    names.forEach((name, i) => {
      params[name] = decodeURIComponent(match[i + 1]!);
    });
    return params;
  };
}

export interface FakeServerOptions {
  routes: FakeRoute[];
  /** The provider's answer for an unknown route. */
  notFound: (req: FakeRequest) => FakeReply;
  /**
   * Handles a request before routing when it returns true (e.g. git smart HTTP, which streams).
   */
  raw?: (req: IncomingMessage, res: ServerResponse, body: Buffer) => boolean | Promise<boolean>;
}

/** A route that always answers `reply` (a misbehaving provider, in a test). */
export const cannedRoute = (method: string, pattern: string, reply: FakeReply): FakeRoute => ({
  method,
  pattern,
  handler: () => reply,
});

/** Whether a check answered with a refusal rather than with what it grants. */
export const isReply = (value: object): value is FakeReply => "status" in value;

/**
 * A maker of routes guarded by `check`: a handler runs only when the check lets the request
 * through, with what it grants (the caller, the repository…); otherwise the check's refusal is
 * the answer.
 */
export function guardedRoutes<T extends object>(check: (req: FakeRequest) => T | FakeReply) {
  return (
    method: string,
    pattern: string,
    handler: (req: FakeRequest, granted: T) => FakeReply | Promise<FakeReply>,
  ): FakeRoute => ({
    method,
    pattern,
    handler: (req) => {
      const granted = check(req);
      return isReply(granted) ? granted : handler(req, granted);
    },
  });
}

/**
 * One webhook delivery attempt, as the fakes make them (no redirects followed): the receiver's
 * status and answer, or status 0 and why there was none.
 */
export async function sendDelivery(
  url: string,
  headers: Record<string, string>,
  body: string | Buffer,
  timeoutMs = 10_000,
): Promise<{ status: number; responseBody: string }> {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers,
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: response.status, responseBody: await response.text() };
  } catch (error) {
    return { status: 0, responseBody: (error as Error).message };
  }
}

/** `server` listening on a free port of 127.0.0.1, and a `close` that drops open connections. */
export async function listen(
  server: Server,
): Promise<{ url: string; port: number; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function startFakeServer(options: FakeServerOptions): Promise<FakeServer> {
  const routes = options.routes.map((r) => ({ ...r, match: compile(r.pattern) }));
  const requests: LoggedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const raw = Buffer.concat(chunks);
        const url = new URL(req.url ?? "/", "http://fake");
        if (options.raw && (await options.raw(req, res, raw))) {
          requests.push({ method: req.method ?? "", path: url.pathname, status: res.statusCode });
          return;
        }
        let json: unknown;
        if (raw.length > 0 && /json/i.test(String(req.headers["content-type"] ?? ""))) {
          try {
            json = JSON.parse(raw.toString("utf8")) as unknown;
          } catch {
            json = undefined;
          }
        }
        const base = {
          method: req.method ?? "GET",
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          raw,
          json,
        };
        let reply: FakeReply | undefined;
        try {
          for (const route of routes) {
            if (route.method !== base.method) continue;
            const params = route.match(base.path);
            if (params) {
              reply = await route.handler({ ...base, params });
              break;
            }
          }
          reply ??= options.notFound({ ...base, params: {} });
        } catch (error) {
          reply = { status: 500, body: { message: (error as Error).message } };
        }
        requests.push({ method: base.method, path: base.path, status: reply.status });
        const headers: Record<string, string> = { ...reply.headers };
        let payload: string | undefined;
        if (reply.body !== undefined) {
          payload = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
          headers["content-type"] ??= "application/json; charset=utf-8";
        }
        res.writeHead(reply.status, headers);
        res.end(payload);
      })();
    });
  });
  return { ...(await listen(server)), requests };
}
