import dns from "node:dns";
import { isIPv4, isIPv6 } from "node:net";
import type { AllowEntry } from "../../../lib/allow-ranges.ts";

/**
 * `SLIPWAY_BUILD_ALLOW_HOSTS`: the host names and CIDRs an operator lets builds reach through the
 * build firewall although they are in a private or reserved range (a company's npm mirror, a
 * registry that resolves into a documentation range). Names are resolved at the start of each
 * build, so a re-pointed name is followed; the firewall still refuses the platform's own
 * addresses and the metadata ranges, whatever is listed (`firewall.ts`).
 */

export const allowEntryText = (entry: AllowEntry): string =>
  entry.kind === "host" ? entry.name : entry.text;

export interface AllowedAddresses {
  ipv4: string[];
  ipv6: string[];
  /** What could not be resolved, for the build's log. */
  notes: string[];
}

type Lookup = (name: string) => Promise<{ address: string; family: number }[]>;

const systemLookup: Lookup = (name) => dns.promises.lookup(name, { all: true, verbatim: true });

/** The addresses the entries stand for now: ranges as they are, names resolved. */
export async function resolveAllowHosts(
  entries: readonly AllowEntry[],
  lookup: Lookup = systemLookup,
): Promise<AllowedAddresses> {
  const ipv4 = new Set<string>();
  const ipv6 = new Set<string>();
  const notes: string[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      if (entry.kind === "range") {
        (entry.family === 4 ? ipv4 : ipv6).add(entry.text);
        return;
      }
      try {
        for (const { address } of await lookup(entry.name)) {
          if (isIPv4(address)) ipv4.add(address);
          else if (isIPv6(address)) ipv6.add(address);
        }
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? String(error);
        notes.push(
          `SLIPWAY_BUILD_ALLOW_HOSTS: ${entry.name} could not be resolved (${code}); this build cannot reach it if it is in a private or reserved range.`,
        );
      }
    }),
  );
  return { ipv4: [...ipv4], ipv6: [...ipv6], notes };
}
