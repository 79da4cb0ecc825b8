import { isIP } from "node:net";
import { isRecord } from "../../../lib/json.ts";
import { run } from "../../../lib/run.ts";
import {
  NEVER_ALLOWED,
  REFUSAL_RULES,
  REFUSAL_WORDS,
  refusedSetName,
  type RefusalRule,
} from "./firewall.ts";
import type { NetworkTools } from "./tools.ts";

/**
 * What the build's firewall refused, said in the build's log in Slipway's words. Each refusing
 * rule adds the destination to a dynamic set of its own (`firewall.ts`); the sets are read once
 * the build has ended, through a handle on its network namespace that the platform kept open
 * (the namespace outlives the sandbox while the handle is open). A set is read rather than
 * nftables' `log` because a log needs a netlink listener inside the namespace for the whole
 * build, and the build's own output would give only `ECONNREFUSED <address>`.
 */

export interface Refusal {
  rule: RefusalRule;
  address: string;
  port: number;
}

/** The refused destinations recorded in the namespace's firewall; [] when they cannot be read. */
export async function readRefusals(
  tools: Pick<NetworkTools, "nft" | "nsenter">,
  netns: number,
): Promise<Refusal[]> {
  const result = await run(
    tools.nsenter,
    ["--net=/proc/self/fd/3", "--", tools.nft, "-j", "list", "table", "inet", "slipway_build"],
    {
      stdio: ["ignore", "pipe", "pipe", netns],
      env: {},
      signal: AbortSignal.timeout(10_000),
    },
  ).catch(() => undefined);
  if (result?.code !== 0) return [];
  try {
    return parseRefusals(JSON.parse(result.stdout) as unknown);
  } catch {
    return [];
  }
}

/** The elements of the `refused_*` sets in `nft -j list table` output. */
export function parseRefusals(json: unknown): Refusal[] {
  const refusals: Refusal[] = [];
  const items = isRecord(json) && Array.isArray(json.nftables) ? json.nftables : [];
  for (const item of items) {
    const set = isRecord(item) && isRecord(item.set) ? item.set : undefined;
    if (set === undefined || !Array.isArray(set.elem)) continue;
    const rule = REFUSAL_RULES.find(
      (r) => set.name === refusedSetName(r, 4) || set.name === refusedSetName(r, 6),
    );
    if (rule === undefined) continue;
    for (const elem of set.elem) {
      // `{concat: [address, port]}`, wrapped in `{elem: {val: …}}` when elements carry options.
      const value = isRecord(elem) && isRecord(elem.elem) ? elem.elem.val : elem;
      const concat = isRecord(value) && Array.isArray(value.concat) ? value.concat : [];
      const [address, port] = concat;
      if (typeof address === "string" && isIP(address) !== 0 && typeof port === "number") {
        refusals.push({ rule, address, port });
      }
    }
  }
  return refusals;
}

/** One log line per refused destination. */
export function describeRefusal({ rule, address, port }: Refusal): string {
  const where = address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
  const refused = `The build's firewall refused a connection to ${where}: it is ${REFUSAL_WORDS[rule]}`;
  return NEVER_ALLOWED.includes(rule)
    ? `${refused}, which builds never reach.`
    : `${refused}, which builds may not reach unless the platform's operator lists it (a host name or a CIDR range) in SLIPWAY_BUILD_ALLOW_HOSTS — as for a private package registry or mirror.`;
}

/** At most this many refusals are written out; the rest are counted. */
const REFUSALS_SHOWN = 10;

/** The log lines for a build's refusals. */
export function refusalLines(refusals: readonly Refusal[]): string[] {
  const lines = refusals.slice(0, REFUSALS_SHOWN).map(describeRefusal);
  if (refusals.length > REFUSALS_SHOWN) {
    lines.push(
      `The build's firewall refused ${refusals.length - REFUSALS_SHOWN} more destination(s).`,
    );
  }
  return lines;
}
