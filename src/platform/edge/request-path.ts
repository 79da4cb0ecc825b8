import { hasControlCharacters } from "../../lib/text.ts";

/**
 * Request targets → one canonical, decoded URL path. Everything the edge decides (file lookup,
 * redirect and header rules) uses this one form, so no rule can see a different path than the
 * lookup does. Percent-decoding happens once (`%2e%2e` and `%2f` become `..` and `/` and are
 * then normalised like their literal forms), backslashes count as slashes, repeated slashes
 * collapse, `.` and `..` segments resolve, and a `..` that would climb above the root, a NUL or
 * other control character, or malformed encoding is a 400. The path is only ever used as a key
 * into the deploy's manifest, never as a file-system path.
 */

export type RequestTarget =
  { ok: true; path: string; query: string } | { ok: false; status: 400 | 414; reason: string };

/** Longest request target accepted. */
export const MAX_TARGET_LENGTH = 8192;

/**
 * Paths that are already canonical: segments of unreserved characters that do not start with
 * a dot, no empty segment. Each segment begins with its own mandatory slash, so the pattern
 * cannot backtrack.
 */
const PLAIN = /^(?:\/[A-Za-z0-9_~!$&'()*+,;=:@-][A-Za-z0-9._~!$&'()*+,;=:@-]*)*\/?$/;

/** Canonicalises a decoded path; `undefined` when it climbs above the root. */
export function normalisePath(decoded: string): string | undefined {
  const parts = decoded.replaceAll("\\", "/").split("/");
  const stack: string[] = [];
  const last = parts[parts.length - 1];
  const trailing = parts.length > 1 && (last === "" || last === "." || last === "..");
  for (const part of parts) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (stack.length === 0) return undefined;
      stack.pop();
      continue;
    }
    stack.push(part);
  }
  if (stack.length === 0) return "/";
  return "/" + stack.join("/") + (trailing ? "/" : "");
}

export function parseRequestTarget(url: string): RequestTarget {
  if (url.length > MAX_TARGET_LENGTH) {
    return { ok: false, status: 414, reason: "request target too long" };
  }
  let target = url;
  if (!target.startsWith("/")) {
    // Absolute form (`GET http://host/path`), as proxies send it.
    const match = /^https?:\/\/[^/?#]*/i.exec(target);
    if (!match) return { ok: false, status: 400, reason: "malformed request target" };
    target = target.slice(match[0].length);
    if (!target.startsWith("/")) target = "/" + target;
  }
  const hash = target.indexOf("#");
  if (hash !== -1) target = target.slice(0, hash);
  const q = target.indexOf("?");
  const raw = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? "" : target.slice(q + 1);
  if (PLAIN.test(raw)) return { ok: true, path: raw, query };
  let decoded = raw;
  if (raw.includes("%")) {
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      return { ok: false, status: 400, reason: "malformed percent-encoding" };
    }
  }
  if (hasControlCharacters(decoded)) {
    return { ok: false, status: 400, reason: "control character in path" };
  }
  const path = normalisePath(decoded);
  if (path === undefined) return { ok: false, status: 400, reason: "path climbs above the root" };
  return { ok: true, path, query };
}

/** Percent-encodes a decoded path for a `Location` header (segment by segment). */
export function encodePath(path: string): string {
  return path
    .split("/")
    .map((segment) => encodeURIComponent(segment))
    .join("/");
}
