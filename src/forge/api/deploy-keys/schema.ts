import { Type, type Static } from "typebox";
import { badParams } from "../../errors.ts";
import { PaginationQuery } from "../../http/pagination.ts";

/**
 * Title and key lengths are not limited here: GitLab checks them in the Key model, so an
 * over-long value is a `{"message":{"title":["is too long ..."]}}` validation error, not a
 * Grape parameter error. The 1 MiB body limit bounds them anyway.
 */
export const CreateDeployKeyBody = Type.Object({
  key: Type.String(),
  title: Type.String(),
  can_push: Type.Optional(Type.Boolean()),
  expires_at: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});
export type CreateDeployKeyBody = Static<typeof CreateDeployKeyBody>;

/** `POST /deploy_keys` (admin): an instance-wide public key; there is no `can_push` here. */
export const CreateInstanceDeployKeyBody = Type.Object({
  key: Type.String(),
  title: Type.String(),
  expires_at: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});
export type CreateInstanceDeployKeyBody = Static<typeof CreateInstanceDeployKeyBody>;

/** `at_least_one_of :title, :can_push` is checked by the service, after the project lookup. */
export const UpdateDeployKeyBody = Type.Object({
  title: Type.Optional(Type.String()),
  can_push: Type.Optional(Type.Boolean()),
});
export type UpdateDeployKeyBody = Static<typeof UpdateDeployKeyBody>;

export const DeployKeyParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 500 }),
  key_id: Type.Integer(),
});

export const ListDeployKeysQuery = Type.Intersect([
  PaginationQuery,
  Type.Object({ public: Type.Optional(Type.Boolean()) }),
]);

/** `:user_id` is an id or a username, as GitLab's `find_user` accepts both. */
export const UserDeployKeysParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 255 }),
});

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
