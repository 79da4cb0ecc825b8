import dns from "node:dns";
import { isIP, type LookupFunction } from "node:net";

/**
 * Keeps outbound requests (webhooks) away from the machine itself and its private networks.
 * The check belongs at connect time: `lookup` resolves the name and refuses private answers, so a
 * name that resolves differently later (DNS rebinding) is checked again on every connection.
 * Node skips `lookup` for IP-literal hosts, so callers also run `refusalForHost` before connecting.
 */

/** Why an address is not public ("a loopback address"), or null when it is public. */
export function addressRefusal(ip: string): string | null {
  const address = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
  const ipv4 = parseIpv4(address);
  if (ipv4 !== null) return ipv4Refusal(ipv4);
  const ipv6 = parseIpv6(address);
  if (ipv6 !== null) return ipv6Refusal(ipv6);
  return "not an IP address";
}

/**
 * True for loopback, RFC 1918, link-local, CGNAT, unique-local, unspecified, multicast and other
 * non-routable addresses, IPv4-mapped/NAT64/6to4 forms of those, and anything that is not an IP
 * address at all (fail closed).
 */
export function isPrivateAddress(ip: string): boolean {
  return addressRefusal(ip) !== null;
}

/** Thrown (or passed to the lookup callback) when a connection would reach a private address. */
export class RefusedAddressError extends Error {
  override name = "RefusedAddressError";
  readonly code = "ERR_ADDRESS_REFUSED";

  constructor(
    readonly address: string,
    readonly reason: string,
  ) {
    super(`${address} is ${reason}`);
  }
}

/**
 * For a URL's host name: the refusal when it is an IP literal (or `localhost`) that is not
 * public, null otherwise. Names are checked later, when `lookup` resolves them.
 */
export function refusalForHost(hostname: string): RefusedAddressError | null {
  const host =
    hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  const lower = host.toLowerCase().replace(/\.$/, "");
  if (lower === "localhost" || lower.endsWith(".localhost")) {
    return new RefusedAddressError(host, "a loopback address");
  }
  if (isIP(host) === 0) return null;
  const reason = addressRefusal(host);
  return reason === null ? null : new RefusedAddressError(host, reason);
}

type Resolver = (
  hostname: string,
  options: dns.LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
) => void;

/**
 * A `lookup` for `http.request` / `net.connect` that resolves the name and refuses the connection
 * when any answer is a private address. `resolve` is `dns.lookup` unless a test passes another.
 */
export function createGuardedLookup(resolve: Resolver = dns.lookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) {
        callback(err, "", undefined);
        return;
      }
      const first = addresses[0];
      if (first === undefined) {
        const notFound: NodeJS.ErrnoException = new Error(`${hostname} has no address`);
        notFound.code = "ENOTFOUND";
        callback(notFound, "", undefined);
        return;
      }
      for (const { address } of addresses) {
        const reason = addressRefusal(address);
        if (reason !== null) {
          callback(new RefusedAddressError(address, reason), "", undefined);
          return;
        }
      }
      if (options.all) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}

/** The guarded lookup over the system resolver. */
export const lookup: LookupFunction = createGuardedLookup();

// --- address parsing and classification ---

function parseIpv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    value = value * 256 + n;
  }
  return value;
}

/** Eight 16-bit groups, or null. Accepts `::`, an embedded dotted IPv4 tail and a `%zone`. */
function parseIpv6(text: string): number[] | null {
  const address = text.replace(/%[^%]+$/, "");
  if (!/^[0-9a-fA-F:.]+$/.test(address) || !address.includes(":")) return null;
  const halves = address.split("::");
  if (halves.length > 2) return null;
  const parseHalf = (half: string): number[] | null => {
    if (half === "") return [];
    const groups: number[] = [];
    const pieces = half.split(":");
    for (const [i, piece] of pieces.entries()) {
      if (piece.includes(".")) {
        if (i !== pieces.length - 1) return null;
        const ipv4 = parseIpv4(piece);
        if (ipv4 === null) return null;
        groups.push(Math.floor(ipv4 / 65536), ipv4 % 65536);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return null;
        groups.push(parseInt(piece, 16));
      }
    }
    return groups;
  };
  const head = parseHalf(halves[0] ?? "");
  const tail = halves.length === 2 ? parseHalf(halves[1] ?? "") : [];
  if (head === null || tail === null) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  if (head.length + tail.length > 7) return null;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

const v4 = (a: number, b: number, c: number, d: number): number =>
  ((a * 256 + b) * 256 + c) * 256 + d;

/** [first address, prefix length, reason]; the build sandbox's firewall blocks the same list. */
export const IPV4_RANGES: ReadonlyArray<readonly [number, number, string]> = [
  [v4(0, 0, 0, 0), 8, "an unspecified address"],
  [v4(10, 0, 0, 0), 8, "a private address"],
  [v4(100, 64, 0, 0), 10, "a shared (CGNAT) address"],
  [v4(127, 0, 0, 0), 8, "a loopback address"],
  [v4(169, 254, 0, 0), 16, "a link-local address"],
  [v4(172, 16, 0, 0), 12, "a private address"],
  [v4(192, 0, 0, 0), 24, "a reserved address"],
  [v4(192, 0, 2, 0), 24, "a documentation address"],
  [v4(192, 168, 0, 0), 16, "a private address"],
  [v4(198, 18, 0, 0), 15, "a reserved address"],
  [v4(198, 51, 100, 0), 24, "a documentation address"],
  [v4(203, 0, 113, 0), 24, "a documentation address"],
  [v4(224, 0, 0, 0), 4, "a multicast address"],
  [v4(240, 0, 0, 0), 4, "a reserved address"],
];

function ipv4Refusal(address: number): string | null {
  for (const [base, bits, reason] of IPV4_RANGES) {
    const size = 2 ** (32 - bits);
    if (address >= base && address < base + size) return reason;
  }
  return null;
}

function ipv6Refusal(g: number[]): string | null {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const embedded = g6 * 65536 + g7;
  const firstFiveZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (firstFiveZero && g5 === 0 && g6 === 0) {
    if (g7 === 0) return "an unspecified address";
    if (g7 === 1) return "a loopback address";
  }
  // ::ffff:a.b.c.d (IPv4-mapped) and the deprecated ::a.b.c.d (IPv4-compatible)
  if (firstFiveZero && (g5 === 0xffff || g5 === 0)) {
    return ipv4Refusal(embedded) ?? (g5 === 0 ? "a reserved address" : null);
  }
  // 64:ff9b::/96, the well-known NAT64 prefix, reaches the embedded IPv4 address
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return ipv4Refusal(embedded);
  }
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return "a private address"; // local-use NAT64
  // 2002::/16 (6to4) carries an IPv4 address in bits 16-47
  if (g0 === 0x2002) return ipv4Refusal(g1 * 65536 + g2);
  if ((g0 & 0xfe00) === 0xfc00) return "a unique local address";
  if ((g0 & 0xffc0) === 0xfe80) return "a link-local address";
  if ((g0 & 0xffc0) === 0xfec0) return "a site-local address";
  if ((g0 & 0xff00) === 0xff00) return "a multicast address";
  if (g0 === 0x2001 && g1 === 0x0db8) return "a documentation address";
  if (g0 === 0x0100 && g1 === 0 && g2 === 0 && g3 === 0) return "a reserved address"; // discard
  return null;
}
