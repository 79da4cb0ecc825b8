import { constants as fsConstants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { SandboxUnavailableError } from "./errors.ts";

/**
 * The host programs a build needs, found at fixed places (never through the platform's PATH),
 * and what to install when one is missing.
 */

/** The Debian package of each tool, for messages that say how to install it. */
export const TOOL_PACKAGES = {
  bwrap: "bubblewrap",
  slirp4netns: "slirp4netns",
  nft: "nftables",
  prlimit: "util-linux",
  setpriv: "util-linux",
  nsenter: "util-linux",
} as const;

export type SandboxTool = keyof typeof TOOL_PACKAGES;

const SEARCH_PATH = ["/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin", "/sbin"];

const BWRAP_MISSING =
  "Builds run in a bubblewrap sandbox, but bubblewrap (bwrap) is not installed. Install it " +
  "with `apt-get install bubblewrap` (Debian/Ubuntu; `dnf install bubblewrap` on Fedora, " +
  "`apk add bubblewrap` on Alpine). To run build commands without any isolation instead — only " +
  "if every site's build command is trusted — set SLIPWAY_UNSAFE_NO_SANDBOX=true.";

const SLIRP_MISSING =
  "This site's builds have network access, which Slipway gives each build through its own " +
  "network namespace with slirp4netns (the host's own network and services stay out of " +
  "reach), but slirp4netns is not installed. Install it with `apt-get install slirp4netns`, " +
  "or turn the site's build network off if its build needs no downloads.";

const NFT_MISSING =
  "This site's builds have network access, and Slipway keeps each build away from the host's " +
  "own addresses and from private and cloud-metadata networks with an nftables firewall in the " +
  "build's network namespace, but nft is not installed. Install it with " +
  "`apt-get install nftables`, or turn the site's build network off if its build needs no " +
  "downloads.";

const NETWORK_NEEDS_ROOT =
  "This site's builds have network access, which Slipway gives each build through a network " +
  "namespace of its own behind a firewall, set up from the host: that needs Slipway to run as " +
  "root, and it runs as another user. Run it as root, or turn the site's build network off " +
  "(repo.build_network: false) if its build needs no downloads.";

/** The tools that give a build its network (only as root: see findNetworkTools). */
export interface NetworkTools {
  slirp4netns: string;
  nft: string;
  nsenter: string;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** An explicit path, or the first executable `name` on the search path; null when there is none. */
export async function findExecutable(
  name: string,
  explicit: string | undefined,
): Promise<string | null> {
  const candidates = explicit !== undefined ? [explicit] : SEARCH_PATH.map((d) => `${d}/${name}`);
  for (const candidate of candidates) {
    if (await isExecutable(candidate)) return candidate;
  }
  return null;
}

export async function findBwrap(explicit: string | undefined): Promise<string> {
  const bwrap = await findExecutable("bwrap", explicit);
  if (bwrap === null) throw new SandboxUnavailableError(BWRAP_MISSING);
  return bwrap;
}

/** slirp4netns, nft and nsenter, or an error saying how to get them (or do without). */
export async function findNetworkTools(explicit: {
  slirp4netnsPath?: string | undefined;
  nftPath?: string | undefined;
}): Promise<NetworkTools> {
  if (process.getuid?.() !== 0) throw new SandboxUnavailableError(NETWORK_NEEDS_ROOT);
  const slirp4netns = await findExecutable("slirp4netns", explicit.slirp4netnsPath);
  if (slirp4netns === null) throw new SandboxUnavailableError(SLIRP_MISSING);
  const nft = await findExecutable("nft", explicit.nftPath);
  if (nft === null) throw new SandboxUnavailableError(NFT_MISSING);
  const { nsenter } = await findTools(["nsenter"]);
  return { slirp4netns, nft, nsenter };
}

/** util-linux tools on the search path. */
export async function findTools<T extends "prlimit" | "setpriv" | "nsenter">(
  names: readonly T[],
): Promise<Record<T, string>> {
  const found = {} as Record<T, string>;
  for (const name of names) {
    const path = await findExecutable(name, undefined);
    if (path === null) {
      throw new SandboxUnavailableError(
        `The build sandbox needs ${name} from ${TOOL_PACKAGES[name]}, which is not installed: \`apt-get install ${TOOL_PACKAGES[name]}\`.`,
      );
    }
    found[name] = path;
  }
  return found;
}
