import type { FastifyReply, FastifyRequest } from "fastify";

/** The value of one cookie of a request (`Cookie: a=1; b=2`), or undefined. */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Sets an HttpOnly, SameSite=Lax cookie for the whole host (never for site hosts: no Domain
 * attribute), Secure when the platform's public URL is https. `maxAgeSeconds` 0 deletes it.
 */
export function setCookie(
  reply: FastifyReply,
  name: string,
  value: string,
  options: { maxAgeSeconds: number; secure: boolean },
): void {
  const parts = [
    `${name}=${encodeURIComponent(value)}`,
    "Path=/",
    "HttpOnly",
    "SameSite=Lax",
    `Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`,
  ];
  if (options.secure) parts.push("Secure");
  const previous = reply.getHeader("set-cookie");
  const list =
    previous === undefined ? [] : Array.isArray(previous) ? previous : [String(previous)];
  reply.header("set-cookie", [...list.map(String), parts.join("; ")]);
}

/**
 * Whether a browser request comes from the platform's own pages: its `Origin` (when sent) is
 * the host it was sent to or the public URL's, and the browser does not call it cross-site.
 */
export function isSameOrigin(request: FastifyRequest, publicUrl: string): boolean {
  if (request.headers["sec-fetch-site"] === "cross-site") return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false;
  }
  return host === request.headers.host || host === new URL(publicUrl).host;
}
