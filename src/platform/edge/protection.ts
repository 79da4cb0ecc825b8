import { createHash, createHmac, hkdfSync } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { safeEqual } from "../../lib/tokens.ts";
import { verifyPassword } from "../accounts/passwords.ts";
import { assertNotThrottled, clearFailures, recordFailure } from "../accounts/throttle.ts";
import type { PlatformContext } from "../context.ts";
import { PlatformError } from "../errors.ts";
import { passwordSealContext, type PasswordContext } from "../sites/protection.ts";
import type { DomainRoutes } from "./domain-routes.ts";
import { HostCache, NOT_CACHED } from "./host-cache.ts";
import { parseSiteHost } from "./hosts.ts";
import { passwordPage } from "./protection-page.ts";
import { makePrivate } from "./protection-headers.ts";

/**
 * A site's visitor password at the edge (Netlify's site `password`). A visitor without a valid
 * cookie gets a small password page (401); posting the right password sets an HttpOnly,
 * SameSite=Lax cookie for that host, signed with a key derived from the master key over the
 * site id and the password's hash — a new password (a new salt, so a new hash) ends every
 * visitor's access. Wrong passwords count per site and client address (`accounts/throttle.ts`):
 * the tenth in a row within 15 minutes blocks that address for the rest of the window, answered
 * 429 with `Retry-After`; the right password ends the run.
 *
 * `password_context: non_production` protects only deploy permalinks (`{deploy}--site`),
 * branch deploys and deploy previews; the site's own host and custom domains stay public.
 * Every protected answer is `private, no-store` and varies on Cookie and Authorization, so no
 * shared cache keeps it for someone who did not authenticate.
 */

export const SITE_COOKIE = "slipway_site_auth";
const COOKIE_DAYS = 30;
const MAX_FORM_BYTES = 4096;
export const PASSWORD_THROTTLE = { windowMs: 15 * 60_000, ipFailures: 10, accountFailures: 10 };

interface Protection {
  siteId: string;
  /** The password's scrypt hash (opened); its digest is the cookie's password version. */
  hash: string;
  version: string;
}

export interface SiteProtectionOptions {
  ctx: PlatformContext;
  sitesDomain: string;
  /** The master key: cookie signatures use a key derived from it (every node agrees). */
  masterKey: Buffer;
  /** Custom host → route, shared with the front (which site a custom domain is). */
  routes: DomainRoutes;
  /** How long a host's protection is cached (default 500 ms, like the edge's host cache). */
  ttlMs?: number;
}

export interface SiteProtection {
  /**
   * `false`: the request may be served (its answer is made private when the host is
   * protected). Otherwise a promise of `true` when this answered the request itself.
   */
  check(req: IncomingMessage, res: ServerResponse, host: string): false | Promise<boolean>;
  /** Forget every cached host (a site's password or domains changed: `edge-sync/`). */
  forget(): void;
}

