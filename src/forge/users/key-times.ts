import { badParams, preconditionFailed } from "../errors.ts";

/**
 * The times clients send about SSH keys (user keys and deploy keys alike): `expires_at` when a
 * key is created, and `If-Unmodified-Since` when one is deleted.
 */

const ISO_TIME =
  /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/**
 * Parses an ISO-8601 date or date-time (`2030-01-01`, `2030-01-01T10:00:00Z`,
 * `1990-01-12T00:00:48-0600`); a time without an offset is UTC, like Rails' API. Strings that
 * JavaScript's lenient `Date.parse` would guess at (`"1"`, `"tomorrow"`) are refused.
 */
export function parseIsoTime(value: string): Date | undefined {
  const match = ISO_TIME.exec(value.trim());
  if (!match) return undefined;
  const [, date, time = "00:00:00", zone = "Z"] = match;
  const offset = /^[+-]\d{2}$/.test(zone)
    ? `${zone}:00`
    : zone.replace(/^([+-]\d{2})(\d{2})$/, "$1:$2").toUpperCase();
  const parsed = new Date(`${date}T${time}${offset}`);
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}

/**
 * Grape's `optional :expires_at, type: DateTime`: absent, null or empty is "no expiry"; a
 * value that is not a date is `400 {"error":"expires_at is invalid"}`. Returns ISO-8601 UTC.
 */
export function parseExpiresAt(value: string | null | undefined): string | null {
  if (value === undefined || value === null || value.trim() === "") return null;
  const parsed = parseIsoTime(value);
  if (!parsed) throw badParams("expires_at is invalid");
  return parsed.toISOString();
}

/**
 * GitLab's `check_unmodified_since!`: 412 when the record changed after the client's
 * `If-Unmodified-Since`. HTTP dates have whole seconds, so the comparison is made in seconds
 * (RFC 9110 §13.1.4); a header that is not a date is ignored, as GitLab does.
 */
export function checkUnmodifiedSince(header: unknown, updatedAt: string): void {
  if (typeof header !== "string") return;
  const since = parseIsoTime(header) ?? parseHttpDate(header);
  if (!since) return;
  if (Math.floor(Date.parse(updatedAt) / 1000) > Math.floor(since.getTime() / 1000)) {
    throw preconditionFailed();
  }
}

const HTTP_DATE = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

function parseHttpDate(value: string): Date | undefined {
  if (!HTTP_DATE.test(value.trim())) return undefined;
  const parsed = new Date(Date.parse(value));
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}
