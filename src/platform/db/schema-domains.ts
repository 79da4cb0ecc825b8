import type { Selectable } from "kysely";

/**
 * Custom domains and their certificates (`0008_domains`): which site answers to which name,
 * how getting each name a certificate stands, and the ACME account and challenges.
 */

/** Where a domain stands: checked, ordered, served with a certificate, or why not. */
export type DomainState =
  "pending_dns" | "verifying" | "issuing" | "active" | "failed" | "renewing";

/** `primary` (custom_domain), `www` (its www/apex companion), `alias`, `wildcard` alias. */
export type DomainKind = "primary" | "www" | "alias" | "wildcard";

/** A domain a site answers to; the primary key makes it one site's across all accounts. */
export interface SiteDomainsTable {
  /** ASCII (IDNA) form, lower case, no trailing dot; `*.example.com` for a wildcard alias. */
  domain: string;
  site_id: string;
  kind: DomainKind;
  state: DomainState;
  /** Why it is in that state and what to do (DNS advice, the CA's words), for a human. */
  reason: string | null;
  checked_at: string | null;
  created_at: string;
  updated_at: string;
}

/**
 * A site's certificate (one per site, covering `domains`) and how obtaining or renewing it
 * stands. `private_key_sealed` is sealed with `site_certificate:<site id>`.
 */
export interface SiteCertificatesTable {
  site_id: string;
  /** `acme` (obtained by Slipway), `custom` (uploaded), null before the first one. */
  source: "acme" | "custom" | null;
  state: DomainState;
  reason: string | null;
  /** JSON array of the names the certificate covers. */
  domains: string;
  /** The leaf certificate followed by its chain, PEM. */
  certificate_pem: string | null;
  ca_certificates_pem: string | null;
  private_key_sealed: string | null;
  not_before: string | null;
  not_after: string | null;
  /** Two thirds into the certificate's lifetime: the renewal job runs from then on. */
  renew_at: string | null;
  /** Failed attempts in a row (backoff); reset by a success. */
  attempts: number;
  /** When the next attempt may run (backoff after a failure; now when domains change). */
  next_attempt_at: string | null;
  renewal_failures: number;
  created_at: string;
  updated_at: string;
}

/** One ACME account per directory URL; its key sealed with `acme_account:<directory url>`. */
export interface AcmeAccountsTable {
  directory_url: string;
  key_sealed: string;
  account_url: string | null;
  created_at: string;
}

/** http-01 answers (and Slipway's own reachability probes), served by every node. */
export interface AcmeChallengesTable {
  token: string;
  key_authorization: string;
  domain: string;
  created_at: string;
  expires_at: string;
}

export type SiteDomain = Selectable<SiteDomainsTable>;
export type SiteCertificate = Selectable<SiteCertificatesTable>;
