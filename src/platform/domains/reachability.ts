import { randomBytes } from "node:crypto";
import { Resolver } from "node:dns/promises";
import { request } from "node:http";
import { isIP } from "node:net";
import { addressRefusal } from "../../lib/net-guard.ts";
import type { PlatformContext } from "../context.ts";
import { CHALLENGE_PREFIX, putChallenge, removeChallenge } from "./challenges.ts";

/**
 * Before an order is placed: does the domain reach this Slipway? Its A/AAAA records are read with
 * the configured resolvers (`SLIPWAY_DNS_SERVERS`, the system's by default), then a token Slipway
 * serves itself is fetched over the domain, on the port the CA will use (CapRover's check).
 * When it fails, the answer says which DNS record to create instead of burning the CA's limits.
 *
 * The probe is an outgoing request, so it passes the address guard: a domain that resolves to a
 * loopback or private address is not fetched unless that address is one of this Slipway's own
 * (`SLIPWAY_PUBLIC_ADDRESSES`).
 */

export type Reachability = { ok: true; addresses: string[] } | { ok: false; reason: string };

export interface ReachabilityOptions {
  dnsServers: readonly string[];
  publicAddresses: readonly string[];
  /** The port the CA fetches http-01 on (80, or the test's). */
  port: number;
  timeoutMs?: number;
}

const resolverLabel = (servers: readonly string[]): string =>
  servers.length === 0 ? "the system's resolvers" : `the resolvers ${servers.join(", ")}`;

/** Every A and AAAA address of `domain` as the configured resolvers see it. */
export async function resolveDomain(
  domain: string,
  servers: readonly string[],
): Promise<{ addresses: string[]; error?: string }> {
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  if (servers.length > 0) resolver.setServers([...servers]);
  const results = await Promise.allSettled([resolver.resolve4(domain), resolver.resolve6(domain)]);
  const addresses: string[] = [];
  let error: string | undefined;
  for (const result of results) {
    if (result.status === "fulfilled") addresses.push(...result.value);
    else {
      const code = (result.reason as NodeJS.ErrnoException).code;
      if (code !== "ENOTFOUND" && code !== "ENODATA") error = code ?? String(result.reason);
    }
  }
  return error === undefined ? { addresses } : { addresses, error };
}

function pointAdvice(domain: string, publicAddresses: readonly string[]): string {
  const v4 = publicAddresses.filter((a) => isIP(a) === 4);
  const v6 = publicAddresses.filter((a) => isIP(a) === 6);
  if (v4.length === 0 && v6.length === 0) {
    return `point an A record for ${domain} at this server's public IPv4 address (and an AAAA record at its IPv6 address, if it has one); set SLIPWAY_PUBLIC_ADDRESSES so that Slipway can name it`;
  }
  const parts = [
    ...(v4.length ? [`an A record for ${domain} at ${v4.join(", ")}`] : []),
    ...(v6.length ? [`an AAAA record for ${domain} at ${v6.join(", ")}`] : []),
  ];
  return `point ${parts.join(" and ")}`;
}

/** Checks that `domain` reaches this Slipway; never throws. */
export async function checkReachability(
  ctx: Pick<PlatformContext, "db" | "now">,
  domain: string,
  options: ReachabilityOptions,
): Promise<Reachability> {
  const advice = pointAdvice(domain, options.publicAddresses);
  const resolved = await resolveDomain(domain, options.dnsServers);
  if (resolved.addresses.length === 0) {
    return {
      ok: false,
      reason:
        resolved.error !== undefined
          ? `${domain} could not be resolved (${resolved.error} from ${resolverLabel(options.dnsServers)}); ${advice}, and check that its DNS servers answer`
          : `${domain} does not resolve (no A or AAAA record, asked ${resolverLabel(options.dnsServers)}); ${advice}. No certificate was requested; Slipway checks again later`,
    };
  }
  const own = new Set(options.publicAddresses.map((a) => a.toLowerCase()));
  const now = resolved.addresses.join(", ");
  if (own.size > 0 && !resolved.addresses.some((a) => own.has(a.toLowerCase()))) {
    return {
      ok: false,
      reason: `${domain} does not point at this Slipway: ${advice}; it resolves to ${now} now. No certificate was requested; Slipway checks again later`,
    };
  }
  const token = `slipway-probe-${randomBytes(18).toString("base64url")}`;
  const answer = randomBytes(24).toString("base64url");
  await putChallenge(ctx.db, {
    token,
    keyAuthorization: answer,
    domain,
    ttlMs: 120_000,
    now: ctx.now(),
  });
  try {
    const failures: string[] = [];
    for (const address of resolved.addresses) {
      const refusal = own.has(address.toLowerCase()) ? null : addressRefusal(address);
      if (refusal !== null) {
        failures.push(`${address} is ${refusal}, which Slipway does not fetch`);
        continue;
      }
      const got = await fetchToken(address, domain, options.port, token, options.timeoutMs ?? 5000);
      if (got.body === answer) return { ok: true, addresses: resolved.addresses };
      failures.push(
        `${address} answered ${got.error ?? `HTTP ${got.status} without Slipway's token`}`,
      );
    }
    return {
      ok: false,
      reason: `${domain} resolves to ${now}, but http://${domain}${options.port === 80 ? "" : `:${options.port}`}${CHALLENGE_PREFIX}… did not reach this Slipway (${failures.join("; ")}); ${advice}. If a proxy or CDN is in front, it must pass ${CHALLENGE_PREFIX} through to Slipway over plain HTTP. No certificate was requested; Slipway checks again later`,
    };
  } finally {
    await removeChallenge(ctx.db, token);
  }
}

/** GET the probe from one address with the domain as Host; no redirects, a small body cap. */
function fetchToken(
  address: string,
  domain: string,
  port: number,
  token: string,
  timeoutMs: number,
): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: address,
        port,
        path: `${CHALLENGE_PREFIX}${token}`,
        method: "GET",
        headers: {
          host: port === 80 ? domain : `${domain}:${port}`,
          "user-agent": "Slipway domain check",
        },
        timeout: timeoutMs,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
          if (body.length > 4096) res.destroy();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
        res.on("error", (error) => resolve({ error: error.message }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (error: NodeJS.ErrnoException) =>
      resolve({
        error:
          error.code === "ECONNREFUSED"
            ? `nothing listens on port ${port} (connection refused)`
            : error.message,
      }),
    );
    req.end();
  });
}
