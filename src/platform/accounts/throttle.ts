import type { PlatformContext } from "../context.ts";
import { PlatformError } from "../errors.ts";

/**
 * Sign-in rate limits, kept in the database (every API node counts the same failures):
 * - per client address: `ipFailures` failed sign-ins within `windowMs` (any account, passwords
 *   and pasted tokens alike) block that address until the window ends;
 * - per account: `accountFailures` wrong passwords for one e-mail address within `windowMs`
 *   block sign-ins to it (from anywhere) until the window ends.
 * A blocked attempt is answered 429 with `Retry-After`, before any password is checked.
 */
export interface ThrottlePolicy {
  windowMs: number;
  ipFailures: number;
  accountFailures: number;
}

export const SIGN_IN_THROTTLE: ThrottlePolicy = {
  windowMs: 15 * 60_000,
  ipFailures: 30,
  accountFailures: 5,
};

export const ipKey = (ip: string): string => `ip:${ip}`;
export const accountKey = (email: string): string => `account:${email.trim().toLowerCase()}`;

/** Throws 429 with `Retry-After` when any of `keys` is blocked now. */
export async function assertNotThrottled(ctx: PlatformContext, keys: string[]): Promise<void> {
  const now = ctx.now();
  const rows = await ctx.db
    .selectFrom("sign_in_throttles")
    .select(["key", "blocked_until"])
    .where("key", "in", keys)
    .where("blocked_until", ">", now.toISOString())
    .execute();
  if (rows.length === 0) return;
  const until = Math.max(...rows.map((r) => Date.parse(r.blocked_until ?? "")));
  const seconds = Math.max(1, Math.ceil((until - now.getTime()) / 1000));
  const account = rows.some((r) => r.key.startsWith("account:"));
  throw new PlatformError(
    "rate_limited",
    account
      ? `Too many failed sign-ins to this account; try again in ${describeWait(seconds)}, or ask an administrator for an invite link to set a new password`
      : `Too many failed sign-ins from your address; try again in ${describeWait(seconds)}`,
    undefined,
    { "retry-after": String(seconds) },
  );
}

/** Counts a failed sign-in against each key; a key over its limit is blocked. */
export async function recordFailure(
  ctx: PlatformContext,
  keys: Array<{ key: string; limit: number }>,
  policy: ThrottlePolicy = SIGN_IN_THROTTLE,
): Promise<void> {
  const now = ctx.now();
  await ctx.db.transaction().execute(async (trx) => {
    for (const { key, limit } of keys) {
      const row = await trx
        .selectFrom("sign_in_throttles")
        .selectAll()
        .where("key", "=", key)
        .executeTakeFirst();
      const fresh = !row || now.getTime() - Date.parse(row.window_started_at) >= policy.windowMs;
      const failures = fresh ? 1 : row.failures + 1;
      const windowStart = fresh ? now.toISOString() : row.window_started_at;
      const blockedUntil =
        failures >= limit
          ? new Date(Date.parse(windowStart) + policy.windowMs).toISOString()
          : null;
      await trx
        .insertInto("sign_in_throttles")
        .values({ key, failures, window_started_at: windowStart, blocked_until: blockedUntil })
        .onConflict((oc) =>
          oc.column("key").doUpdateSet({
            failures,
            window_started_at: windowStart,
            blocked_until: blockedUntil,
          }),
        )
        .execute();
    }
    // Old windows are of no use; keep the table small.
    const stale = new Date(now.getTime() - 2 * policy.windowMs).toISOString();
    await trx.deleteFrom("sign_in_throttles").where("window_started_at", "<", stale).execute();
  });
}

/** A successful sign-in clears its account's count (the address keeps its own). */
export async function clearFailures(ctx: PlatformContext, key: string): Promise<void> {
  await ctx.db.deleteFrom("sign_in_throttles").where("key", "=", key).execute();
}

function describeWait(seconds: number): string {
  if (seconds < 90) return `${seconds} seconds`;
  return `${Math.ceil(seconds / 60)} minutes`;
}
