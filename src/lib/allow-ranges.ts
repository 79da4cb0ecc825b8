import { BlockList, isIPv4, isIPv6 } from "node:net";

/**
 * Operator allowlists of host names, addresses and CIDR ranges (`SLIPWAY_BUILD_ALLOW_HOSTS`),
 * and the ranges no allowlist opens: the loopback and slirp4netns's network (both lead to the
 * platform's own machine) and the cloud metadata ranges. Here, below both the configuration and
 * the build firewall, so the configuration can refuse an entry that could never take effect.
 */

export type AllowEntry =
  { kind: "host"; name: string } | { kind: "range"; family: 4 | 6; text: string };

const HOST_NAME =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** One entry: `registry.example.com`, `10.1.2.3`, `10.1.0.0/16`, `fd12::/64`. */
export function parseAllowEntry(raw: string): AllowEntry {
  const entry = raw.trim().toLowerCase().replace(/\.$/, "");
  const [address, bits, extra] = entry.split("/");
  if (extra === undefined && address !== undefined && (isIPv4(address) || isIPv6(address))) {
    const family = isIPv4(address) ? 4 : 6;
    if (bits === undefined) return { kind: "range", family, text: address };
    if (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)) {
      return { kind: "range", family, text: `${address}/${Number(bits)}` };
    }
  } else if (!entry.includes("/") && HOST_NAME.test(entry)) {
    return { kind: "host", name: entry };
  }
  throw new Error(
    `${JSON.stringify(raw)} is neither a host name nor an IP address or CIDR range (such as 10.1.0.0/16)`,
  );
}

/** A comma- or space-separated list. */
export function parseAllowHosts(text: string | undefined): AllowEntry[] {
  return (text ?? "")
    .split(/[\s,]+/)
    .filter((part) => part !== "")
    .map(parseAllowEntry);
}

export type NeverReached = "platform" | "metadata";

/** Ranges no allowlist opens (the machine's own interface addresses are added per build). */
export const NEVER_REACHED: Record<NeverReached, { ipv4: string[]; ipv6: string[] }> = {
  platform: {
    // 10.0.2.0/24 is slirp4netns's network: 10.0.2.2 is its alias of the host
    ipv4: ["127.0.0.0/8", "10.0.2.0/24"],
    ipv6: ["::1/128"],
  },
  metadata: {
    // 169.254.169.254 (AWS, GCP, Azure…) in link-local; Alibaba's; AWS's IPv6 one
    ipv4: ["169.254.0.0/16", "100.100.100.200/32"],
    ipv6: ["fe80::/10", "fd00:ec2::254/128"],
  },
};

/**
 * Which never-reached range an address or range lies wholly in, or null. A wider range that
 * merely holds such addresses is not reported: it is let through with them carved out.
 */
export function neverReachedBy(range: string, family: 4 | 6): NeverReached | null {
  const [address = "", bits] = range.split("/");
  const max = family === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  const type = family === 4 ? "ipv4" : "ipv6";
  for (const kind of ["platform", "metadata"] as const) {
    for (const refused of NEVER_REACHED[kind][family === 4 ? "ipv4" : "ipv6"]) {
      const [base = "", size] = refused.split("/");
      const theirs = size === undefined ? max : Number(size);
      const list = new BlockList();
      list.addSubnet(base, theirs, type);
      if (prefix >= theirs && list.check(address, type)) return kind;
    }
  }
  return null;
}
