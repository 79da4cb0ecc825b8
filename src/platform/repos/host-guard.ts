import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { addressRefusal } from "../../lib/net-guard.ts";

/** All addresses a host name resolves to (an IP literal resolves to itself). */
export type ResolveHost = (host: string) => Promise<string[]>;

/** The system resolver (getaddrinfo, so /etc/hosts counts), every address of every family. */
export const systemResolver: ResolveHost = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** Whether `host`:`port` is on the administrator's allow-list (`host` or `host:port` entries). */
export function isAllowedHost(allowed: readonly string[], host: string, port: number): boolean {
  const name = isIP(host) === 6 ? `[${host}]` : host.toLowerCase();
  return allowed.includes(name) || allowed.includes(`${name}:${port}`);
}

export type HostCheck = { ok: true; addresses: string[] } | { ok: false; reason: string };

/**
 * Refuses a repository host that is, or resolves to, a loopback, private, link-local or other
 * non-public address, unless the administrator allowed it (`SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS`,
 * by the name as written or by each private address it resolves to). Run it when settings are
 * saved and again right before connecting (names can be re-pointed). A name that does not
 * resolve now passes (`addresses` is empty): DNS may be down, and the connect-time check
 * decides.
 */
export async function checkRepoHost(
  options: { resolve: ResolveHost; allowed: readonly string[] },
  host: string,
  port: number,
): Promise<HostCheck> {
  if (isAllowedHost(options.allowed, host, port)) return { ok: true, addresses: [] };
  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = await options.resolve(host);
    } catch {
      return { ok: true, addresses: [] };
    }
  }
  for (const address of addresses) {
    const problem = addressRefusal(address);
    if (problem === null || isAllowedHost(options.allowed, address, port)) continue;
    const entry = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
    const what = address === host ? `is ${problem}` : `resolves to ${address}, ${problem}`;
    return {
      ok: false,
      reason: `the host ${host} ${what}; repositories on loopback or private networks must be allowed by the platform's administrator (SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS=${entry})`,
    };
  }
  return { ok: true, addresses };
}
