import http from "node:http";
import https from "node:https";
import {
  lookup as guardedLookup,
  RefusedAddressError,
  refusalForHost,
} from "../../lib/net-guard.ts";

/** What one POST to a hook's URL gave. */
export interface SendResult {
  /** The HTTP status, or null when no response came (refused, timeout, network error). */
  status: number | null;
  /**
   * The first `MAX_RESPONSE_BODY` bytes of the response body; empty when the receiver was
   * reached past the address guard (a local or private address the operator allowed): what an
   * internal service answers must not be readable through a hook's events log.
   */
  body: string;
  /** Why no response came, in words for the events log. */
  error: string | null;
  durationMs: number;
  /** True when `signal` aborted the request (the forge is stopping). */
  aborted: boolean;
}

export interface SendOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  verifyTls: boolean;
  allowLocal: boolean;
  signal?: AbortSignal;
}

/** GitLab keeps 8 KB of a response body in its hook logs. */
export const MAX_RESPONSE_BODY = 8 * 1024;
const LOCAL_HINT =
  "an operator may allow this receiver with SLIPWAY_FORGE_ALLOWED_WEBHOOK_HOSTS=<host>:<port>";

/**
 * POSTs a hook payload. Redirects are not followed (a 3xx is the answer). Unless local requests
 * are allowed, the address is checked when the connection is made: IP-literal hosts before
 * connecting, names through the guarded `lookup`, so DNS rebinding cannot slip past a check done
 * at save time. A fresh connection is used every time (no agent), so each one is checked.
 */
export function sendWebhook(options: SendOptions): Promise<SendResult> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined = undefined;
    const finish = (result: Omit<SendResult, "durationMs">): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      resolve({ ...result, durationMs: elapsed() });
    };
    const fail = (error: string, aborted = false): void =>
      finish({ status: null, body: "", error, aborted });

    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      fail("invalid URL");
      return;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      fail(`unsupported URL scheme ${url.protocol}`);
      return;
    }
    if (!options.allowLocal) {
      const refused = refusalForHost(url.hostname);
      if (refused) {
        fail(`refused: ${refused.message}; ${LOCAL_HINT}`);
        return;
      }
    }

    const headers: Record<string, string | number> = {
      ...options.headers,
      "Content-Length": Buffer.byteLength(options.body),
    };
    const auth =
      url.username !== "" || url.password !== ""
        ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
        : undefined;
    const request = (url.protocol === "https:" ? https : http).request({
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ""),
      port: url.port === "" ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      method: "POST",
      headers,
      auth,
      agent: false,
      rejectUnauthorized: options.verifyTls,
      ...(options.allowLocal ? {} : { lookup: guardedLookup }),
    });

    timer = setTimeout(() => {
      request.destroy();
      fail(`timeout: no response within ${options.timeoutMs} ms`);
    }, options.timeoutMs);
    function onAbort(): void {
      request.destroy();
      fail("aborted: the forge stopped before the receiver answered", true);
    }
    if (options.signal?.aborted) {
      onAbort();
      return;
    }
    options.signal?.addEventListener("abort", onAbort, { once: true });

    request.on("error", (error: NodeJS.ErrnoException) => {
      if (error instanceof RefusedAddressError) fail(`refused: ${error.message}; ${LOCAL_HINT}`);
      else fail(error.code ? `${error.code}: ${error.message}` : error.message);
    });
    request.on("response", (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = (): void =>
        finish({
          status: response.statusCode ?? null,
          body: options.allowLocal
            ? ""
            : Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BODY).toString("utf8"),
          error: null,
          aborted: false,
        });
      response.on("data", (chunk: Buffer) => {
        if (size < MAX_RESPONSE_BODY) chunks.push(chunk);
        size += chunk.length;
        // Enough kept: stop reading a large body rather than download it.
        if (size >= MAX_RESPONSE_BODY) {
          done();
          response.destroy();
        }
      });
      response.on("end", done);
      response.on("error", done);
      response.on("close", done);
    });
    request.end(options.body);
  });
}
