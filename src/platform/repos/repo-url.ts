import { isIP } from "node:net";
import { hasControlCharacters } from "../../lib/text.ts";

/**
 * The one check of repository URLs: when a site links a repository (`settings.ts`) and again
 * right before a build fetches it (`builds/git-fetch.ts`, `builds/runner.ts`). Where the host
 * may be reached is decided separately (`host-guard.ts`).
 *
 * Accepted: `ssh://[user@]host[:port]/path`, scp-style `[user@]host:path` and
 * `https://host[:port]/path`. Everything else is refused with a reason: anything git could read
 * as an option (a leading `-`, or a host, user or path part starting with `-`, as in
 * `ssh://-oProxyCommand=…`), transport helpers (`ext::`, `fd::`: command execution), local
 * repositories (`file:`, `/srv/repo`, `./x`, `~/x`: another tenant's repository on the same
 * disk), transports that do not authenticate the server (`git://`, `http://`) and any other
 * scheme, credentials in the URL, queries and fragments, whitespace and control characters,
 * backslashes, percent-encoding outside https paths, and characters a shell, ssh or git would
 * treat specially. The raw text is checked, not a parsed `URL`, so that git and this check
 * cannot read two different hosts out of one string (`URL` would quietly "fix" `127.1`,
 * backslashes or a trailing dot).
 */

export type RepoProtocol = "ssh" | "https";

/** A repository URL the platform is willing to fetch from, taken apart. */
export interface RepoUrl {
  protocol: RepoProtocol;
  /** The user for ssh (`git` in `git@host:path`), if any. */
  user?: string;
  /** Lower case; an IPv6 address without brackets. */
  host: string;
  /** The port that will be dialled: the explicit one, else 22 (SSH) or 443 (HTTPS). */
  port: number;
  /** The repository path as the server sees it (`owner/repo.git`, `/srv/git/x.git`), without a trailing slash. */
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
    /** Why the URL is refused, fit to follow the field's name in a message. */
    readonly reason: string,
    readonly input: string,
  ) {
    super(`repo_url is not allowed: ${reason}`);
  }
}

const MAX_LENGTH = 2048;
const USER = /^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// A path part: no leading '-', nothing that a shell, ssh or git would treat specially.
const PATH_SEGMENT = /^[A-Za-z0-9._~+@=,][A-Za-z0-9._~+@=,-]*$/;
const HOW = "use ssh://host/path, git@host:path or https://host/path";

type Fail = (reason: string) => never;

/** Quotes user input for a message, shortened so that a huge value cannot flood a response. */
export function quote(value: string, max = 80): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}

/**
 * Checks the syntax of a repository URL before anything is stored or any git command sees it,
 * and takes it apart. Throws a `RepoUrlError` saying why when the URL is refused.
 */
export function validateRepoUrl(input: string): RepoUrl {
  const fail: Fail = (reason) => {
    throw new RepoUrlError(reason, input);
  };
  if (typeof input !== "string" || input === "") fail("must not be empty");
  if (input.length > MAX_LENGTH) fail(`must be at most ${MAX_LENGTH} characters`);
  if (input.startsWith("-")) {
    fail('must not start with "-" (git would read it as a command-line option)');
  }
  const helper = /^([A-Za-z0-9][A-Za-z0-9+.-]*)::/.exec(input);
  if (helper) {
    fail(
      `git remote helpers ("${helper[1]}::") are not allowed: they run commands on the platform; ${HOW}`,
    );
  }
  if (/^file:/i.test(input)) {
    fail(`file:// URLs are not allowed: the platform never builds from its own disk; ${HOW}`);
  }
  if (/^[/.~\\]/.test(input)) {
    fail(`local paths are not allowed: the platform never builds from its own disk; ${HOW}`);
  }
  if (/\s/u.test(input) || hasControlCharacters(input)) {
    fail("must not contain spaces or control characters");
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(input)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (scheme === "ssh") return fromUrl(input, "ssh", fail);
    if (scheme === "https") return fromUrl(input, "https", fail);
    if (scheme === "http") fail("plain http:// is not allowed: use https:// or ssh://");
    if (scheme === "git") {
      fail("git:// is neither authenticated nor encrypted: use ssh:// or https://");
    }
    fail(`the ${scheme}:// transport is not allowed: ${HOW}`);
  }
  // git's rule: `host:path` is scp-style when there is no slash before the first colon.
  const colon = input.indexOf(":");
  const slash = input.indexOf("/");
  if (colon > 0 && (slash === -1 || slash > colon)) return fromScp(input, fail);
  return fail(`is not a repository URL: ${HOW}`);
}

