import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { addressRefusal } from "../../lib/net-guard.ts";

/**
 * Repository URLs a site may link, and the addresses Slipway may connect to for them.
 *
 * Accepted: `ssh://[user@]host[:port]/path`, scp-style `[user@]host:path` and
 * `https://host[:port]/path`. Everything else is refused with a reason: local paths and
 * `file://` (another tenant's repository on the same disk), `ext::`/`<transport>::` remote helpers
 * (command execution), `git://`/`http://` (no authentication of the server), anything starting
 * with `-` or with a host, user or path segment starting with `-` (git/ssh option injection such
 * as `ssh://-oProxyCommand=…`), credentials in the URL, whitespace and control characters.
 */

export type RepoProtocol = "ssh" | "https";

export interface RepoUrl {
  protocol: RepoProtocol;
  /** The user for ssh (`git` in `git@host:path`), if any. */
  user?: string;
  /** Host name or IP address, IPv6 without brackets. */
  host: string;
  port: number;
  /** The repository path as the server sees it (`owner/repo.git`, `/srv/git/x.git`). */
  path: string;
  /** True for the scp-like form `user@host:path`. */
  scpStyle: boolean;
  /** The URL to hand to git: the input, validated and unchanged. */
  url: string;
}

export class RepoUrlError extends Error {
  override name = "RepoUrlError";
  /** The API field this error is about (a 422 names it). */
  readonly field = "repo_url";
  constructor(
    readonly reason: string,
    readonly input: string,
  ) {
    super(`repo_url is not allowed: ${reason}`);
  }
}

const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const USER = /^[A-Za-z0-9._][A-Za-z0-9._+-]{0,63}$/;
// A path segment: no leading '-', nothing that a shell, ssh or git would treat specially.
const PATH_SEGMENT = /^[A-Za-z0-9._~+@=,][A-Za-z0-9._~+@=,-]*$/;

export function validateRepoUrl(input: string): RepoUrl {
  const fail = (reason: string): never => {
    throw new RepoUrlError(reason, input);
  };
  if (typeof input !== "string" || input.length === 0) fail("it is empty");
  if (input.length > 2048) fail("it is longer than 2048 characters");
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/u.test(input)) fail("it contains whitespace or control characters");
  if (input.startsWith("-")) fail("it starts with '-' (git would read it as an option)");
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(input)) {
    fail("remote helper URLs (<transport>::<address>, such as ext::) are not allowed");
  }

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(input)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (scheme === "file") fail("file:// URLs are not allowed; link a remote repository");
    if (scheme === "ssh" || scheme === "git+ssh" || scheme === "ssh+git") {
      return fromUrl(input, "ssh", 22, fail);
    }
    if (scheme === "https") return fromUrl(input, "https", 443, fail);
    if (scheme === "http" || scheme === "git") {
      fail(`${scheme}:// does not authenticate the server; use https:// or ssh://`);
    }
    fail(`the scheme ${scheme}:// is not supported; use ssh://, user@host:path or https://`);
  }

  // scp-like syntax: git takes it when a ':' comes before any '/'.
  const colon = input.indexOf(":");
  const slash = input.indexOf("/");
  if (colon > 0 && (slash === -1 || colon < slash)) return fromScp(input, fail);
  if (input.startsWith("[")) return fromScp(input, fail);
  return fail("local paths are not allowed; use ssh://, user@host:path or https://");
}

