import type { Kysely } from "kysely";
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { createSecureContext } from "node:tls";
import { isoNow, type PlatformContext } from "../context.ts";
import type { PlatformDatabase, SiteCertificate } from "../db/schema.ts";
import { invalidField } from "../errors.ts";
import { nameCovers, wildcardOf } from "./names.ts";

/**
 * Certificates: a user's upload checked before anything is stored, the one way a certificate is
 * stored (its private key sealed with `site_certificate:<site id>`), and the lookup the TLS
 * listener makes for a server name.
 */

export const MAX_CERTIFICATE_CHARS = 64 * 1024;
export const MAX_KEY_CHARS = 16 * 1024;
export const MAX_CA_CHARS = 256 * 1024;

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export interface CertificateMaterial {
  /** Leaf first, then intermediates, PEM. */
  certificatePem: string;
  caCertificatesPem: string | null;
  privateKeyPem: string;
  names: string[];
  notBefore: Date;
  notAfter: Date;
}

export interface UploadInput {
  certificate?: string | undefined;
  key?: string | undefined;
  ca_certificates?: string | undefined;
}

const sizeCheck = (field: string, value: string, max: number): void => {
  if (value.length > max) {
    throw invalidField(
      field,
      `is ${value.length} characters; at most ${max} are accepted (a PEM ${field === "key" ? "private key" : "certificate"} is a few kilobytes)`,
    );
  }
};

/** The DNS names a certificate is for: its subjectAltName DNS entries, else its CN. */
export function certificateNames(cert: X509Certificate): string[] {
  const alt = cert.subjectAltName;
  const names =
    alt === undefined
      ? []
      : alt
          .split(/,\s*/)
          .filter((entry) => entry.startsWith("DNS:"))
          .map((entry) => entry.slice(4).toLowerCase());
  if (names.length > 0) return names;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn === undefined ? [] : [cn.toLowerCase()];
}

/**
 * Checks a certificate a user brings (Netlify's `certificate`, `key`, `ca_certificates`): sizes,
 * PEM, the key matches the certificate, valid now. Each refusal is a 422 naming the field.
 */
export function checkUpload(input: UploadInput, now: Date): CertificateMaterial {
  const certificate = input.certificate ?? "";
  const key = input.key ?? "";
  const ca = input.ca_certificates ?? "";
  if (certificate.trim() === "")
    throw invalidField("certificate", "is required to upload a certificate (PEM)");
  if (key.trim() === "")
    throw invalidField("key", "is required with a certificate: its private key (PEM)");
  sizeCheck("certificate", certificate, MAX_CERTIFICATE_CHARS);
  sizeCheck("key", key, MAX_KEY_CHARS);
  sizeCheck("ca_certificates", ca, MAX_CA_CHARS);

  const blocks = certificate.match(PEM_CERT) ?? [];
  if (blocks.length === 0) {
    throw invalidField(
      "certificate",
      "is not a PEM certificate (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----)",
    );
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(blocks[0]!);
  } catch (error) {
    throw invalidField(
      "certificate",
      `cannot be read as an X.509 certificate (${(error as Error).message})`,
    );
  }
  const caBlocks = [...blocks.slice(1), ...(ca.match(PEM_CERT) ?? [])];
  if (ca.trim() !== "" && (ca.match(PEM_CERT) ?? []).length === 0) {
    throw invalidField("ca_certificates", "is not a list of PEM certificates");
  }
  for (const [i, block] of caBlocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw invalidField(
        "ca_certificates",
        `certificate ${i + 1} of the chain cannot be read (${(error as Error).message})`,
      );
    }
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key, format: "pem" });
  } catch (error) {
    const text = (error as Error).message;
    throw invalidField(
      "key",
      /passphrase|encrypted/i.test(text) || /ENCRYPTED/.test(key)
        ? "is encrypted; give the private key without a passphrase"
        : "is not a PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA/EC PRIVATE KEY-----)",
    );
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw invalidField(
      "key",
      "does not match the certificate: the certificate's public key belongs to another private key",
    );
  }
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime()) {
    throw invalidField("certificate", `expired on ${notAfter.toISOString()}; upload a current one`);
  }
  if (notBefore.getTime() > now.getTime()) {
    throw invalidField("certificate", `is not valid before ${notBefore.toISOString()}`);
  }
  const names = certificateNames(leaf);
  if (names.length === 0)
    throw invalidField("certificate", "names no DNS name (no subjectAltName or CN)");
  const privateKeyPem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const certificatePem = blocks.join("\n") + "\n";
  const caCertificatesPem = ca.trim() === "" ? null : (ca.match(PEM_CERT) ?? []).join("\n") + "\n";
  try {
    createSecureContext({ cert: certificatePem + (caCertificatesPem ?? ""), key: privateKeyPem });
  } catch (error) {
    throw invalidField(
      "certificate",
      `is refused by the TLS library (${(error as Error).message})`,
    );
  }
  return { certificatePem, caCertificatesPem, privateKeyPem, names, notBefore, notAfter };
}

