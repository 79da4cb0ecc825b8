import { isIPv4, isIPv6 } from "node:net";
import { networkInterfaces } from "node:os";
import { IPV4_RANGES } from "../../../lib/net-guard.ts";
import { run } from "../../../lib/run.ts";
import { SandboxUnavailableError } from "./errors.ts";
import type { NetworkTools } from "./tools.ts";

/**
 * The nftables ruleset of a build's network namespace, loaded from the host before the
 * namespace has any link to the outside. The build cannot change it (no CAP_NET_ADMIN there).
 * Only addresses ever reach the ruleset text: each is checked before it is written.
 */

/** The guest side of slirp4netns's default network (10.0.2.0/24): its DNS forwarder. */
export const SLIRP_DNS = "10.0.2.3";

/** IPv6 ranges a build may not reach (lo is allowed before any of this is looked at). */
const BLOCKED_IPV6 = [
  "::/128", // unspecified
  "::1/128", // loopback: only through lo
  "64:ff9b::/96", // NAT64 to any IPv4 address, private ones included
  "64:ff9b:1::/48", // local-use NAT64
  "fc00::/7", // unique local
  "fe80::/10", // link-local
  "fec0::/10", // site-local (deprecated)
  "ff00::/8", // multicast
] as const;

const ipv4Text = (n: number): string =>
  [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");

/** Every address of the host's interfaces, read at each build: none may lead to the host. */
function hostAddresses(): { ipv4: string[]; ipv6: string[] } {
  const ipv4 = new Set<string>();
  const ipv6 = new Set<string>();
  for (const addresses of Object.values(networkInterfaces())) {
    for (const { address } of addresses ?? []) {
      if (isIPv4(address)) ipv4.add(address);
      else if (isIPv6(address)) ipv6.add(address);
    }
  }
  return { ipv4: [...ipv4], ipv6: [...ipv6] };
}

/**
 * Output only: nothing reaches the build from outside (slirp4netns forwards no ports). Rejected
 * rather than dropped, so a build that tries fails at once instead of hanging until its time
 * limit. The sets auto-merge overlapping ranges (a host address inside a private range,
 * 10.0.2.0/24 inside 10/8).
 */
export function buildFirewallRuleset(host = hostAddresses()): string {
  const ipv4 = [
    "10.0.2.0/24", // slirp's network: 10.0.2.2 is its alias of the host; DNS is let through below
    ...IPV4_RANGES.map(([base, bits]) => `${ipv4Text(base)}/${bits}`),
    ...host.ipv4,
  ];
  const ipv6 = [...BLOCKED_IPV6, ...host.ipv6];
  for (const address of [...host.ipv4, ...host.ipv6]) {
    if (!isIPv4(address) && !isIPv6(address)) throw new Error(`not an address: ${address}`);
  }
  return [
    "table inet slipway_build {",
    "  set blocked_ipv4 {",
    "    type ipv4_addr; flags interval; auto-merge;",
    `    elements = { ${ipv4.join(", ")} }`,
    "  }",
    "  set blocked_ipv6 {",
    "    type ipv6_addr; flags interval; auto-merge;",
    `    elements = { ${ipv6.join(", ")} }`,
    "  }",
    "  chain output {",
    "    type filter hook output priority filter; policy accept;",
    '    oifname "lo" accept',
    `    ip daddr ${SLIRP_DNS} meta l4proto { tcp, udp } th dport 53 accept`,
    "    ip daddr @blocked_ipv4 meta l4proto tcp reject with tcp reset",
    "    ip daddr @blocked_ipv4 reject with icmpx type admin-prohibited",
    "    ip6 daddr @blocked_ipv6 meta l4proto tcp reject with tcp reset",
    "    ip6 daddr @blocked_ipv6 reject with icmpx type admin-prohibited",
    "  }",
    "}",
    "",
  ].join("\n");
}

/** Loads the ruleset into the sandbox's network namespace, from the host (as root). */
export async function installFirewall(
  tools: Pick<NetworkTools, "nft" | "nsenter">,
  sandboxPid: number,
  timeoutMs: number,
): Promise<void> {
  const result = await run(
    tools.nsenter,
    [`--net=/proc/${sandboxPid}/ns/net`, "--", tools.nft, "-f", "-"],
    {
      input: buildFirewallRuleset(),
      stdio: ["pipe", "ignore", "pipe"],
      env: {},
      // The build's exit waits for its network setup: that must not hang on a stuck nft.
      signal: AbortSignal.timeout(timeoutMs),
    },
  );
  if (result.code !== 0) {
    throw new SandboxUnavailableError(
      `could not install the build's firewall with nft: ${result.stderr.trim() || `exit ${result.code ?? result.signal}`}`,
    );
  }
}
