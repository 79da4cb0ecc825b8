import { X509Certificate } from "node:crypto";
import type { SiteCertificate, SiteDomain } from "../../db/schema.ts";
import { certificateDomains } from "../../domains/certificates.ts";

/** Slipway's `GET /sites/:id/domains`: each name, its role, its state and why. */
export function presentDomain(row: SiteDomain) {
  return {
    domain: row.domain,
    kind: row.kind,
    state: row.state,
    reason: row.reason,
    checked_at: row.checked_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** One name of a site (`GET /sites/:id/domains`). */
export type DomainJson = ReturnType<typeof presentDomain>;

/**
 * Netlify's `sniCertificate` (`state`, `domains`, `created_at`, `updated_at`, `expires_at`) with
 * Slipway's additions: where it comes from, who issued it, why it is in its state, when it renews
 * and when the next attempt runs. Never the private key.
 */
export function presentCertificate(cert: SiteCertificate) {
  return {
    state: cert.state === "active" && cert.source === "custom" ? ("custom" as const) : cert.state,
    domains: certificateDomains(cert),
    created_at: cert.created_at,
    updated_at: cert.updated_at,
    expires_at: cert.not_after,
    source: cert.source,
    reason: cert.reason,
    issued_at: cert.not_before,
    renew_at: cert.renew_at,
    next_attempt_at: cert.next_attempt_at,
    renewal_failures: cert.renewal_failures,
    issuer: issuerOf(cert.certificate_pem),
  };
}

/** A site's certificate (`GET /sites/:id/ssl`). */
export type CertificateJson = ReturnType<typeof presentCertificate>;

/** Who signed the certificate, as its distinguished name on one line ("C=US, O=…, CN=…"). */
function issuerOf(pem: string | null): string | null {
  if (pem === null) return null;
  try {
    return new X509Certificate(pem).issuer.split("\n").join(", ");
  } catch {
    return null;
  }
}
