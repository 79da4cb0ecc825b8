import type { PlatformApp } from "./app.ts";

/**
 * The API's changes that alter what a host serves or who may see it: a site created, renamed,
 * given or relieved of custom domains, aliases or a password, or deleted. The edge caches
 * host → route, site, deploy and password per host; these must reach it before the next request.
 */
const SITE_CHANGES = new Set([
  "POST /api/v1/sites",
  "POST /api/v1/:account_slug/sites",
  "PATCH /api/v1/sites/:site_id",
  "PUT /api/v1/sites/:site_id",
  "DELETE /api/v1/sites/:site_id",
]);

/**
 * Calls `changed` (with the `site_id` the route names, an id, name or domain, when it names one)
 * once such a request succeeded: in `onSend`, after its transaction committed and before the
 * caller hears of it, so the caller's next request to the site finds the change.
 */
export function registerSiteChanges(
  app: PlatformApp,
  changed: (siteRef: string | undefined) => void,
): void {
  app.addHook("onSend", (request, reply, payload, done) => {
    if (
      reply.statusCode < 400 &&
      SITE_CHANGES.has(`${request.method} ${request.routeOptions.url ?? ""}`)
    ) {
      changed((request.params as { site_id?: string } | undefined)?.site_id);
    }
    done(null, payload);
  });
}
