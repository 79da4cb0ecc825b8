import type { TokenScope } from "../db/schema.ts";
import { forbidden } from "../errors.ts";

/**
 * What a personal access token may do, chosen when it is created: `all` (everything its user
 * may), `read` (only GET and HEAD), or `deploy`: what a CI job needs to publish a site —
 * read sites and deploys, create a deploy and upload its files and functions, start and follow
 * builds — and nothing else (no deleting, no settings, no environment variables, no tokens).
 */

/** The `deploy` scope's routes, as Fastify names them under `/api/v1`. */
const DEPLOY_ROUTES = new Set([
  "GET /user",
  "GET /sites",
  "GET /:account_slug/sites",
  "GET /sites/:site_id",
  "GET /sites/:site_id/deploys",
  "GET /sites/:site_id/deploys/:deploy_id",
  "GET /deploys/:deploy_id",
  "POST /sites/:site_id/deploys",
  "PUT /sites/:site_id/deploys/:deploy_id",
  "PUT /deploys/:deploy_id/files/*",
  "PUT /deploys/:deploy_id/functions/:name",
  "GET /sites/:site_id/builds",
  "POST /sites/:site_id/builds",
  "GET /builds/:build_id",
  "GET /builds/:build_id/log",
  "GET /builds/:build_id/log/stream",
]);

const READ_METHODS = new Set(["GET", "HEAD"]);
const API_PREFIX = "/api/v1";

/**
 * Refuses (403, naming the scope) a request its token's scope does not allow. `route` is the
 * matched route's pattern (undefined when no route matched: the request goes on to its 404).
 */
export function assertScopeAllows(
  scope: TokenScope,
  method: string,
  route: string | undefined,
): void {
  if (scope === "all") return;
  const pattern = route?.startsWith(API_PREFIX) ? route.slice(API_PREFIX.length) : route;
  if (scope === "read") {
    if (READ_METHODS.has(method)) return;
    throw forbidden(
      `Forbidden: this access token has the read scope, which allows only GET requests, not ${method} ${route ?? ""}; use a token with the all scope`,
    );
  }
  if (pattern === undefined) return;
  const key = `${method === "HEAD" ? "GET" : method} ${pattern}`;
  if (DEPLOY_ROUTES.has(key)) return;
  throw forbidden(
    `Forbidden: this access token has the deploy scope (reading sites and deploys, creating deploys and uploading their files, starting builds), which does not allow ${method} ${route ?? ""}`,
  );
}
