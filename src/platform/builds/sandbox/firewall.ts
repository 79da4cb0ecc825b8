import { isIPv4, isIPv6 } from "node:net";
import { networkInterfaces } from "node:os";
import { NEVER_REACHED } from "../../../lib/allow-ranges.ts";
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

/**
 * Why a destination is refused, in the order the firewall looks: the platform's own addresses
 * and the metadata ranges first (never reachable, whatever the operator lists), then the
 * operator's allowlist (`SLIPWAY_BUILD_ALLOW_HOSTS`), then the private and reserved ranges.
 */
export type RefusalRule = "platform" | "metadata" | "private" | "reserved";

export const REFUSAL_RULES: readonly RefusalRule[] = [
  "platform",
  "metadata",
  "private",
  "reserved",
];

/** Each rule in the words of the build's log. */
export const REFUSAL_WORDS: Record<RefusalRule, string> = {
  platform: "the platform's own address",
  metadata: "a cloud metadata / link-local range",
  private: "a private range",
  reserved: "a documentation/reserved range",
};

/** Rules the allowlist cannot open. */
export const NEVER_ALLOWED: readonly RefusalRule[] = ["platform", "metadata"];

const RULE_OF_IPV4_REASON: Record<string, RefusalRule> = {
  "a loopback address": "platform",
  "a link-local address": "metadata",
  "a private address": "private",
  "a shared (CGNAT) address": "private",
};

/** Ranges by rule; the host's own addresses are added per build. */
const IPV4: Record<RefusalRule, string[]> = {
  platform: [...NEVER_REACHED.platform.ipv4], // DNS to slirp's forwarder is let through first
  metadata: [...NEVER_REACHED.metadata.ipv4],
  private: [],
  reserved: [],
};
for (const [base, bits, reason] of IPV4_RANGES) {
  const rule = RULE_OF_IPV4_REASON[reason] ?? "reserved";
  // loopback and link-local are in the never-reached lists already
  if (rule !== "platform" && rule !== "metadata") IPV4[rule].push(`${ipv4Text(base)}/${bits}`);
}

const IPV6: Record<RefusalRule, string[]> = {
  platform: [...NEVER_REACHED.platform.ipv6], // loopback: only through lo
  metadata: [...NEVER_REACHED.metadata.ipv6],
  private: [
    "fc00::/7", // unique local
    "64:ff9b:1::/48", // local-use NAT64
  ],
  reserved: [
    "::/128", // unspecified
    "64:ff9b::/96", // NAT64 to any IPv4 address, private ones included
    "fec0::/10", // site-local (deprecated)
    "ff00::/8", // multicast
  ],
};

function ipv4Text(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

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

/** An address or CIDR range, checked before it is written into the ruleset. */
function checkedRange(text: string, family: 4 | 6): string {
  const [address = "", bits, extra] = text.split("/");
  const ok =
    (family === 4 ? isIPv4(address) : isIPv6(address)) &&
    extra === undefined &&
    (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)));
  if (!ok) throw new Error(`not an address: ${text}`);
  return text;
}

/** The name of the dynamic set that records destinations refused by `rule`. */
export const refusedSetName = (rule: RefusalRule, family: 4 | 6): string =>
  `refused_${rule}_ipv${family}`;

const REFUSED_SET_SIZE = 256;

function set(name: string, type: string, elements: readonly string[]): string[] {
  return [
    `  set ${name} {`,
    `    type ${type}; flags interval; auto-merge;`,
    ...(elements.length > 0 ? [`    elements = { ${elements.join(", ")} }`] : []),
    "  }",
  ];
}

/** Records the destination (address and port), then refuses it. */
function refuse(rule: RefusalRule, family: 4 | 6): string[] {
  const match = family === 4 ? `ip daddr @${rule}_ipv4` : `ip6 daddr @${rule}_ipv6`;
  const daddr = family === 4 ? "ip daddr" : "ip6 daddr";
  return [
    `    ${match} meta l4proto { tcp, udp } add @${refusedSetName(rule, family)} { ${daddr} . th dport }`,
    `    ${match} meta l4proto tcp reject with tcp reset`,
    `    ${match} reject with icmpx type admin-prohibited`,
  ];
}

/**
 * Output only: nothing reaches the build from outside (slirp4netns forwards no ports). Rejected
 * rather than dropped, so a build that tries fails at once instead of hanging until its time
 * limit; each refused destination is recorded in a set of its rule, which the platform reads
 * when the build ends (`refusals.ts`) to say in the log what was refused and why. The sets
 * auto-merge overlapping ranges (a host address inside a private range).
 */
export function buildFirewallRuleset(
  host = hostAddresses(),
  allowed: { ipv4: readonly string[]; ipv6: readonly string[] } = { ipv4: [], ipv6: [] },
): string {
  const ranges = {
    4: { ...IPV4, platform: [...IPV4.platform, ...host.ipv4.map((a) => checkedRange(a, 4))] },
    6: { ...IPV6, platform: [...IPV6.platform, ...host.ipv6.map((a) => checkedRange(a, 6))] },
  };
  const allow = {
    4: allowed.ipv4.map((a) => checkedRange(a, 4)),
    6: allowed.ipv6.map((a) => checkedRange(a, 6)),
  };
  const lines = ["table inet slipway_build {"];
  for (const family of [4, 6] as const) {
    const type = family === 4 ? "ipv4_addr" : "ipv6_addr";
    for (const rule of REFUSAL_RULES) {
      lines.push(...set(`${rule}_ipv${family}`, type, ranges[family][rule]));
      lines.push(
        `  set ${refusedSetName(rule, family)} {`,
        `    type ${type} . inet_service; size ${REFUSED_SET_SIZE}; flags dynamic;`,
        "  }",
      );
    }
    lines.push(...set(`allowed_ipv${family}`, type, allow[family]));
  }
  lines.push(
    "  chain output {",
    "    type filter hook output priority filter; policy accept;",
    '    oifname "lo" accept',
    `    ip daddr ${SLIRP_DNS} meta l4proto { tcp, udp } th dport 53 accept`,
  );
  for (const family of [4, 6] as const) {
    for (const rule of NEVER_ALLOWED) lines.push(...refuse(rule, family));
  }
  lines.push("    ip daddr @allowed_ipv4 accept", "    ip6 daddr @allowed_ipv6 accept");
  for (const family of [4, 6] as const) {
    for (const rule of REFUSAL_RULES) {
      if (!NEVER_ALLOWED.includes(rule)) lines.push(...refuse(rule, family));
    }
  }
  lines.push("  }", "}", "");
  return lines.join("\n");
}

/**
 * Loads the ruleset into the build's network namespace, from the host (as root). `netns` is an
 * open handle on the namespace: it is passed to nsenter as its fd 3.
 */
export async function installFirewall(
  tools: Pick<NetworkTools, "nft" | "nsenter">,
  netns: number,
  timeoutMs: number,
  allowed?: { ipv4: readonly string[]; ipv6: readonly string[] },
): Promise<void> {
  const result = await run(tools.nsenter, ["--net=/proc/self/fd/3", "--", tools.nft, "-f", "-"], {
    input: buildFirewallRuleset(undefined, allowed),
    stdio: ["pipe", "ignore", "pipe", netns],
    env: {},
    // The build's exit waits for its network setup: that must not hang on a stuck nft.
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (result.code !== 0) {
    throw new SandboxUnavailableError(
      `could not install the build's firewall with nft: ${result.stderr.trim() || `exit ${result.code ?? result.signal}`}`,
    );
  }
}