function fromUrl(
  input: string,
  protocol: RepoProtocol,
  defaultPort: number,
  fail: (reason: string) => never,
): RepoUrl {
  // Checked on the raw text too: WHATWG URL parsing would quietly "fix" some of these.
  const authority = /^[^:]+:\/\/([^/?#]*)/.exec(input)?.[1] ?? "";
  if (authority.includes("%")) fail("percent-encoding is not allowed in the host or user");
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return fail("it is not a valid URL");
  }
  if (url.password !== "")
    fail("credentials in the URL are not allowed (they would leak into logs)");
  if (protocol === "https" && url.username !== "") {
    fail("credentials in the URL are not allowed (they would leak into logs)");
  }
  if (url.search !== "" || url.hash !== "" || /[?#]/.test(input)) {
    fail("query strings and fragments are not allowed");
  }
  const user = url.username === "" ? undefined : url.username;
  if (user !== undefined) checkUser(user, fail);
  const host = checkHost(url.hostname, fail);
  const port = url.port === "" ? defaultPort : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail("the port is not valid");
  const rawPath = input.slice(input.indexOf("://") + 3 + authority.length);
  const path = checkPath(rawPath, protocol === "ssh", fail);
  return {
    protocol,
    ...(user !== undefined ? { user } : {}),
    host,
    port,
    path,
    scpStyle: false,
    url: input,
  };
}

function fromScp(input: string, fail: (reason: string) => never): RepoUrl {
  const match = /^(?:([^@/:[\]]+)@)?(\[[0-9A-Fa-f:.]+\]|[^@/:[\]]+):(.*)$/.exec(input);
  if (!match) return fail("it is neither a URL nor user@host:path");
  const [, user, rawHost, rawPath] = match as unknown as [
    string,
    string | undefined,
    string,
    string,
  ];
  if (user !== undefined) checkUser(user, fail);
  const host = checkHost(rawHost.replace(/^\[(.*)\]$/, "$1"), fail);
  if (rawPath === "") fail("the repository path is empty");
  const path = checkPath(rawPath, true, fail);
  return {
    protocol: "ssh",
    ...(user !== undefined ? { user } : {}),
    host,
    port: 22,
    path,
    scpStyle: true,
    url: input,
  };
}

function checkUser(user: string, fail: (reason: string) => never): void {
  if (!USER.test(user)) {
    fail(
      `the user name ${JSON.stringify(user)} is not allowed (letters, digits, . _ + -; not starting with -)`,
    );
  }
}

function checkHost(raw: string, fail: (reason: string) => never): string {
  const host = raw.replace(/^\[(.*)\]$/, "$1");
  if (host === "") return fail("the host is empty");
  if (host.startsWith("-"))
    return fail("the host starts with '-' (ssh would read it as an option)");
  if (isIP(host) !== 0) return host;
  if (host.length > 253) return fail("the host name is too long");
  const labels = host.replace(/\.$/, "").split(".");
  if (!labels.every((label) => HOST_LABEL.test(label))) {
    return fail(`the host ${JSON.stringify(host)} is not a valid host name`);
  }
  return host.replace(/\.$/, "").toLowerCase();
}

function checkPath(raw: string, ssh: boolean, fail: (reason: string) => never): string {
  let path = raw;
  if (path.includes("%") && ssh) fail("percent-encoding is not allowed in ssh paths");
  if (path.includes("\\")) fail("backslashes are not allowed in the path");
  const segments = path.split("/").filter((s, i) => !(s === "" && i === 0));
  if (segments.length === 0 || segments.every((s) => s === ""))
    fail("the repository path is empty");
  for (const [i, segment] of segments.entries()) {
    if (segment === "" && i === segments.length - 1) continue; // trailing slash
    if (segment === "." || segment === "..") fail("'.' and '..' are not allowed in the path");
    // `~` and `~user` (home-relative ssh paths) are fine as the first segment.
    if (i === 0 && ssh && /^~[A-Za-z0-9._-]*$/.test(segment)) continue;
    const plain = ssh ? segment : segment.replace(/%[0-9A-Fa-f]{2}/g, "_");
    if (!PATH_SEGMENT.test(plain)) {
      fail(
        segment.startsWith("-")
          ? "a path segment starts with '-' (git would read it as an option)"
          : `the path segment ${JSON.stringify(segment)} contains characters that are not allowed`,
      );
    }
  }
  if (path.endsWith("/") && path.length > 1) path = path.replace(/\/+$/, "");
  return path;
}

// ---------------------------------------------------------------------------------------------
// Where a connection may go

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
  resolver: (host: string) => Promise<string[]> = defaultResolver,
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

async function defaultResolver(host: string): Promise<string[]> {
  return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
}
