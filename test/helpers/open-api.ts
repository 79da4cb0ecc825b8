import { AssertionError } from "node:assert";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

/**
 * Checks our responses against Netlify's own API description, `@netlify/open-api`'s
 * `dist/swagger.json` (Swagger 2.0): an operation is found by its `operationId` (the method
 * name of `@netlify/api`) or by method and path, and a body is validated with Ajv against that
 * operation's response schema for the status (`#/definitions/...` references resolved).
 *
 * Documented additions, which the spec allows or which Netlify's own API does:
 * - extra properties: the spec never sets `additionalProperties: false`, so they pass as is;
 * - THE ONE RELAXATION: `null` is accepted for a property the spec types as string, object,
 *   integer... (Netlify's real API returns nulls, e.g. `custom_domain`, `error_message`), except
 *   where the spec says `x-nullable: false`. Top-level bodies and array items are not relaxed.
 * Anything else (a wrong type, a value outside an enum, a status the operation does not
 * document) fails.
 */

type Schema = Record<string, unknown>;

interface Operation {
  operationId: string;
  method: string;
  path: string;
  responses: Record<string, { schema?: Schema } | undefined>;
}

const require = createRequire(import.meta.url);
const SPEC_PATH = require.resolve("@netlify/open-api/dist/swagger.json");
const SPEC_ID = "netlify-open-api";
const METHODS = ["get", "put", "post", "patch", "delete", "head", "options"];

interface Spec {
  paths: Record<string, Record<string, unknown>>;
  definitions: Record<string, Schema>;
}

let loaded: { spec: Spec; ajv: Ajv; operations: Operation[] } | undefined;

function load(): NonNullable<typeof loaded> {
  if (loaded) return loaded;
  const spec = JSON.parse(readFileSync(SPEC_PATH, "utf8")) as Spec;
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  // ajv-formats is CommonJS; under ESM its default export may arrive wrapped.
  const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
    addFormatsModule) as (ajv: Ajv) => Ajv;
  addFormats(ajv);
  // The spec spells date-time both ways (`dateTime` 328 times, `date-time` 7 times).
  ajv.addFormat("dateTime", ajv.formats["date-time"]!);
  const definitions: Record<string, Schema> = {};
  for (const [name, schema] of Object.entries(spec.definitions)) {
    definitions[name] = relax(schema, false) as Schema;
  }
  ajv.addSchema({ $id: SPEC_ID, definitions });
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      const op = item[method] as
        { operationId?: string; responses?: Operation["responses"] } | undefined;
      if (op?.operationId === undefined) continue;
      operations.push({
        operationId: op.operationId,
        method: method.toUpperCase(),
        path,
        responses: op.responses ?? {},
      });
    }
  }
  loaded = { spec, ajv, operations };
  return loaded;
}

/**
 * A copy of a Swagger schema that Ajv validates as the clients see it: references point into
 * the registered definitions, and (when `nullable`) `null` is allowed unless `x-nullable: false`.
 */
function relax(node: unknown, nullable: boolean): unknown {
  if (Array.isArray(node)) return node.map((item) => relax(item, false));
  if (node === null || typeof node !== "object") return node;
  const schema = node as Schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "$ref" && typeof value === "string" && value.startsWith("#/definitions/")) {
      out.$ref = `${SPEC_ID}${value}`;
    } else if (key === "properties" && value !== null && typeof value === "object") {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([name, prop]) => [
          name,
          relax(prop, true),
        ]),
      );
    } else if (key === "items" || key === "additionalProperties") {
      out[key] = relax(value, false);
    } else if (key === "allOf" || key === "anyOf" || key === "oneOf") {
      out[key] = (value as unknown[]).map((part) => relax(part, false));
    } else {
      out[key] = value;
    }
  }
  if (!nullable || schema["x-nullable"] === false) return out;
  if (typeof out.$ref === "string" || Array.isArray(out.allOf)) {
    // A referenced or composed object: null, or the object.
    return { anyOf: [{ type: "null" }, out] };
  }
  if (typeof out.type === "string") out.type = [out.type, "null"];
  if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  return out;
}

