import { Type, type Static } from "typebox";
import { MAX_CA_CHARS, MAX_CERTIFICATE_CHARS, MAX_KEY_CHARS } from "../../domains/certificates.ts";

export const SiteParams = Type.Object({ site_id: Type.String({ maxLength: 255 }) });
export type SiteParams = Static<typeof SiteParams>;

/**
 * Netlify's `provisionSiteTLSCertificate` takes `certificate`, `key` and `ca_certificates` in
 * the query; a JSON body with the same fields is accepted too (PEM does not fit in a URL well).
 * Without them, the call asks for a certificate now.
 */
const upload = {
  certificate: Type.Optional(Type.String({ maxLength: MAX_CERTIFICATE_CHARS })),
  key: Type.Optional(Type.String({ maxLength: MAX_KEY_CHARS })),
  ca_certificates: Type.Optional(Type.String({ maxLength: MAX_CA_CHARS })),
};
export const SslQuery = Type.Object(upload);
export type SslQuery = Static<typeof SslQuery>;
export const SslBody = Type.Union([Type.Object(upload), Type.Null()]);
export type SslBody = Static<typeof SslBody>;

/**
 * A JSON body up to this size reaches the schema, so that an oversized field is refused by name
 * (`certificate must be at most … characters`) rather than as "body too large".
 */
export const SSL_BODY_LIMIT = 16 * 1024 * 1024;