export function createSiteProtection(options: SiteProtectionOptions): SiteProtection {
  const { ctx } = options;
  const ttlMs = options.ttlMs ?? 500;
  const cookieKey = Buffer.from(
    hkdfSync("sha256", options.masterKey, Buffer.alloc(0), "slipway site password cookie", 32),
  );

  const lookup = async (host: string): Promise<Protection | null> => {
    const parsed = parseSiteHost(host, options.sitesDomain);
    let siteName: string | undefined = parsed?.site;
    // The site's own host and its custom domains serve production; a label before `--` is a
    // permalink, branch deploy or deploy preview.
    const production = parsed === undefined || parsed.label === undefined;
    if (!parsed) siteName = (await options.routes.lookup(host))?.siteName;
    if (siteName === undefined) return null;
    const row = await ctx.db
      .selectFrom("sites")
      .innerJoin("site_passwords", "site_passwords.site_id", "sites.id")
      .select(["sites.id", "site_passwords.password_hash_sealed", "site_passwords.context"])
      .where("sites.name", "=", siteName)
      .executeTakeFirst();
    if (!row || !covers(row.context, production)) return null;
    const hash = ctx.secrets.open(row.password_hash_sealed, passwordSealContext(row.id));
    return {
      siteId: row.id,
      hash,
      version: createHash("sha256").update(hash).digest("base64url"),
    };
  };

  const cache = new HostCache<Protection | null>({ load: lookup, ttlMs });
  const protectionOf = (host: string): Protection | null | Promise<Protection | null> => {
    const cached = cache.cached(host);
    return cached === NOT_CACHED ? cache.lookup(host) : cached;
  };

  const signature = (p: Protection, expires: string): string =>
    createHmac("sha256", cookieKey)
      .update(`${p.siteId}\n${p.version}\n${expires}`)
      .digest("base64url");

  const hasValidCookie = (req: IncomingMessage, p: Protection): boolean => {
    const value = readCookie(req.headers.cookie, SITE_COOKIE);
    if (value === undefined) return false;
    const dot = value.indexOf(".");
    const expires = value.slice(0, dot);
    if (dot === -1 || !/^\d{1,12}$/.test(expires)) return false;
    if (Number(expires) * 1000 <= Date.now()) return false;
    return safeEqual(value.slice(dot + 1), signature(p, expires));
  };

  const issueCookie = (req: IncomingMessage, p: Protection): string => {
    const expires = String(Math.floor(Date.now() / 1000) + COOKIE_DAYS * 86_400);
    const secure = (req.socket as Partial<TLSSocket>).encrypted === true ? "; Secure" : "";
    return `${SITE_COOKIE}=${expires}.${signature(p, expires)}; Path=/; Max-Age=${COOKIE_DAYS * 86_400}; HttpOnly; SameSite=Lax${secure}`;
  };

  const submit = async (req: IncomingMessage, res: ServerResponse, p: Protection) => {
    const address = req.socket.remoteAddress?.replace(/^::ffff:/, "") ?? "unknown";
    // Per site and address: knowing one site's password says nothing about another's.
    const key = `site_password:${p.siteId}:ip:${address}`;
    const form = await readForm(req);
    try {
      await assertNotThrottled(ctx, [key]);
    } catch (error) {
      if (!(error instanceof PlatformError)) throw error;
      const retryAfter = error.headers["retry-after"] ?? "60";
      return passwordPage(res, 429, req.method === "HEAD", {
        message: `Too many wrong passwords from your address; try again in ${retryAfter} seconds.`,
        extra: ["retry-after", retryAfter],
      });
    }
    const password = form?.get("password") ?? "";
    if (password !== "" && (await verifyPassword(password, p.hash))) {
      await clearFailures(ctx, key); // "in a row": the right password ends the run
      res.writeHead(303, [
        "location",
        sameSiteTarget(req.url),
        "set-cookie",
        issueCookie(req, p),
        "content-length",
        "0",
      ]);
      return void res.end();
    }
    await recordFailure(ctx, [{ key, limit: PASSWORD_THROTTLE.ipFailures }], PASSWORD_THROTTLE);
    return passwordPage(res, 401, false, { message: "That password is not right." });
  };

  const guard = async (
    req: IncomingMessage,
    res: ServerResponse,
    pending: Promise<Protection | null>,
  ): Promise<boolean> => {
    const p = await pending;
    return p === null ? false : decide(req, res, p);
  };

  const decide = (req: IncomingMessage, res: ServerResponse, p: Protection): Promise<boolean> => {
    makePrivate(res);
    if (hasValidCookie(req, p)) return Promise.resolve(false);
    if (req.method === "POST") return submit(req, res, p).then(() => true);
    passwordPage(res, 401, req.method === "HEAD", {});
    return Promise.resolve(true);
  };

  return {
    check: (req, res, host) => {
      const found = protectionOf(host);
      if (found === null) return false;
      if (found instanceof Promise) return guard(req, res, found);
      return decide(req, res, found);
    },
    forget: () => cache.invalidate(),
  };
}

function covers(context: PasswordContext, production: boolean): boolean {
  return context === "all" || !production;
}

/** A cookie's value from a `Cookie` header (the first of that name). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Where to go after the password: the same path on this host, never another site. */
function sameSiteTarget(url: string | undefined): string {
  return url !== undefined && url.startsWith("/") && !url.startsWith("//") && !url.includes("\\")
    ? url
    : "/";
}

/** An `application/x-www-form-urlencoded` body of at most 4 KiB, or undefined. */
async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}
