import type { PlatformConfig } from "../../config.ts";

/**
 * The URLs of a custom domain: plain HTTP on the public HTTP port (the API's port unless
 * `SLIPWAY_HTTP_PORT` is set), HTTPS on the HTTPS listener's; default ports are left out.
 * The config is the live one, so ports chosen at start (port 0) are the real ones.
 */
export function domainUrls(
  config: Pick<PlatformConfig, "port" | "domains">,
  domain: string,
): { http: string; https: string | null } {
  const httpPort = config.domains?.httpPort ?? config.port;
  const httpsPort = config.domains?.httpsPort ?? null;
  return {
    http: `http://${domain}${httpPort === 80 ? "" : `:${httpPort}`}`,
    https:
      httpsPort === null ? null : `https://${domain}${httpsPort === 443 ? "" : `:${httpsPort}`}`,
  };
}
