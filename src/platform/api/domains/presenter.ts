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

/**
 * Netlify's `sniCertificate` (`state`, `domains`, `created_at`, `updated_at`, `expires_at`) with
 * Slipway's additions: where it comes from, why it is in its state, when it renews and when the
 * next attempt runs. Never the private key.
 */
export function presentCertificate(cert: SiteCertificate) {
  return {
    state: cert.state === "active" && cert.source === "custom" ? "custom" : cert.state,
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
  };
}