export type OperationRef = string | { method: string; path: string };

/**
 * An operation by `operationId`, or by method and a concrete API path (`/sites/abc/deploys`,
 * with or without `/api/v1`); path templates match one segment per `{param}`.
 */
export function findOperation(ref: OperationRef): Operation {
  const { operations } = load();
  if (typeof ref === "string") {
    const op = operations.find((o) => o.operationId === ref);
    if (!op) throw new Error(`@netlify/open-api has no operation ${JSON.stringify(ref)}`);
    return op;
  }
  const method = ref.method.toUpperCase();
  const path = ref.path.split("?")[0]!.replace(/^\/api\/v1(?=\/)/, "");
  const candidates = operations.filter((o) => o.method === method && templateMatches(o.path, path));
  // A literal segment beats a parameter (`/sites/{site_id}/deploys` vs `/{account_slug}/sites`).
  candidates.sort((a, b) => literalSegments(b.path) - literalSegments(a.path));
  const op = candidates[0];
  if (!op) throw new Error(`@netlify/open-api has no operation for ${method} ${path}`);
  return op;
}

function templateMatches(template: string, path: string): boolean {
  const t = template.split("/");
  const p = path.split("/");
  return t.length === p.length && t.every((seg, i) => /^\{.+\}$/.test(seg) || seg === p[i]);
}

const literalSegments = (template: string): number =>
  template.split("/").filter((seg) => seg !== "" && !/^\{.+\}$/.test(seg)).length;

const validators = new Map<string, ValidateFunction>();

function validatorFor(op: Operation, status: number): ValidateFunction | null {
  const declared = op.responses[String(status)];
  const isSuccess = status >= 200 && status < 300;
  if (declared === undefined && isSuccess) {
    const documented = Object.keys(op.responses).filter((s) => s !== "default");
    throw new AssertionError({
      message: `${op.operationId} (${op.method} ${op.path}) answered ${status}, but the spec documents ${documented.join(", ") || "no success status"}`,
    });
  }
  // An error status documented by name only (`422: Unprocessable Entity`) has the error model.
  const response =
    declared?.schema === undefined && status >= 400
      ? op.responses.default
      : (declared ?? op.responses.default);
  if (response?.schema === undefined) return null;
  const key = `${op.operationId} ${response === op.responses.default ? "default" : status}`;
  let validate = validators.get(key);
  if (!validate) {
    validate = load().ajv.compile(relax(response.schema, false) as Schema);
    validators.set(key, validate);
  }
  return validate;
}

function describe(errors: readonly ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .slice(0, 10)
    .map((e) => `  ${e.instancePath || "(body)"} ${e.message ?? e.keyword}`)
    .join("\n");
}

/**
 * Fails (AssertionError) unless `body` is what the spec says `operation` answers with
 * `status`. A success status without a schema (204) must have an empty body; an error status
 * without one is checked against the operation's `default` (the error model `{code, message}`).
 */
export function assertSpecResponse(operation: OperationRef, status: number, body: unknown): void {
  const op = findOperation(operation);
  const validate = validatorFor(op, status);
  if (validate === null) {
    if (body !== undefined && body !== "" && body !== null) {
      throw new AssertionError({
        message: `${op.operationId} answered ${status}, which the spec documents without a body, but a body came: ${JSON.stringify(body).slice(0, 200)}`,
      });
    }
    return;
  }
  if (!validate(body)) {
    throw new AssertionError({
      message: `${op.operationId} (${op.method} ${op.path}) ${status} does not match @netlify/open-api:\n${describe(validate.errors)}\nbody: ${JSON.stringify(body).slice(0, 500)}`,
    });
  }
}

/** The spec's documented statuses of an operation (for tests that check creation codes). */
export function documentedStatuses(operation: OperationRef): string[] {
  return Object.keys(findOperation(operation).responses);
}
