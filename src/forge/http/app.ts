import formbody from "@fastify/formbody";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import { randomUUID } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { DomainError, HTTP_STATUS } from "../../lib/errors.ts";
import type { Logger } from "../../lib/logger.ts";
import { ForgeError, withMessage } from "../errors.ts";
import { grapeParams } from "./params.ts";

export type ForgeApp = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

declare module "fastify" {
  interface FastifyRequest {
    /** The forge's public base URL (`SLIPWAY_FORGE_PUBLIC_URL`), for URLs in headers. */
    publicUrl: string;
  }
}

export interface HttpTimeouts {
  /** Until the request head is in (`SLIPWAY_FORGE_HEADERS_TIMEOUT`, 20 s). */
  headersMs: number;
  /** Until the whole request, body included, is in (`SLIPWAY_FORGE_REQUEST_TIMEOUT`, 15 min). */
  requestMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: Readonly<HttpTimeouts> = {
  headersMs: 20_000,
  requestMs: 15 * 60_000,
};

/** Largest JSON or form body the API accepts (deploy keys are at most 5,000 characters). */
const BODY_LIMIT = 1024 * 1024;

/**
 * The forge's Fastify instance with GitLab's conventions: Grape-style parameters (query string,
 * form or JSON body, one set) and parameter errors, `{"message": ...}` bodies, a JSON 404 for
 * unknown routes, never a 500 for bad input, and GitLab's response headers: exactly
 * `Content-Type: application/json` (python-gitlab compares it for equality) and an
 * `X-Request-Id` that is also the request's id in the log. `publicUrl` is read per request (it is
 * known only once the server listens, when started on port 0).
 */
export function createHttpApp(
  logger: Logger,
  publicUrl: () => string,
  timeouts: HttpTimeouts = DEFAULT_HTTP_TIMEOUTS,
): ForgeApp {
  const app = Fastify({
    loggerInstance: logger,
    // A client gets this long to send its request head, and this long for the whole request
    // (a large push included); one that trickles bytes (slow loris) is answered 408 and cut off
    // instead of holding a connection forever. Fastify's own default is no request limit.
    requestTimeout: timeouts.requestMs,
    http: {
      headersTimeout: timeouts.headersMs,
      // How often Node checks those limits (its default, 30 s, would let a head run that late).
      connectionsCheckingInterval: Math.max(100, Math.min(5000, timeouts.headersMs / 4)),
    },
    genReqId: () => randomUUID(),
    bodyLimit: BODY_LIMIT,
    // Project ids are URL-encoded paths (`group%2Fsite`); keep them as one segment.
    routerOptions: { maxParamLength: 500, ignoreTrailingSlash: true },
    ajv: { customOptions: { coerceTypes: "array", removeAdditional: false, allErrors: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorateRequest("publicUrl", { getter: publicUrl });
  void app.register(formbody, { bodyLimit: BODY_LIMIT, parser: parseForm });
  // GitLab's clients send `Content-Type: application/json` with no body (python-gitlab on every
  // DELETE, gitbeaker on bodiless POSTs): that is a request without parameters. A malformed
  // non-empty body stays a 400 that says so.
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser(
    "application/json",
    { parseAs: "string", bodyLimit: BODY_LIMIT },
    (_request: FastifyRequest, body: string | Buffer, done) => {
      const text = body.toString();
      if (text.trim() === "") return done(null, undefined);
      try {
        done(null, JSON.parse(text) as unknown);
      } catch {
        done(withMessage("bad_request", "400 Bad Request - the body is not valid JSON"), undefined);
      }
    },
  );
  app.addHook("preValidation", grapeParams);
  app.addHook("onSend", async (request, reply, payload) => {
    void reply.header("x-request-id", request.id);
    const type = reply.getHeader("content-type");
    if (typeof type === "string" && /^application\/json\s*(;|$)/i.test(type)) {
      void reply.header("content-type", "application/json");
    }
    return payload;
  });
  app.setErrorHandler((error: FastifyError, request, reply) =>
    sendError(error, reply, request.log),
  );
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: "404 Not Found" }));
  return app as unknown as ForgeApp;
}

/** Form bodies as GitLab reads them: `scopes[]=api&scopes[]=read_api` becomes an array. */
function parseForm(body: string): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    if (rawKey.endsWith("[]")) {
      const key = rawKey.slice(0, -2);
      const list = result[key];
      result[key] = Array.isArray(list) ? [...list, value] : [value];
    } else {
      result[rawKey] = value;
    }
  }
  return result;
}

function sendError(error: FastifyError, reply: FastifyReply, log: FastifyBaseLogger): FastifyReply {
  if (error instanceof DomainError) {
    // A ForgeError carries GitLab's exact body; any other domain error gets GitLab's plain shape.
    const body = error instanceof ForgeError ? error.body : { message: error.message };
    return reply.code(HTTP_STATUS[error.kind]).headers(error.headers).send(body);
  }
  if (error.validation) {
    return reply.code(400).send({ error: grapeMessage(error) });
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return reply.code(status).send({ message: `${status} ${clientErrorText(error, status)}` });
  }
  log.error({ err: error }, "unhandled error");
  return reply.code(500).send({ message: "500 Internal Server Error" });
}

function clientErrorText(error: FastifyError, status: number): string {
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return `Request Entity Too Large - the body is larger than ${BODY_LIMIT} bytes`;
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return "Unsupported Media Type - send application/json or a form";
    default:
      return status === 404 ? "Not Found" : "Bad Request";
  }
}

/**
 * Turns Ajv's errors into Grape's sentences: `key is missing`, `key_id is invalid`,
 * `visibility does not have a valid value`, joined with ", " as Grape does.
 */
function grapeMessage(error: FastifyError): string {
  const messages = new Set<string>();
  for (const issue of error.validation ?? []) {
    const params = issue.params as Record<string, unknown>;
    const path = issue.instancePath.replace(/^\//, "").replaceAll("/", ".");
    if (issue.keyword === "required") {
      const field = [path, String(params.missingProperty)].filter(Boolean).join(".");
      messages.add(`${field} is missing`);
    } else if (issue.keyword === "enum" || issue.keyword === "const" || issue.keyword === "anyOf") {
      messages.add(`${path || error.validationContext} does not have a valid value`);
    } else if (issue.keyword === "not") {
      messages.add(`${path || error.validationContext} has a value not allowed`);
    } else if (issue.keyword === "maxLength") {
      messages.add(`${path} is too long (maximum is ${String(params.limit)} characters)`);
    } else {
      messages.add(`${path || error.validationContext} is invalid`);
    }
  }
  return [...messages].join(", ") || "Bad Request";
}
