import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A random URL-safe secret with a recognisable prefix (e.g. `glpat-`), `bytes` of entropy. */
export function generateToken(prefix: string, bytes = 24): string {
  return prefix + randomBytes(bytes).toString("base64url");
}

/** Tokens are stored only as this digest; a stolen database gives no usable token. */
export function digestToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Constant-time string comparison that does not leak the length through early exit. */
export function safeEqual(a: string, b: string): boolean {
  const left = createHash("sha256").update(a, "utf8").digest();
  const right = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(left, right) && a.length === b.length;
}
