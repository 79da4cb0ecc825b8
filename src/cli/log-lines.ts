import type { Writable } from "node:stream";

/**
 * Pino's JSON records as one readable line each, for a person watching `slipway start` in a
 * terminal: `12:04:05 INFO  platform ready  url=http://… sitesDomain=localhost`. Services (output
 * not a terminal) keep the JSON lines.
 */

const LEVELS: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO ",
  40: "WARN ",
  50: "ERROR",
  60: "FATAL",
};
const OMIT = new Set(["level", "time", "pid", "hostname", "name", "msg", "v"]);

function show(value: unknown): string {
  if (typeof value === "string") return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  if (value !== null && typeof value === "object") {
    const err = value as { message?: unknown; type?: unknown };
    if (typeof err.message === "string" && typeof err.type === "string") {
      return JSON.stringify(`${err.type}: ${err.message}`);
    }
  }
  return JSON.stringify(value) ?? String(value);
}

/** One pino JSON record as a readable line (the input itself when it is not JSON). */
export function formatLogLine(json: string, colour = false): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const level = typeof record.level === "number" ? record.level : 30;
  const time = typeof record.time === "number" ? new Date(record.time) : new Date();
  const clock = time.toTimeString().slice(0, 8);
  let label = LEVELS[level] ?? String(level);
  if (colour && level >= 50) label = `\u001b[31m${label}\u001b[0m`;
  else if (colour && level >= 40) label = `\u001b[33m${label}\u001b[0m`;
  const fields = Object.entries(record)
    .filter(([key]) => !OMIT.has(key))
    .map(([key, value]) => `${key}=${show(value)}`);
  const message = typeof record.msg === "string" ? record.msg : "";
  return [clock, label, message, ...(fields.length > 0 ? [" " + fields.join(" ")] : [])]
    .join(" ")
    .trimEnd();
}

/** A pino destination writing readable lines to `out` (a terminal). */
export function readableLogDestination(out: Writable & { isTTY?: boolean }): {
  write(chunk: string): void;
} {
  return {
    write(chunk: string) {
      for (const line of chunk.split("\n")) {
        if (line.trim() !== "") out.write(`${formatLogLine(line, out.isTTY === true)}\n`);
      }
    },
  };
}
