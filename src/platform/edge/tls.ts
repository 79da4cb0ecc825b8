import { readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from "node:http2";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { createSecureContext, type SecureContext, type TLSSocket } from "node:tls";
import type { Logger } from "../../lib/logger.ts";
import type { HostCertificate } from "../domains/certificates.ts";
import { nameCovers } from "../domains/names.ts";

/**
 * The HTTPS listener: TLS 1.2+, HTTP/2 with HTTP/1.1 fallback, the certificate chosen per
 * server name (SNI) from a cache of secure contexts. A context is built once per certificate
 * version and re-checked against the database every `recheckMs` (a renewal on another node is
 * picked up then; one in this process drops the cached context at once). New handshakes get the
 * new certificate; connections already open keep theirs, so a swap drops nothing.
 *
 * A name with no certificate is refused at the handshake (no default certificate that would
 * look like a misconfiguration), and the log says which name and why, at most every 10 minutes.
 */

export interface SitesCertificate {
  certificatePem: string;
  privateKeyPem: string;
}

export interface TlsOptions {
  certificateForHost: (host: string) => Promise<HostCertificate>;
  /** `*.{sitesDomain}` and the site hosts under it use the operator's certificate. */
  sitesDomain: string;
  sitesCertificate?: SitesCertificate | undefined;
  logger?: Logger;
  recheckMs?: number;
  negativeTtlMs?: number;
}

interface Entry {
  context: SecureContext | undefined;
  siteId: string | undefined;
  version: string | undefined;
  checkedAt: number;
}

const MIN_VERSION = "TLSv1.2";
const NOT_CACHED = Symbol("not cached");

export function loadSitesCertificate(certFile: string, keyFile: string): SitesCertificate {
  const certificatePem = readFileSync(certFile, "utf8");
  const privateKeyPem = readFileSync(keyFile, "utf8");
  const leaf = new X509Certificate(certificatePem);
  if (new Date(leaf.validTo).getTime() <= Date.now()) {
    throw new Error(`the sites certificate ${certFile} expired on ${leaf.validTo}`);
  }
  // Fails here, at start, when the key does not match.
  createSecureContext({ cert: certificatePem, key: privateKeyPem });
  return { certificatePem, privateKeyPem };
}

export class SecureContextCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Entry>>();
  private readonly warned = new Map<string, number>();
  private readonly sitesContext: SecureContext | undefined;
  private readonly sitesNames: string[];
  private readonly recheckMs: number;
  private readonly negativeTtlMs: number;

  constructor(private readonly options: TlsOptions) {
    this.recheckMs = options.recheckMs ?? 30_000;
    this.negativeTtlMs = options.negativeTtlMs ?? 5_000;
    const sites = options.sitesCertificate;
    this.sitesContext =
      sites === undefined
        ? undefined
        : createSecureContext({
            cert: sites.certificatePem,
            key: sites.privateKeyPem,
            minVersion: MIN_VERSION,
          });
    this.sitesNames = sites === undefined ? [] : namesOf(sites.certificatePem);
  }

  /**
   * For `tls.createServer({ SNICallback })`. A name whose context is cached (nearly every
   * handshake) is answered at once, without a promise or a turn of the microtask queue.
   */
  readonly sniCallback = (
    servername: string,
    callback: (error: Error | null, context?: SecureContext) => void,
  ): void => {
    const host = servername.toLowerCase().replace(/\.$/, "");
    const cached = this.cachedContext(host);
    if (cached !== NOT_CACHED) {
      if (cached === undefined) callback(new Error(`no certificate for ${host}`));
      else callback(null, cached);
      return;
    }
    this.contextFor(host).then(
      (context) => {
        if (context === undefined) callback(new Error(`no certificate for ${host}`));
        else callback(null, context);
      },
      (error: unknown) => {
        this.options.logger?.error({ err: error, host }, "tls: looking up a certificate failed");
        callback(error as Error);
      },
    );
  };

  /** Drops the cached contexts of one site (its certificate changed in this process). */
  invalidateSite(siteId: string): void {
    for (const [host, entry] of this.entries)
      if (entry.siteId === siteId) this.entries.delete(host);
    // Names that had no certificate yet may have one now.
    for (const [host, entry] of this.entries)
      if (entry.context === undefined) this.entries.delete(host);
  }

  async contextFor(host: string): Promise<SecureContext | undefined> {
    const cached = this.cachedContext(host);
    if (cached !== NOT_CACHED) return cached;
    let pending = this.inflight.get(host);
    if (!pending) {
      pending = this.load(host, this.entries.get(host)).finally(() => this.inflight.delete(host));
      this.inflight.set(host, pending);
    }
    return (await pending).context;
  }

  /** The context (or the cached absence of one) while it is fresh, else `NOT_CACHED`. */
  private cachedContext(host: string): SecureContext | undefined | typeof NOT_CACHED {
    if (this.sitesContext !== undefined && this.sitesNames.some((name) => nameCovers(name, host))) {
      return this.sitesContext;
    }
    const entry = this.entries.get(host);
    if (entry === undefined) return NOT_CACHED;
    const age = Date.now() - entry.checkedAt;
    return age < (entry.context === undefined ? this.negativeTtlMs : this.recheckMs)
      ? entry.context
      : NOT_CACHED;
  }

  private async load(host: string, previous: Entry | undefined): Promise<Entry> {
    const found = await this.options.certificateForHost(host);
    let entry: Entry;
    if (!found.ok) {
      this.warn(host, found.reason);
      entry = { context: undefined, siteId: undefined, version: undefined, checkedAt: Date.now() };
    } else if (previous?.context !== undefined && previous.version === found.version) {
      entry = { ...previous, checkedAt: Date.now() };
    } else {
      entry = {
        context: createSecureContext({
          cert: found.certificatePem,
          key: found.privateKeyPem,
          minVersion: MIN_VERSION,
        }),
        siteId: found.siteId,
        version: found.version,
        checkedAt: Date.now(),
      };
    }
    if (this.entries.size >= 10_000) this.entries.clear();
    this.entries.set(host, entry);
    return entry;
  }

  private warn(host: string, reason: string): void {
    const last = this.warned.get(host) ?? 0;
    if (Date.now() - last < 10 * 60_000) return;
    if (this.warned.size >= 10_000) this.warned.clear();
    this.warned.set(host, Date.now());
    this.options.logger?.info({ host, reason }, `tls: refused a handshake for ${host}: ${reason}`);
  }
}