function fromUrl(input: string, protocol: RepoProtocol, fail: Fail): RepoUrl {
  const rest = input.slice(input.indexOf("://") + 3);
  if (rest.includes("\\")) fail("must not contain backslashes");
  if (/[?#]/.test(rest)) fail("must not contain a query (?) or a fragment (#)");
  const slash = rest.indexOf("/");
  let authority = slash === -1 ? rest : rest.slice(0, slash);
  const rawPath = slash === -1 ? "" : rest.slice(slash);
  if (rawPath === "" || rawPath === "/") {
    fail(
      protocol === "ssh"
        ? "must include the repository path after the host (ssh://git@host/owner/repo.git)"
        : "must include the repository path after the host (https://host/owner/repo.git)",
    );
  }
  let user: string | undefined;
  const at = authority.lastIndexOf("@");
  if (at !== -1) {
    if (protocol === "https") {
      fail(
        "must not contain a user name or password: private repositories are read with the site's deploy key, not with credentials in the URL",
      );
    }
    user = authority.slice(0, at);
    authority = authority.slice(at + 1);
    checkUser(user, fail);
  }
  let hostPart = authority;
  let port = protocol === "ssh" ? 22 : 443;
  const portMatch = /^(.*):(\d{1,5})$/.exec(authority);
  if (portMatch && !authority.endsWith("]")) {
    hostPart = portMatch[1] ?? "";
    port = Number(portMatch[2]);
    if (port < 1 || port > 65535) fail(`the port ${port} is not a TCP port`);
  } else if (authority.endsWith(":")) {
    fail("has an empty port after the host");
  }
  const host = checkHost(hostPart, fail);
  const path = checkPath(rawPath, protocol === "ssh", fail);
  try {
    new URL(input);
  } catch {
    fail("is not a valid URL");
  }
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

function fromScp(input: string, fail: Fail): RepoUrl {
  let rest = input;
  let user: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1 && at < rest.indexOf(":")) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    checkUser(user, fail);
  }
  let hostPart: string;
  let rawPath: string;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]:");
    if (close === -1) return fail(`is not a repository URL: ${HOW}`);
    hostPart = rest.slice(0, close + 1);
    rawPath = rest.slice(close + 2);
  } else {
    const colon = rest.indexOf(":");
    hostPart = rest.slice(0, colon);
    rawPath = rest.slice(colon + 1);
  }
  const host = checkHost(hostPart, fail);
  if (rawPath === "") {
    fail("must include the repository path after the colon (git@host:owner/repo.git)");
  }
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

function checkUser(user: string, fail: Fail): void {
  if (user.includes(":")) {
    // Not echoed: the part after the colon is a password.
    fail(
      "must not contain a password: credentials in the URL would leak into logs; ssh repositories are read with the site's deploy key",
    );
  }
  if (user.includes("%")) fail("percent-encoding is not allowed in the user name");
  if (!USER.test(user)) {
    fail(
      `the user name ${quote(user)} is not allowed (letters, digits, . _ -; not starting with -)`,
    );
  }
}

/** A DNS name, a dotted-quad IPv4 address or a bracketed IPv6 address; returns it normalised. */
function checkHost(raw: string, fail: Fail): string {
  if (raw === "") fail("has no host");
  if (raw.startsWith("-")) {
    fail(`the host ${quote(raw)} must not start with "-" (ssh would read it as an option)`);
  }
  if (raw.includes("%")) fail("percent-encoding is not allowed in the host");
  if (raw.startsWith("[")) {
    const inner = raw.slice(1, -1).toLowerCase();
    if (!raw.endsWith("]") || !/^[0-9a-f:.]+$/.test(inner) || isIP(inner) !== 6) {
      fail(`the host ${quote(raw)} is not a valid IPv6 address`);
    }
    return inner;
  }
  const host = raw.toLowerCase();
  if (isIP(host) === 4) return host;
  const labels = host.split(".");
  const last = labels[labels.length - 1] ?? "";
  if (
    host.length > 253 ||
    !labels.every((l) => DNS_LABEL.test(l)) ||
    // No top-level domain is numeric: `127.1`, `2130706433` or `0x7f.1` are addresses in disguise.
    /^(\d+|0x[0-9a-f]*)$/.test(last)
  ) {
    fail(`the host ${quote(raw)} is not a valid host name or IP address`);
  }
  return host;
}

/** Checks every part of the path; returns it without a trailing slash. */
function checkPath(raw: string, ssh: boolean, fail: Fail): string {
  if (raw.includes("\\")) fail("must not contain backslashes");
  if (ssh && raw.includes("%")) fail("percent-encoding is not allowed in ssh paths");
  const segments = raw.split("/").filter((s, i) => !(s === "" && i === 0));
  if (segments.every((s) => s === "")) fail("must include the repository path");
  for (const [i, segment] of segments.entries()) {
    if (segment === "" && i === segments.length - 1) continue; // a trailing slash
    if (segment === "") fail('the path must not contain empty parts ("//")');
    if (segment === "..") fail('the path must not contain ".." segments');
    if (segment === ".") fail('the path must not contain "." segments');
    if (segment.startsWith("-")) {
      fail('no part of the path may start with "-" (git would read it as an option)');
    }
    // https paths may be percent-encoded (`a%20b`); the encoded characters are harmless there.
    const plain = ssh ? segment : segment.replace(/%[0-9A-Fa-f]{2}/g, "_");
    if (!PATH_SEGMENT.test(plain)) {
      fail(`the path part ${quote(segment)} contains characters that are not allowed`);
    }
  }
  return raw.length > 1 ? raw.replace(/\/+$/, "") : raw;
}
