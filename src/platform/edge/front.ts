import type { Kysely } from "kysely";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import type { Logger } from "../../lib/logger.ts";
import type { PlatformDatabase } from "../db/schema.ts";
import { CHALLENGE_PREFIX, challengeAnswer } from "../domains/challenges.ts";
import type { DomainRoute } from "../domains/hosts.ts";
import type { DomainRoutes } from "./domain-routes.ts";
import { NOT_CACHED } from "./host-cache.ts";
import { normaliseHost, parseSiteHost } from "./hosts.ts";

/**
 * What every public listener does before a request reaches a site or the API:
 *
 * 1. `/.well-known/acme-challenge/<token>` on any host, over plain HTTP or HTTPS, is answered
 *    from the challenge store before any site routing, redirect or `_redirects` rule (an unknown
 *    token falls through to the host's normal routing);
 * 2. `{site}.{sites domain}` hosts go to the edge, as before;
 * 3. the API's own host goes to the API (on listeners that serve it);
 * 4. any other host is looked up among the custom domains: an alias or the www/apex companion
 *    is 301-redirected to the primary domain (over HTTPS once it has a certificate), plain HTTP
 *    to a secured domain with `force_ssl` is 301-redirected to HTTPS, HTTPS answers carry the
 *    site's opt-in HSTS header, and the rest is served by the edge;
 * 5. an unknown host goes to the API where the listener serves it (as before), else a 404.
 */

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
/** The edge, handed the request's host as the front normalised it. */
type EdgeHandler = (req: IncomingMessage, res: ServerResponse, host: string) => void;

export interface FrontOptions {
  db: Kysely<PlatformDatabase>;
  /** Custom host → route, shared with the edge (invalidated when domains change). */
  routes: DomainRoutes;
  sitesDomain: string;
  /** The API's host name (from `SLIPWAY_PUBLIC_URL`), normalised. */
  apiHost: string | undefined;
  edge: EdgeHandler;
  /** Public ports, read on each redirect (they are known only once listening). */
  ports: () => { http: number; https: number | null };
  /** Addresses whose `X-Forwarded-Proto` is believed. */
  trustedProxies: readonly string[];
  logger?: Logger;
  now?: () => Date;
}

export interface Front {
  /**
   * A request listener for one listener. `api` receives the API's host (and unknown hosts);
   * without it (public-only listeners) those get a 404. `secure`: the listener speaks TLS.
   */
  listener(options: { api?: Handler; secure: boolean }): Handler;
}

interface HostOf {
  host: string | undefined;
  /** Under the sites domain (and not the API's own host): the edge's. */
  sites: boolean;
}

const UNKNOWN_HOST: HostOf = { host: undefined, sites: false };

const plain = (
  res: ServerResponse,
  status: number,
  text: string,
  extra: Record<string, string> = {},
): void => {
  const body = Buffer.from(`${text}\n`);
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": String(body.length),
    "cache-control": "no-cache",
    ...extra,
  });
  res.end(body);
};