function namesOf(pem: string): string[] {
  const cert = new X509Certificate(pem);
  const alt = cert.subjectAltName ?? "";
  const names = alt
    .split(/,\s*/)
    .filter((e) => e.startsWith("DNS:"))
    .map((e) => e.slice(4).toLowerCase());
  if (names.length > 0) return names;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn === undefined ? [] : [cn.toLowerCase()];
}

/** TLS handshakes the HTTPS listener completed, and how many resumed a session (metrics). */
export interface HandshakeCounts {
  handshakes: number;
  resumed: number;
}

/**
 * How long an HTTPS connection may stay open without work, as on the plain HTTP listener
 * (`node:http`'s defaults): an HTTP/1.1 connection between two requests, and an HTTP/2
 * session with no traffic at all. `http2`'s server sets neither.
 */
export interface HttpsIdleLimits {
  keepAliveMs: number;
  idleMs: number;
}

const IDLE_LIMITS: HttpsIdleLimits = { keepAliveMs: 5_000, idleMs: 120_000 };

/** The HTTPS server: HTTP/2 and HTTP/1.1 on one port, certificates by SNI, TLS 1.2 and up. */
export function createHttpsServer(
  cache: SecureContextCache,
  listener: (req: IncomingMessage, res: ServerResponse) => void,
  counts?: HandshakeCounts,
  limits: HttpsIdleLimits = IDLE_LIMITS,
): Http2SecureServer {
  const server = createSecureServer(
    {
      allowHTTP1: true,
      minVersion: MIN_VERSION,
      SNICallback: cache.sniCallback,
    },
    listener as unknown as Parameters<typeof createSecureServer>[1],
  );
  // Read by the HTTP/1.1 fallback (node:http's connection handling) between two requests.
  Object.assign(server, { keepAliveTimeout: limits.keepAliveMs });
  // An idle HTTP/2 session is ended. Not `server.setTimeout`: it would also put a timer on
  // every HTTP/1.1 socket, refreshed at each read and write (keep-alive covers those).
  server.on("session", (session: ServerHttp2Session) =>
    session.setTimeout(limits.idleMs, () => session.destroy()),
  );
  // One listener function for every socket (no closure, no once-wrapper per connection).
  const open = new Set<Socket>();
  function forget(this: Socket): void {
    open.delete(this);
  }
  server.on("connection", (socket: Socket) => {
    open.add(socket);
    socket.on("close", forget);
  });
  if (counts !== undefined) {
    server.on("secureConnection", (socket: TLSSocket) => {
      counts.handshakes++;
      if (socket.isSessionReused()) counts.resumed++;
    });
  }
  connections.set(server, open);
  return server;
}

const connections = new WeakMap<Http2SecureServer, Set<Socket>>();

/** Ends every connection of an HTTPS server (at stop; HTTP/2 servers have no closeAllConnections). */
export function destroyHttpsConnections(server: Http2SecureServer): void {
  for (const socket of connections.get(server) ?? []) socket.destroy();
}
