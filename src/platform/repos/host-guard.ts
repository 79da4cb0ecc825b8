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

// ---------------------------------------------------------------------------------------------
// Where a connection may go, decided right before connecting (builds/git-fetch.ts)

/**
 * Decides whether a host that resolves to a non-public address may be contacted anyway (the
 * administrator's allow-list; `slipway start` allows the built-in forge's own address).
 */
export type PrivateNetworkPolicy =
  boolean | ((host: string, address: string, port: number) => boolean);

export class HostNotAllowedError extends Error {
  override name = "HostNotAllowedError";
  constructor(
    readonly host: string,
    readonly address: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Resolves `host` and returns the address to connect to, right before connecting. Refuses hosts
 * that resolve only to non-public addresses (lib/net-guard's classification) unless `policy`
 * allows it. Callers connect to the returned address (not to
 * the name again), so DNS rebinding between the check and the connection is impossible.
 */
export async function resolveAllowedAddress(
  host: string,
  port: number,
  policy: PrivateNetworkPolicy = false,
  resolver: ResolveHost = systemResolver,
): Promise<string> {
  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = await resolver(host);
    } catch (error) {
      throw new HostNotAllowedError(
        host,
        undefined,
        `Could not resolve the host name ${host} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). Check the repository URL and the platform's DNS.`,
      );
    }
  }
  if (addresses.length === 0) {
    throw new HostNotAllowedError(host, undefined, `The host name ${host} has no addresses.`);
  }
  // A public address first; a non-public one only if the policy allows it.
  const publicAddress = addresses.find((a) => addressRefusal(a) === null);
  if (publicAddress !== undefined) return publicAddress;
  for (const address of addresses) {
    if (typeof policy === "function" ? policy(host, address, port) : policy) return address;
  }
  const address = addresses[0]!;
  const what =
    address === host
      ? `is ${addressRefusal(address)}`
      : `resolves to ${address}, ${addressRefusal(address)}`;
  throw new HostNotAllowedError(
    host,
    address,
    `The repository host ${host} ${what} (a loopback, private or link-local address). Slipway ` +
      "does not connect there unless the platform's administrator allows this host " +
      "(SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS): a linked repository must not reach internal services.",
  );
}