export function createFront(options: FrontOptions): Front {
  const now = options.now ?? (() => new Date());
  const { routes } = options;

  /**
   * `Host` header → its normalised host and whether it is under the sites domain: one map
   * look-up per request for both (headers repeat: a browser sends the same one every time).
   */
  const hosts = new Map<string, HostOf>();
  const hostOf = (header: string | undefined): HostOf => {
    if (header === undefined) return UNKNOWN_HOST;
    let known = hosts.get(header);
    if (known === undefined) {
      const host = normaliseHost(header);
      known =
        host === undefined
          ? UNKNOWN_HOST
          : {
              host,
              sites:
                host !== options.apiHost && parseSiteHost(host, options.sitesDomain) !== undefined,
            };
      if (hosts.size >= 4096) hosts.clear();
      hosts.set(header, known);
    }
    return known;
  };

  const forwardedSecure = (req: IncomingMessage): boolean => {
    const remote = req.socket.remoteAddress?.replace(/^::ffff:/, "");
    if (remote === undefined || !options.trustedProxies.includes(remote)) return false;
    const proto = req.headers["x-forwarded-proto"];
    return (
      (Array.isArray(proto) ? proto[0] : proto)?.split(",")[0]?.trim().toLowerCase() === "https"
    );
  };

  const urlOf = (scheme: "http" | "https", host: string, path: string): string => {
    const ports = options.ports();
    const port = scheme === "https" ? ports.https : ports.http;
    const suffix = port === null || port === (scheme === "https" ? 443 : 80) ? "" : `:${port}`;
    return `${scheme}://${host}${suffix}${path.startsWith("/") ? path : `/${path}`}`;
  };

  const redirect = (res: ServerResponse, location: string, head: boolean): void => {
    const body = Buffer.from(`Redirecting to ${location}\n`);
    res.writeHead(301, {
      location,
      "content-type": "text/plain; charset=utf-8",
      "content-length": String(body.length),
      "cache-control": "public, max-age=0, must-revalidate",
    });
    res.end(head ? undefined : body);
  };

  const serveCustom = (
    req: IncomingMessage,
    res: ServerResponse,
    host: string,
    found: DomainRoute,
    secure: boolean,
  ): void => {
    const path = req.url ?? "/";
    const head = req.method === "HEAD";
    const httpsOn = options.ports().https !== null;
    if (
      (found.kind === "alias" || found.kind === "www") &&
      found.primary !== null &&
      found.primary !== host
    ) {
      const scheme = found.primarySecure && httpsOn ? "https" : "http";
      return redirect(res, urlOf(scheme, found.primary, path), head);
    }
    if (!secure && found.forceSsl && found.hostSecure && httpsOn) {
      return redirect(res, urlOf("https", host, path), head);
    }
    if (secure && found.hstsMaxAge !== null) {
      res.setHeader("strict-transport-security", `max-age=${found.hstsMaxAge}`);
    }
    options.edge(req, res, host);
  };

  const dispatch = async (
    req: IncomingMessage,
    res: ServerResponse,
    api: Handler | undefined,
    secure: boolean,
  ): Promise<void> => {
    const url = req.url ?? "/";
    if (url.startsWith(CHALLENGE_PREFIX) && (req.method === "GET" || req.method === "HEAD")) {
      const answer = await challengeAnswer(options.db, url, now());
      if (answer !== undefined) {
        return plain(res, 200, answer, { "content-type": "text/plain" });
      }
    }
    const { host, sites } = hostOf(req.headers.host);
    if (host !== undefined && sites) return options.edge(req, res, host);
    if (host !== undefined && host !== options.apiHost) {
      const found = await routes.lookup(host);
      if (found) return serveCustom(req, res, host, found, secure || forwardedSecure(req));
    }
    if (api) return api(req, res);
    return plain(res, 404, `No site is served at ${host ?? "this address"} here.`);
  };

  return {
    listener: ({ api, secure }) => {
      return (req, res) => {
        // HTTP/2 has no Host header: `:authority` is its host.
        if (req.headers.host === undefined && typeof req.headers[":authority"] === "string") {
          req.headers.host = req.headers[":authority"];
        }
        // A request on a TLS socket is secure whatever the listener says.
        const tls = secure || (req.socket as Partial<TLSSocket>).encrypted === true;
        // The hot paths decide without a promise: sites hosts, the API, a cached custom host.
        if (!(req.url ?? "/").startsWith(CHALLENGE_PREFIX)) {
          const { host, sites } = hostOf(req.headers.host);
          if (host !== undefined) {
            if (sites) return options.edge(req, res, host);
            if (host === options.apiHost && api) return api(req, res);
            const cached = routes.cached(host);
            if (cached !== NOT_CACHED) {
              if (cached) return serveCustom(req, res, host, cached, tls || forwardedSecure(req));
              if (api) return api(req, res);
            }
          }
        }
        dispatch(req, res, api, tls).catch((error: unknown) => {
          options.logger?.error(
            { err: error, host: req.headers.host, url: req.url },
            "front: request failed",
          );
          if (!res.headersSent) plain(res, 500, "Internal Server Error");
          else res.destroy();
        });
      };
    },
  };
}
