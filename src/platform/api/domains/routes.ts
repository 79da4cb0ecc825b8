import type { PlatformContext } from "../../context.ts";
import {
  findCertificate,
  installCertificate,
  listDomains,
  provisionNow,
  removeUploadedCertificate,
  renewNow,
  type CertificateNotifier,
} from "../../domains/service.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { findSite } from "../../sites/sites.ts";
import { presentCertificate, presentDomain } from "./presenter.ts";
import { SiteParams, SSL_BODY_LIMIT, SslBody, SslQuery } from "./schema.ts";

/**
 * Netlify's clients send `key` (a private key) in the query string of `POST /ssl`: this route's
 * log records show its path only, never the query.
 */
const PATH_ONLY = {
  req: (req: { method?: string; url?: string; ip?: string }) => {
    const url = req.url ?? "";
    const query = url.indexOf("?");
    return {
      method: req.method,
      url: query === -1 ? url : `${url.slice(0, query)}?[redacted]`,
      remoteAddress: req.ip,
    };
  },
};

/**
 * A site's domains and certificate: Netlify's `GET/POST /sites/:id/ssl`, and Slipway's
 * `GET /sites/:id/domains`, `POST /sites/:id/ssl/renew` and `DELETE /sites/:id/ssl`.
 */
export function domainRoutes(
  app: PlatformApp,
  ctx: PlatformContext,
  notifier: CertificateNotifier,
): void {
  app.get("/sites/:site_id/domains", { schema: { params: SiteParams } }, async (request) => {
    const site = await findSite(ctx, requireActor(request), request.params.site_id);
    return (await listDomains(ctx, site)).map(presentDomain);
  });

  app.get("/sites/:site_id/ssl", { schema: { params: SiteParams } }, async (request) => {
    const site = await findSite(ctx, requireActor(request), request.params.site_id);
    return presentCertificate(await findCertificate(ctx, site));
  });

  app.post(
    "/sites/:site_id/ssl",
    {
      schema: { params: SiteParams, querystring: SslQuery, body: SslBody },
      bodyLimit: SSL_BODY_LIMIT,
      logSerializers: PATH_ONLY,
    },
    async (request) => {
      const site = await findSite(ctx, requireActor(request), request.params.site_id, "update");
      const input = { ...request.query, ...(request.body ?? {}) };
      if (input.certificate !== undefined || input.key !== undefined) {
        return presentCertificate(await installCertificate(ctx, site, input, notifier));
      }
      return presentCertificate(await provisionNow(ctx, site));
    },
  );

  app.post("/sites/:site_id/ssl/renew", { schema: { params: SiteParams } }, async (request) => {
    const site = await findSite(ctx, requireActor(request), request.params.site_id, "update");
    return presentCertificate(await renewNow(ctx, site));
  });

  app.delete("/sites/:site_id/ssl", { schema: { params: SiteParams } }, async (request, reply) => {
    const site = await findSite(ctx, requireActor(request), request.params.site_id, "update");
    await removeUploadedCertificate(ctx, site, notifier);
    return reply.code(204).send();
  });
}
