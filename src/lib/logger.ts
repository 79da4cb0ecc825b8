import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/** Paths that may carry secrets anywhere in a log record; pino replaces them before writing. */
const REDACT = [
  "req.headers.authorization",
  'req.headers["private-token"]',
  'req.headers["x-gitlab-token"]',
  "token",
  "*.token",
  "password",
  "*.password",
  "privateKey",
  "*.privateKey",
  "private_key",
  "*.private_key",
  "secret",
  "*.secret",
  // A build hook's id is its capability (`POST /build_hooks/<id>` starts a build).
  "buildHookId",
  "*.buildHookId",
];

/** Path segments whose next segment is a capability: whoever knows the URL may use it. */
const CAPABILITY_SEGMENTS = new Set(["build_hooks", "invites", "invite"]);

/** Query parameters that carry credentials (`?access_token=`, `?private_token=`, `?secret=`). */
const SECRET_QUERY = /token|secret|password|signature|^sig$|^key$|^code$/i;

/**
 * A request URL fit for a log: the id after `/build_hooks/` (Netlify's build hooks, anywhere in
 * the path, API included), the token after `/invites/` or `/invite/`, and credential-like query
 * values become `[redacted]`; the rest is kept, for the log to stay useful.
 */
export function redactUrl(url: string): string {
  const queryAt = url.indexOf("?");
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  const segments = path.split("/");
  for (let i = 1; i < segments.length; i++) {
    if (CAPABILITY_SEGMENTS.has(segments[i - 1] ?? "") && segments[i] !== "") {
      segments[i] = "[redacted]";
    }
  }
  if (queryAt === -1) return segments.join("/");
  const query = url
    .slice(queryAt + 1)
    .split("&")
    .map((pair) => {
      const equals = pair.indexOf("=");
      const name = equals === -1 ? pair : pair.slice(0, equals);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // a malformed name is logged as sent
      }
      return equals !== -1 && SECRET_QUERY.test(decoded) ? `${name}=[redacted]` : pair;
    });
  return `${segments.join("/")}?${query.join("&")}`;
}

interface LoggableRequest {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  headers?: Record<string, unknown>;
  socket?: { remoteAddress?: string; remotePort?: number };
}

/** Fastify's own request serializer (the same fields) with the URL redacted. */
function serializeRequest(req: LoggableRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: typeof req.url === "string" ? redactUrl(req.url) : req.url,
    version: req.headers?.["accept-version"],
    host: req.host ?? req.headers?.host,
    remoteAddress: req.ip ?? req.socket?.remoteAddress,
    remotePort: req.socket?.remotePort,
  };
}

/** A logger with the redaction rules; `destination` (default stdout) lets tests read the output. */
export function createLogger(options: {
  name: string;
  level?: string;
  destination?: DestinationStream;
}): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? "info",
      redact: { paths: REDACT, censor: "[redacted]" },
      // Fastify keeps a logger instance's own `req` serializer in place of its default.
      serializers: { req: serializeRequest },
    },
    options.destination,
  );
}
