import type { GcContext } from "./gc.ts";

/**
 * One collection at a time across every process on the database (the scheduled job on any
 * node, `slipway gc`): a lease in `storage_gc_lock`, taken by one atomic upsert that only
 * replaces an expired holder, and renewed while the run goes on. A crashed run's lease lapses.
 */

const LOCK = "gc";
const LEASE_MS = 10 * 60_000;

/** Takes (or renews) the lease for `owner`; returns whoever holds it afterwards. */
export async function acquireGcLock(ctx: GcContext, owner: string): Promise<string> {
  const now = Date.now();
  const expiresAt = new Date(now + LEASE_MS).toISOString();
  await ctx.db
    .insertInto("storage_gc_lock")
    .values({ name: LOCK, owner, expires_at: expiresAt })
    .onConflict((oc) =>
      oc
        .column("name")
        .doUpdateSet({ owner, expires_at: expiresAt })
        .where((eb) =>
          eb.or([
            eb("storage_gc_lock.owner", "=", owner),
            eb("storage_gc_lock.expires_at", "<", new Date(now).toISOString()),
          ]),
        ),
    )
    .execute();
  const row = await ctx.db
    .selectFrom("storage_gc_lock")
    .select("owner")
    .where("name", "=", LOCK)
    .executeTakeFirstOrThrow();
  return row.owner;
}

export async function releaseGcLock(ctx: GcContext, owner: string): Promise<void> {
  await ctx.db
    .deleteFrom("storage_gc_lock")
    .where("name", "=", LOCK)
    .where("owner", "=", owner)
    .execute();
}
