import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import {
  HostNotAllowedError,
  isAllowedHost,
  resolveAllowedAddress,
  type ResolveHost,
} from "../repos/host-guard.ts";
import { ProviderError } from "./types.ts";

/**
 * The one way adapters talk to providers: JSON over HTTP(S) with a time limit and a size
 * limit, the platform's private-address policy checked at connect time (the address checked is
 * the address connected to), no redirects, and no credential ever in an error message.
 */
export interface ProviderRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  body?: unknown;
  /**
   * A file's contents: the answer is kept as text whatever its type (a package.json is not
   * parsed), and one larger than `maxBytes` is refused as `invalid`.
   */
  raw?: { maxBytes: number };
}

export interface ProviderResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or the text when the body is not JSON, or null when empty. */
  body: unknown;
}

export interface ProviderHttp {
  request(request: ProviderRequest): Promise<ProviderResponse>;
}

export interface ProviderHttpOptions {
  resolveHost: ResolveHost;
  /** `SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS`: hosts (or `host:port`) on private networks allowed. */
  allowedPrivateHosts: readonly string[];
  timeoutMs?: number;
  maxResponseBytes?: number;
  userAgent?: string;
}

export function createProviderHttp(options: ProviderHttpOptions): ProviderHttp {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const maxBytes = options.maxResponseBytes ?? 16 * 1024 * 1024;
  return {
    async request(req) {
      const url = new URL(req.url);
      if (url.protocol !== "https:" && url.protocol !== "http:") {
        throw new ProviderError("invalid", `unsupported URL scheme ${url.protocol}`, "use https");
      }
      const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
      const hostname = url.hostname.replace(/^\[|\]$/g, "");
      const policy = (host: string, address: string, p: number) =>
        isAllowedHost(options.allowedPrivateHosts, host, p) ||
        isAllowedHost(options.allowedPrivateHosts, address, p);
      let address: string;
      try {
        address = await resolveAllowedAddress(hostname, port, policy, options.resolveHost);
      } catch (error) {
        if (error instanceof HostNotAllowedError) {
          throw new ProviderError(
            "unavailable",
            error.message.replace("repository host", "provider host"),
            `allow it with SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS=${hostname}:${port} if it is yours`,
          );
        }
        throw error;
      }
      // Connect to the address that was checked, whatever DNS answers next.
      const lookup: LookupFunction = (_host, opts, callback) => {
        const family = address.includes(":") ? 6 : 4;
        if (opts.all) callback(null, [{ address, family }]);
        else callback(null, address, family);
      };
      const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
      const headers: Record<string, string> = {
        accept: "application/json",
        "user-agent": options.userAgent ?? "Slipway",
        ...req.headers,
      };
      if (payload) {
        headers["content-type"] = "application/json";
        headers["content-length"] = String(payload.length);
      }
      const send = url.protocol === "https:" ? httpsRequest : httpRequest;
      return await new Promise<ProviderResponse>((resolve, reject) => {
        const outgoing = send(
          url,
          { method: req.method, headers, lookup, timeout: timeoutMs, servername: hostname },
          (res: IncomingMessage) => {
            const chunks: Buffer[] = [];
            let size = 0;
            const limit = req.raw?.maxBytes ?? maxBytes;
            res.on("data", (chunk: Buffer) => {
              size += chunk.length;
              if (size > limit && req.raw !== undefined && (res.statusCode ?? 0) < 300) {
                res.destroy(
                  new ProviderError(
                    "invalid",
                    `the file is larger than ${limit} bytes`,
                    "Slipway reads only small files (package.json, netlify.toml) through a provider's API",
                  ),
                );
                return;
              }
              if (size > limit) {
                res.destroy(
                  new ProviderError(
                    "unavailable",
                    `${url.host} sent a response larger than ${limit} bytes`,
                    "try again later",
                  ),
                );
                return;
              }
              chunks.push(chunk);
            });
            res.on("error", reject);
            res.on("end", () => {
              const text = Buffer.concat(chunks).toString("utf8");
              let body: unknown = text === "" ? null : text;
              const json = /json/i.test(String(res.headers["content-type"] ?? ""));
              // A raw file's text stays text; a refusal's JSON is still read.
              const okRaw = req.raw !== undefined && (res.statusCode ?? 0) < 300;
              if (text !== "" && json && !okRaw) {
                try {
                  body = JSON.parse(text) as unknown;
                } catch {
                  body = text;
                }
              }
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
            });
          },
        );
        outgoing.on("timeout", () =>
          outgoing.destroy(
            new ProviderError(
              "unavailable",
              `${url.host} did not answer within ${Math.round(timeoutMs / 1000)} s`,
              "check that the provider is reachable from the platform and try again",
            ),
          ),
        );
        outgoing.on("error", (error: NodeJS.ErrnoException) => {
          if (error instanceof ProviderError) reject(error);
          else
            reject(
              new ProviderError(
                "unavailable",
                `could not reach ${url.host}: ${error.code ?? error.message}`,
                "check the connection's base_url and that the provider is reachable from the platform",
              ),
            );
        });
        outgoing.end(payload);
      });
    },
  };
}
