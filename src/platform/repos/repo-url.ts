import { isIP } from "node:net";

/** A repository URL the platform is willing to fetch from, taken apart. */
export interface RepoUrl {
  /** `ssh://user@host:port/path`, `user@host:path` (scp-style) or `https://host/path`. */
  kind: "ssh" | "scp" | "https";
  user: string | undefined;
  /** Lower case; an IPv6 address without brackets. */
  host: string;
  /** The port that will be dialled: the explicit one, else 22 (SSH) or 443 (HTTPS). */
  port: number;
  path: string;
}

export type RepoUrlCheck = { ok: true; url: RepoUrl } | { ok: false; reason: string };

const MAX_LENGTH = 2048;
const USER = /^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const HOW = "use ssh://host/path, git@host:path or https://host/path";

const refuse = (reason: string): RepoUrlCheck => ({ ok: false, reason });

/** Quotes user input for a message, shortened so that a huge value cannot flood a response. */
export function quote(value: string, max = 80): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}

/**
 * Checks the syntax of a repository URL before anything is stored or any git command sees it.
 * Only SSH (URL or scp-style) and HTTPS are accepted; everything git could read as an option, a
 * transport helper (`ext::`), a local repository (`file://`, `/srv/repo`) or an unauthenticated
 * transport is refused, as are credentials in the URL. Hosts are checked strictly here, and
 * their addresses separately (`host-guard.ts`).
 */
export function parseRepoUrl(input: string): RepoUrlCheck {
  if (input === "") return refuse("must not be empty");
  if (input.length > MAX_LENGTH) return refuse(`must be at most ${MAX_LENGTH} characters`);
  if (input.startsWith("-")) {
    return refuse('must not start with "-" (git would read it as a command-line option)');
  }
  const helper = /^([A-Za-z0-9][A-Za-z0-9+.-]*)::/.exec(input);
  if (helper) {
    return refuse(
      `git remote helpers ("${helper[1]}::") are not allowed: they run commands on the platform; ${HOW}`,
    );
  }
  if (/^file:/i.test(input)) {
    return refuse(
      `file:// URLs are not allowed: the platform never builds from its own disk; ${HOW}`,
    );
  }
  if (/^[/.~\\]/.test(input)) {
    return refuse(
      `local paths are not allowed: the platform never builds from its own disk; ${HOW}`,
    );
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f]/.test(input)) return refuse("must not contain spaces or control characters");
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(input)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (scheme === "ssh") return parseSshUrl(input);
    if (scheme === "https") return parseHttpsUrl(input);
    if (scheme === "http") return refuse("plain http:// is not allowed: use https:// or ssh://");
    if (scheme === "git") {
      return refuse("git:// is neither authenticated nor encrypted: use ssh:// or https://");
    }
    return refuse(`the ${scheme}:// transport is not allowed: ${HOW}`);
  }
  // git's rule: `host:path` is scp-style when there is no slash before the first colon.
  const colon = input.indexOf(":");
  const slash = input.indexOf("/");
  if (colon > 0 && (slash === -1 || slash > colon)) return parseScpUrl(input);
  return refuse(`is not a repository URL: ${HOW}`);
}

function parseSshUrl(input: string): RepoUrlCheck {
  const rest = input.slice("ssh://".length);
  const slash = rest.indexOf("/");
  if (slash === -1 || slash === rest.length - 1) {
    return refuse(
      "must include the repository path after the host (ssh://git@host/owner/repo.git)",
    );
  }
  let authority = rest.slice(0, slash);
  const path = rest.slice(slash);
  let user: string | undefined;
  const at = authority.lastIndexOf("@");
  if (at !== -1) {
    user = authority.slice(0, at);
    authority = authority.slice(at + 1);
    if (!USER.test(user)) return refuse(`the user name ${quote(user)} is not allowed`);
  }
  let hostPart = authority;
  let port = 22;
  const portMatch = /^(.*):(\d{1,5})$/.exec(authority);
  if (portMatch && !authority.endsWith("]")) {
    hostPart = portMatch[1] ?? "";
    port = Number(portMatch[2]);
    if (port < 1 || port > 65535) return refuse(`the port ${port} is not a TCP port`);
  } else if (authority.endsWith(":")) {
    return refuse("has an empty port after the host");
  }
  const host = checkHost(hostPart);
  if (typeof host !== "string") return host;
  const pathProblem = checkPath(path);
  if (pathProblem) return refuse(pathProblem);
  return { ok: true, url: { kind: "ssh", user, host, port, path } };
}

