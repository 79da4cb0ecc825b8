import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname, join, resolve } from "node:path";
import type { FastifyReply, FastifyRequest } from "fastify";
import mime from "mime-types";
import type { PlatformApp } from "../http/app.ts";

/**
 * The dashboard: a single-page app (`web/`, built by `npm run build` into `dist/web/`) served
 * by the platform on its own host (site hosts go to the edge before this is reached).
 *
 * - `/assets/<name>`: Vite's content-hashed files, cached for a year (`immutable`), sent
 *   pre-compressed (`.br`, `.gz` written by the build) when the browser accepts it;
 * - the app's own paths (`/`, `/sites/<name>/deploys/<id>` — the `admin_url`s the API hands out —,
 *   `/sign-in`, `/invite/<token>`, ...): `index.html`, revalidated on every load (`no-cache`),
 *   which then routes in the browser. Only these prefixes are the app's, so `/api/v1`,
 *   `/webhooks/*`, build hooks and unknown paths keep their own answers.
 */

/** First path segments that belong to the dashboard. */
export const DASHBOARD_PATHS = [
  "/",
  "/sign-in",
  "/invite/*",
  "/sites",
  "/sites/*",
  "/new",
  "/account",
  "/account/*",
  "/users",
] as const;

const IMMUTABLE = "public, max-age=31536000, immutable";
const ASSET_NAME = /^[\w.-]+$/;

/** Where `npm run build` puts the dashboard. */
export const DEFAULT_DASHBOARD_DIR = resolve(import.meta.dirname, "../../../dist/web");

/**
 * The page's security headers: scripts, styles and connections only from this origin, never
 * framed (clickjacking), no referrer (an invite link's token stays in this tab).
 */
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Slipway</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>Slipway</h1>
<p>The dashboard has not been built on this machine. Run <code>npm run build</code> (which
<code>scripts/setup.sh</code> runs) and reload this page.</p>
<p>The API is at <a href="/api/v1/user">/api/v1</a>.</p>
</body></html>
`;

interface Asset {
  body: Buffer;
  br: Buffer | undefined;
  gzip: Buffer | undefined;
  type: string;
}

export function registerDashboard(app: PlatformApp, options: { dir?: string } = {}): void {
  const dir = options.dir ?? DEFAULT_DASHBOARD_DIR;
  const assets = new Map<string, Promise<Asset | undefined>>();

  const loadAsset = async (path: string): Promise<Asset | undefined> => {
    let body: Buffer;
    try {
      body = await readFile(path);
    } catch {
      return undefined;
    }
    const optional = (suffix: string) => readFile(path + suffix).catch(() => undefined);
    const [br, gzip] = await Promise.all([optional(".br"), optional(".gz")]);
    const type = mime.contentType(extname(path)) || "application/octet-stream";
    return { body, br, gzip, type };
  };

  const send = (request: FastifyRequest, reply: FastifyReply, asset: Asset, cache: string) => {
    const accepts = String(request.headers["accept-encoding"] ?? "");
    reply
      .header("content-type", asset.type)
      .header("cache-control", cache)
      .header("vary", "accept-encoding");
    if (asset.br && /\bbr\b/.test(accepts)) {
      return reply.header("content-encoding", "br").send(asset.br);
    }
    if (asset.gzip && /\bgzip\b/.test(accepts)) {
      return reply.header("content-encoding", "gzip").send(asset.gzip);
    }
    return reply.send(asset.body);
  };

  app.get<{ Params: { name: string } }>("/assets/:name", async (request, reply) => {
    const name = request.params.name;
    if (!ASSET_NAME.test(name) || name.startsWith(".")) {
      return reply.code(404).send({ code: 404, message: "Not found" });
    }
    let loading = assets.get(name);
    if (loading === undefined) {
      loading = loadAsset(join(dir, "assets", name));
      // Only files that exist are remembered (a build during the run may add new ones).
      void loading.then((found) => {
        if (!found) assets.delete(name);
      });
      assets.set(name, loading);
    }
    const asset = await loading;
    if (!asset) return reply.code(404).send({ code: 404, message: `Not found: /assets/${name}` });
    return send(request, reply, asset, IMMUTABLE);
  });

  for (const file of ["favicon.svg", "robots.txt"]) {
    app.get(`/${file}`, async (request, reply) => {
      const asset = await loadAsset(join(dir, file));
      if (!asset) return reply.code(404).send({ code: 404, message: `Not found: /${file}` });
      return send(request, reply, asset, "public, max-age=3600");
    });
  }

  // index.html is read on each load (small; a new build is picked up without a restart).
  const page = async (request: FastifyRequest, reply: FastifyReply) => {
    reply.headers(PAGE_HEADERS);
    const index = join(dir, "index.html");
    if (!existsSync(index)) {
      return reply
        .header("cache-control", "no-cache")
        .type("text/html; charset=utf-8")
        .send(NOT_BUILT);
    }
    const asset = await loadAsset(index);
    if (!asset) return reply.code(503).type("text/plain").send("The dashboard is being rebuilt");
    return send(request, reply, { ...asset, type: "text/html; charset=utf-8" }, "no-cache");
  };
  for (const path of DASHBOARD_PATHS) app.get(path, page);
}
