import type { FastifyRequest } from "fastify";
import { isRecord } from "../../lib/json.ts";

/**
 * Grape's view of a request's parameters, before the route's schema validates them:
 *
 * - the query string and the body are one set of parameters (Rack merges them; GitLab's own
 *   examples post `?state=success`), the body winning a name both give; the token is never a
 *   parameter;
 * - a request without a body, or with an empty one, has no parameters rather than an invalid
 *   body, so a missing field reads `key is missing` as in GitLab;
 * - a Boolean parameter takes Grape's words as well as JSON's: `1`/`0`, `t`/`f`, `yes`/`no`,
 *   `y`/`n`, `on`/`off` (as forms and query strings send them: `-d push_events=1`).
 *
 * Only routes whose schema has a body get the query merged into it.
 */
export async function grapeParams(request: FastifyRequest): Promise<void> {
  const schema = request.routeOptions.schema;
  if (!schema) return;
  if (schema.querystring && isRecord(request.query)) {
    coerceBooleans(request.query, booleanNames(schema.querystring));
  }
  if (!schema.body) return;
  const body = request.body ?? {};
  if (!isRecord(body)) return; // an array or a scalar: the schema refuses it
  const params = { ...queryParams(request.query), ...body };
  coerceBooleans(params, booleanNames(schema.body));
  request.body = params;
}

const TRUE_WORDS = new Set(["1", "true", "t", "yes", "y", "on"]);
const FALSE_WORDS = new Set(["0", "false", "f", "no", "n", "off"]);

/** Grape's Boolean coercion (dry-types `Params::Bool`); anything else is left to the schema. */
export function grapeBoolean(value: unknown): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  const word = String(value).toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return undefined;
}

function coerceBooleans(params: Record<string, unknown>, names: ReadonlySet<string>): void {
  for (const name of names) {
    const value = grapeBoolean(params[name]);
    if (value !== undefined) params[name] = value;
  }
}

/** `scopes[]=api&scopes[]=read_api` in a query string is the array `scopes`, as in a form. */
function queryParams(query: unknown): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  if (!isRecord(query)) return result;
  for (const [rawKey, value] of Object.entries(query)) {
    if (rawKey === "private_token") continue;
    if (rawKey.endsWith("[]")) {
      result[rawKey.slice(0, -2)] = Array.isArray(value) ? value : [value];
    } else {
      result[rawKey] = value;
    }
  }
  return result;
}

/** The top-level properties a (TypeBox) JSON schema types as boolean, through unions and intersections. */
function booleanNames(schema: unknown): Set<string> {
  const names = new Set<string>();
  const visit = (node: unknown): void => {
    if (!isRecord(node)) return;
    if (isRecord(node.properties)) {
      for (const [name, property] of Object.entries(node.properties)) {
        if (allowsBoolean(property)) names.add(name);
      }
    }
    for (const key of ["allOf", "anyOf", "oneOf"] as const) {
      const parts = node[key];
      if (Array.isArray(parts)) parts.forEach(visit);
    }
  };
  visit(schema);
  return names;
}

function allowsBoolean(schema: unknown): boolean {
  if (!isRecord(schema)) return false;
  const type = schema.type;
  if (type === "boolean" || (Array.isArray(type) && type.includes("boolean"))) return true;
  const union = schema.anyOf ?? schema.oneOf;
  return Array.isArray(union) && union.some(allowsBoolean);
}
