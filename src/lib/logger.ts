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
];

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
    },
    options.destination,
  );
}
