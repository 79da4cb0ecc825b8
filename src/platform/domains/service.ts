import { isoNow, type PlatformContext } from "../context.ts";
import type { Site, SiteCertificate, SiteDomain } from "../db/schema.ts";
import { PlatformError, refused } from "../errors.ts";
import { checkUpload, storeCertificate, type UploadInput } from "./certificates.ts";
import { enqueueCertificateWork, noCertificateYet } from "./claims.ts";
import { applyCoverage } from "./issuer.ts";

/**
 * What the API does with a site's domains and certificate (the site is already loaded and
 * authorized by the caller): list the domains with their states, show the certificate, install
 * one a user brings, ask for one now, renew now, remove an uploaded one.
 */

export interface CertificateNotifier {
  /** The site's certificate changed in this process (drop cached TLS contexts and routes). */
  onCertificateChanged?: (siteId: string) => void;
}

export async function listDomains(ctx: PlatformContext, site: Site): Promise<SiteDomain[]> {
  const rows = await ctx.db
    .selectFrom("site_domains")
    .selectAll()
    .where("site_id", "=", site.id)
    .execute();
  const order = { primary: 0, www: 1, alias: 2, wildcard: 3 } as const;
  return rows.sort((a, b) => order[a.kind] - order[b.kind] || a.domain.localeCompare(b.domain));
}

export async function findCertificate(ctx: PlatformContext, site: Site): Promise<SiteCertificate> {
  const cert = await ctx.db
    .selectFrom("site_certificates")
    .selectAll()
    .where("site_id", "=", site.id)
    .executeTakeFirst();
  if (!cert) {
    throw new PlatformError(
      "not_found",
      `The site has no certificate: it has no custom domain. Set one with PATCH /api/v1/sites/${site.id} {"custom_domain": "www.example.com"}, or upload a certificate with POST /api/v1/sites/${site.id}/ssl`,
    );
  }
  return cert;
}

/** Installs a certificate the user brings; nothing is stored unless every check passes. */
export async function installCertificate(
  ctx: PlatformContext,
  site: Site,
  input: UploadInput,
  notifier: CertificateNotifier,
): Promise<SiteCertificate> {
  const material = checkUpload(input, ctx.now());
  await storeCertificate(ctx, site.id, "custom", material);
  await applyCoverage(ctx, site.id);
  notifier.onCertificateChanged?.(site.id);
  ctx.log.info(
    { siteId: site.id, names: material.names, expiresAt: material.notAfter.toISOString() },
    "certificate uploaded",
  );
  return findCertificate(ctx, site);
}

/** Netlify's provisioning call: the certificate job runs now (the backoff is reset). */
export async function provisionNow(ctx: PlatformContext, site: Site): Promise<SiteCertificate> {
  const cert = await findCertificate(ctx, site).catch(() => {
    throw refused(
      `No custom domain configured: set custom_domain first (PATCH /api/v1/sites/${site.id})`,
    );
  });
  if (cert.source === "custom") {
    throw refused(
      "certificate parameter is required when updating an existing certificate: the site uses an uploaded certificate; upload a new one, or DELETE /ssl to let Slipway obtain one",
    );
  }
  if (ctx.config.domains?.acme == null) {
    throw refused(
      "automatic certificates are off on this Slipway (SLIPWAY_ACME_DIRECTORY_URL=off); upload a certificate with certificate, key and ca_certificates",
    );
  }
  await ctx.db
    .updateTable("site_certificates")
    .set({ attempts: 0, next_attempt_at: isoNow(ctx), updated_at: isoNow(ctx) })
    .where("site_id", "=", site.id)
    .execute();
  await enqueueCertificateWork(ctx, site.id);
  ctx.jobs.wake();
  return findCertificate(ctx, site);
}

/** Orders a new certificate now even though the current one is not due (Slipway's addition). */
export async function renewNow(ctx: PlatformContext, site: Site): Promise<SiteCertificate> {
  const cert = await findCertificate(ctx, site);
  if (cert.source !== "acme") {
    throw refused(
      cert.source === "custom"
        ? "the site uses an uploaded certificate, which only its owner can renew: upload the new one"
        : "the site has no certificate to renew yet; POST /ssl asks for one now",
    );
  }
  if (ctx.config.domains?.acme == null) {
    throw refused(
      "automatic certificates are off on this Slipway (SLIPWAY_ACME_DIRECTORY_URL=off)",
    );
  }
  await enqueueCertificateWork(ctx, site.id, ctx.db, { force: true });
  ctx.jobs.wake();
  return cert;
}

/** Removes an uploaded certificate; Slipway then obtains one for the domains (with ACME on). */
export async function removeUploadedCertificate(
  ctx: PlatformContext,
  site: Site,
  notifier: CertificateNotifier,
): Promise<void> {
  const cert = await findCertificate(ctx, site);
  if (cert.source !== "custom") {
    throw refused(
      "only an uploaded certificate can be removed; Slipway manages the one it obtained",
    );
  }
  const domains = await listDomains(ctx, site);
  if (domains.length === 0) {
    await ctx.db.deleteFrom("site_certificates").where("site_id", "=", site.id).execute();
  } else {
    const now = isoNow(ctx);
    await ctx.db
      .updateTable("site_certificates")
      .set(noCertificateYet(now))
      .where("site_id", "=", site.id)
      .execute();
    await ctx.db
      .updateTable("site_domains")
      .set({ state: "pending_dns", reason: null, updated_at: now })
      .where("site_id", "=", site.id)
      .execute();
    await enqueueCertificateWork(ctx, site.id);
    ctx.jobs.wake();
  }
  notifier.onCertificateChanged?.(site.id);
}
