import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { collectDefaultMetrics, Registry } from "prom-client";
import { safeEqual } from "./tokens.ts";

/**
 * What the platform and the forge share about Prometheus metrics: one registry per server
 * instance (tests start several servers in one process, so nothing goes to prom-client's global
 * registry), the bearer-token check, and the separate listener an operator may choose instead.
 */

/** Where `/metrics` is served and who may read it (`SLIPWAY_METRICS_TOKEN`, `..._ADDRESS`). */
export interface MetricsConfig {
  /** Readers must send `Authorization: Bearer <token>`; unset: no token asked. */
  token: string | undefined;
  /** `host:port` of a listener that serves only `/metrics`; unset: the server's own port. */
  address: string | undefined;
}

/** A fresh registry with Node's default process metrics (CPU, memory, event loop, GC). */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Whether an `Authorization` header carries the metrics token (constant-time). */
export function metricsAuthorized(
  authorization: string | undefined,
  token: string | undefined,
): boolean {
  if (token === undefined) return true;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  return match !== null && safeEqual(match[1]!, token);
}

export const METRICS_CHALLENGE = 'Bearer realm="slipway metrics"';

export interface MetricsAnswer {
  status: 200 | 401;
  headers: Record<string, string>;
  body: string;
}

/** `GET /metrics` answered: the registry's text, or 401 without the token. */
export async function answerMetrics(
  registry: Registry,
  token: string | undefined,
  authorization: string | undefined,
): Promise<MetricsAnswer> {
  if (!metricsAuthorized(authorization, token)) {
    return {
      status: 401,
      headers: {
        "content-type": "text/plain; charset=utf-8",
        "www-authenticate": METRICS_CHALLENGE,
      },
      body: "Send Authorization: Bearer <SLIPWAY_METRICS_TOKEN>\n",
    };
  }
  return {
    status: 200,
    headers: { "content-type": registry.contentType, "cache-control": "no-store" },
    body: await registry.metrics(),
  };
}

/** A `node:http` listener answering `GET /metrics` (and 404 to anything else). */
export function metricsListener(
  registry: Registry,
  token: string | undefined,
): (req: IncomingMessage, res: ServerResponse) => void {
  const answer = (res: ServerResponse, status: number, text: string, extra = {}): void => {
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...extra });
    res.end(`${text}\n`);
  };
  return (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (path !== "/metrics") return answer(res, 404, "Not Found");
    if (req.method !== "GET" && req.method !== "HEAD") {
      return answer(res, 405, "Method Not Allowed", { allow: "GET, HEAD" });
    }
    answerMetrics(registry, token, req.headers.authorization).then(
      (answered) => {
        res.writeHead(answered.status, answered.headers);
        res.end(req.method === "HEAD" ? undefined : answered.body);
      },
      () => answer(res, 500, "Internal Server Error"),
    );
  };
}

/** Splits `host:port` (`[v6]:port` too); the port is required. */
export function parseListenAddress(address: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/.exec(address);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65_535) return undefined;
  return { host: (match[1] ?? match[2])!, port };
}

/** Starts the separate metrics listener; resolves with it and its real port. */
export async function startMetricsServer(
  registry: Registry,
  config: MetricsConfig & { address: string },
): Promise<{ server: Server; port: number; stop(): Promise<void> }> {
  const where = parseListenAddress(config.address);
  if (!where) throw new Error(`metrics address ${JSON.stringify(config.address)} is not host:port`);
  const server = createServer(metricsListener(registry, config.token));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(where.port, where.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** `2xx` for 200…299: the edge's status label, five values at most. */
export function statusClass(status: number): "1xx" | "2xx" | "3xx" | "4xx" | "5xx" {
  if (status >= 500) return "5xx";
  if (status >= 400) return "4xx";
  if (status >= 300) return "3xx";
  if (status >= 200) return "2xx";
  return "1xx";
}