/** Reads an issued certificate chain (from the CA) into material, with its key. */
export function materialFromIssued(chainPem: string, privateKeyPem: string): CertificateMaterial {
  const blocks = chainPem.match(PEM_CERT) ?? [];
  const leaf = new X509Certificate(blocks[0] ?? "");
  return {
    certificatePem: blocks.join("\n") + "\n",
    caCertificatesPem: null,
    privateKeyPem,
    names: certificateNames(leaf),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
  };
}

const sealContext = (siteId: string): string => `site_certificate:${siteId}`;

/** Renewal is due two thirds into a certificate's lifetime. */
export function renewalTime(notBefore: Date, notAfter: Date): Date {
  return new Date(notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3);
}

/** Stores a site's certificate (replacing the one it had), the key sealed. */
export async function storeCertificate(
  ctx: PlatformContext,
  siteId: string,
  source: "acme" | "custom",
  material: CertificateMaterial,
  db: Kysely<PlatformDatabase> = ctx.db,
): Promise<void> {
  const now = isoNow(ctx);
  const columns = {
    source,
    domains: JSON.stringify(material.names),
    certificate_pem: material.certificatePem,
    ca_certificates_pem: material.caCertificatesPem,
    private_key_sealed: ctx.secrets.seal(material.privateKeyPem, sealContext(siteId)),
    not_before: material.notBefore.toISOString(),
    not_after: material.notAfter.toISOString(),
    renew_at:
      source === "acme" ? renewalTime(material.notBefore, material.notAfter).toISOString() : null,
    state: "active" as const,
    reason: null,
    attempts: 0,
    next_attempt_at: null,
    renewal_failures: 0,
    updated_at: now,
  };
  await db
    .insertInto("site_certificates")
    .values({ site_id: siteId, created_at: now, ...columns })
    .onConflict((oc) => oc.column("site_id").doUpdateSet(columns))
    .execute();
}

export function openPrivateKey(
  ctx: Pick<PlatformContext, "secrets">,
  row: SiteCertificate,
): string {
  if (row.private_key_sealed === null) throw new Error("the certificate has no key");
  return ctx.secrets.open(row.private_key_sealed, sealContext(row.site_id));
}

export function certificateDomains(row: Pick<SiteCertificate, "domains">): string[] {
  try {
    const parsed = JSON.parse(row.domains) as unknown;
    return Array.isArray(parsed) ? parsed.filter((d): d is string => typeof d === "string") : [];
  } catch {
    return [];
  }
}

/** Whether the stored certificate covers `host` and is valid at `now`. */
export function certificateServes(row: SiteCertificate, host: string, now: Date): boolean {
  if (row.certificate_pem === null || row.not_after === null) return false;
  if (row.not_after <= now.toISOString()) return false;
  return certificateDomains(row).some((name) => nameCovers(name, host));
}

/** What the TLS listener needs for a server name, or why it has nothing. */
export type HostCertificate =
  | { ok: true; siteId: string; version: string; certificatePem: string; privateKeyPem: string }
  | { ok: false; reason: string };

/**
 * The certificate to present for `host`: the certificate of the site that claims it (exactly, or
 * by a wildcard alias), when it covers the name and has not expired.
 */
export async function certificateForHost(
  ctx: Pick<PlatformContext, "db" | "secrets" | "now">,
  host: string,
): Promise<HostCertificate> {
  const candidates = [host, wildcardOf(host)].filter((d): d is string => d !== undefined);
  const claim = await ctx.db
    .selectFrom("site_domains")
    .select(["site_id", "domain", "state", "reason"])
    .where("domain", "in", candidates)
    .orderBy("domain", "desc") // an exact name sorts after its "*." wildcard: desc puts it first
    .execute();
  const row = claim.find((c) => c.domain === host) ?? claim[0];
  if (!row) return { ok: false, reason: `${host} is not a domain of any site here` };
  const cert = await ctx.db
    .selectFrom("site_certificates")
    .selectAll()
    .where("site_id", "=", row.site_id)
    .executeTakeFirst();
  if (!cert || !certificateServes(cert, host, ctx.now())) {
    return {
      ok: false,
      reason: `the site of ${host} has no certificate for it yet (domain state ${row.state}${row.reason ? `: ${row.reason}` : ""})`,
    };
  }
  return {
    ok: true,
    siteId: row.site_id,
    version: `${cert.updated_at}|${cert.not_after}`,
    certificatePem: cert.certificate_pem! + (cert.ca_certificates_pem ?? ""),
    privateKeyPem: openPrivateKey(ctx, cert),
  };
}