function parseScpUrl(input: string): RepoUrlCheck {
  let rest = input;
  let user: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1 && at < rest.indexOf(":")) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (!USER.test(user)) return refuse(`the user name ${quote(user)} is not allowed`);
  }
  let hostPart: string;
  let path: string;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]:");
    if (close === -1) return refuse(`is not a repository URL: ${HOW}`);
    hostPart = rest.slice(0, close + 1);
    path = rest.slice(close + 2);
  } else {
    const colon = rest.indexOf(":");
    hostPart = rest.slice(0, colon);
    path = rest.slice(colon + 1);
  }
  const host = checkHost(hostPart);
  if (typeof host !== "string") return host;
  if (path === "")
    return refuse("must include the repository path after the colon (git@host:owner/repo.git)");
  const pathProblem = checkPath(path);
  if (pathProblem) return refuse(pathProblem);
  return { ok: true, url: { kind: "scp", user, host, port: 22, path } };
}

function parseHttpsUrl(input: string): RepoUrlCheck {
  // The raw text is checked, not only a parsed URL, so that git (curl) and this check cannot
  // read two different hosts out of one string (backslashes, `user@` tricks).
  const rest = input.slice("https://".length);
  if (/[\\]/.test(rest)) return refuse("must not contain backslashes");
  const slash = rest.indexOf("/");
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  if (authority.includes("@")) {
    return refuse(
      "must not contain a user name or password: private repositories are read with the site's deploy key, not with credentials in the URL",
    );
  }
  if (/[?#]/.test(rest)) return refuse("must not contain a query (?) or a fragment (#)");
  const path = slash === -1 ? "" : rest.slice(slash);
  if (path === "" || path === "/") {
    return refuse("must include the repository path after the host (https://host/owner/repo.git)");
  }
  let hostPart = authority;
  let port = 443;
  const portMatch = /^(.*):(\d{1,5})$/.exec(authority);
  if (portMatch && !authority.endsWith("]")) {
    hostPart = portMatch[1] ?? "";
    port = Number(portMatch[2]);
    if (port < 1 || port > 65535) return refuse(`the port ${port} is not a TCP port`);
  }
  const host = checkHost(hostPart);
  if (typeof host !== "string") return host;
  const pathProblem = checkPath(path);
  if (pathProblem) return refuse(pathProblem);
  return { ok: true, url: { kind: "https", user: undefined, host, port, path } };
}

/** A DNS name, a dotted-quad IPv4 address or a bracketed IPv6 address; returns it normalised. */
function checkHost(raw: string): string | { ok: false; reason: string } {
  if (raw === "") return { ok: false, reason: "has no host" };
  if (raw.startsWith("-")) {
    return {
      ok: false,
      reason: `the host ${quote(raw)} must not start with "-" (ssh would read it as an option)`,
    };
  }
  if (raw.startsWith("[")) {
    const inner = raw.slice(1, -1).toLowerCase();
    if (!raw.endsWith("]") || isIP(inner) !== 6) {
      return { ok: false, reason: `the host ${quote(raw)} is not a valid IPv6 address` };
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
    return {
      ok: false,
      reason: `the host ${quote(raw)} is not a valid host name or IP address`,
    };
  }
  return host;
}

function checkPath(path: string): string | undefined {
  const segments = path.split("/");
  if (segments.some((s) => s === "..")) return 'the path must not contain ".." segments';
  if (segments.some((s) => s.startsWith("-"))) {
    return 'no part of the path may start with "-" (git would read it as an option)';
  }
  return undefined;
}
