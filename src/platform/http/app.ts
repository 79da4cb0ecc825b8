import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerFactory,
} from "fastify";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { isDiskFullError } from "../../lib/disk-full.ts";
import { DomainError, HTTP_STATUS } from "../../lib/errors.ts";
import type { Logger } from "../../lib/logger.ts";
import { badRequest, PlatformError } from "../errors.ts";

export type PlatformApp = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** Largest JSON body the API accepts. */
export const BODY_LIMIT = 1024 * 1024;

/**
 * The platform's Fastify instance with Netlify's conventions: every error is JSON
 * `{code, message}` (from `PlatformError` or mapped here), schema refusals are 422 naming the
 * field, malformed JSON is 400, an unknown route is a JSON 404, and bad input never a 500.
 */
export function createHttpApp(
  logger: Logger,
  options: { serverFactory?: FastifyServerFactory } = {},
): PlatformApp {
  const app = Fastify({
    loggerInstance: logger,
    ...(options.serverFactory ? { serverFactory: options.serverFactory } : {}),
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: true },
    // Query strings arrive as text, so integers and booleans are coerced; bodies are JSON and
    // their types are checked as sent.
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, allErrors: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Netlify's clients send `Content-Type: application/json` on bodiless POSTs
  // (`POST /deploy_keys`); an empty body is no body, and malformed JSON is a 400 that says so.
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser(
    "application/json",
    { parseAs: "string", bodyLimit: BODY_LIMIT },
    (_request: FastifyRequest, body: string | Buffer, done) => {
      const text = body.toString();
      if (text.trim() === "") return done(null, undefined);
      try {
        done(null, JSON.parse(text) as unknown);
      } catch (error) {
        done(badRequest(`The body is not valid JSON: ${(error as Error).message}`), undefined);
      }
    },
  );

  app.setErrorHandler((error: FastifyError, request, reply) =>
    sendError(error, reply, request.log),
  );
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      code: 404,
      message: `Not found: no route for ${request.method} ${request.url.split("?")[0] ?? ""}`,
    }),
  );
  return app as unknown as PlatformApp;
}

function sendError(error: FastifyError, reply: FastifyReply, log: FastifyBaseLogger): FastifyReply {
  if (error instanceof DomainError) {
    const status = HTTP_STATUS[error.kind];
    const body =
      error instanceof PlatformError ? error.body : { code: status, message: error.message };
    return reply.code(status).headers(error.headers).send(body);
  }
  if (error.validation) {
    const { message, field } = validationMessage(error);
    return reply.code(422).send({ code: 422, message, ...(field ? { field } : {}) });
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return reply.code(status).send({ code: status, message: clientErrorText(error, status) });
  }
  if (isDiskFullError(error)) {
    // The machine's trouble, not the request's: this one request fails, nothing stored changes.
    log.error({ err: error }, "the disk is full");
    return reply.code(503).send({
      code: 503,
      message: "the disk is full: nothing was stored; try again once the platform has space",
    });
  }
  log.error({ err: error }, "unhandled error");
  return reply.code(500).send({ code: 500, message: "Internal server error (logged)" });
}

function clientErrorText(error: FastifyError, status: number): string {
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return `The body is larger than ${BODY_LIMIT} bytes`;
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return "Unsupported Content-Type: send application/json";
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return "The Content-Length header does not match the body";
    default:
      return status === 404 ? "Not found" : `Bad request: ${error.message}`;
  }
}

const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  integer: "an integer",
  number: "a number",
  boolean: "true or false",
  object: "an object",
  array: "an array",
  null: "null",
};

/**
 * Turns Ajv's errors into sentences that name the field (`repo.provider must be one of ...`).
 * `field` is the first field at fault, dotted (`repo.allowed_branches.0`).
 */
export function validationMessage(error: FastifyError): { message: string; field?: string } {
  const parts = new Map<string, string>();
  let firstField: string | undefined;
  const issues = error.validation ?? [];
  // A union's own "anyOf" failure is clearer than each branch's; report it once per field.
  const unionPaths = new Set(
    issues.filter((i) => i.keyword === "anyOf").map((i) => i.instancePath),
  );
  for (const issue of issues) {
    const params = issue.params as Record<string, unknown>;
    const base = issue.instancePath.replace(/^\//, "").replaceAll("/", ".");
    let field = base;
    let text: string;
    if (unionPaths.has(issue.instancePath) && issue.keyword !== "anyOf") continue;
    switch (issue.keyword) {
      case "required":
        field = [base, String(params.missingProperty)].filter(Boolean).join(".");
        text = "is required";
        break;
      case "type": {
        const types = String(params.type)
          .split(",")
          .map((t) => TYPE_NAMES[t] ?? t);
        text = `must be ${types.join(" or ")}`;
        break;
      }
      case "anyOf":
        text = "has the wrong type";
        break;
      case "enum":
        text = `must be one of ${(params.allowedValues as unknown[]).map(String).join(", ")}`;
        break;
      case "minLength":
        text =
          params.limit === 1
            ? "must not be empty"
            : `must be at least ${String(params.limit)} characters`;
        break;
      case "maxLength":
        text = `must be at most ${String(params.limit)} characters`;
        break;
      case "minimum":
        text = `must be at least ${String(params.limit)}`;
        break;
      case "maximum":
        text = `must be at most ${String(params.limit)}`;
        break;
      case "maxItems":
        text = `must have at most ${String(params.limit)} items`;
        break;
      case "maxProperties":
        text = `must have at most ${String(params.limit)} entries`;
        break;
      case "pattern":
        text = "has characters that are not allowed here";
        break;
      case "format":
        text = `must be a valid ${String(params.format)}`;
        break;
      default:
        text = issue.message ?? "is invalid";
    }
    const where = field === "" ? `the ${error.validationContext ?? "request"}` : field;
    firstField ??= field === "" ? undefined : field;
    if (!parts.has(where)) parts.set(where, `${where} ${text}`);
  }
  const message = [...parts.values()].join("; ") || "The request is invalid";
  return firstField === undefined ? { message } : { message, field: firstField };
}
