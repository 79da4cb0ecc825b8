import type { TestPlatform } from "./platform.ts";
import { poll } from "./wait.ts";

/**
 * The requests a test platform served, read back from its own request log (Fastify's
 * `incoming request` / `request completed` lines), so that tests can see what a real client
 * (netlify-cli, @netlify/api) sent and what status it got without standing in its way.
 */

export interface LoggedRequest {
  reqId: string;
  method: string;
  /** Path and query, as received. */
  url: string;
  /** Undefined until the platform has answered. */
  status: number | undefined;
}

interface LogLine {
  reqId?: string;
  msg?: string;
  req?: { method?: string; url?: string };
  res?: { statusCode?: number };
}

/** A position in the log: `requestsSince(t, mark)` reads what came after it. */
export const logMark = (t: TestPlatform): number => t.logs.length;

/** Requests logged after `mark`, in arrival order, with their statuses once answered. */
export function requestsSince(t: TestPlatform, mark = 0): LoggedRequest[] {
  const byId = new Map<string, LoggedRequest>();
  for (const text of t.logs.slice(mark)) {
    if (!text.includes('"reqId"')) continue;
    const line = JSON.parse(text) as LogLine;
    if (line.reqId === undefined) continue;
    if (line.msg === "incoming request" && line.req) {
      byId.set(line.reqId, {
        reqId: line.reqId,
        method: line.req.method ?? "",
        url: line.req.url ?? "",
        status: undefined,
      });
    } else if (line.msg === "request completed") {
      const request = byId.get(line.reqId);
      if (request) request.status = line.res?.statusCode;
    }
  }
  return [...byId.values()];
}

/**
 * The one request answered after `mark` (a client call has just resolved; its completion line
 * may be written a moment after the client got the answer, so this waits for it).
 */
export async function onlyRequestSince(t: TestPlatform, mark: number): Promise<LoggedRequest> {
  return poll(
    async () => {
      const requests = requestsSince(t, mark);
      if (requests.length > 1) {
        throw new Error(
          `expected one request, got ${requests.map((r) => `${r.method} ${r.url}`).join(", ")}`,
        );
      }
      const request = requests[0];
      return request?.status !== undefined ? request : undefined;
    },
    "the platform's log line for the request",
    10_000,
    10,
  );
}
