import { randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import type { PlatformDatabase } from "../../db/schema.ts";
import { SandboxConfigError } from "./errors.ts";
import {
  BUILD_UID_POOL,
  checkRequestedUid,
  claimInProcess,
  releaseInProcess,
  uidHasProcesses,
  type BuildUidAllocator,
} from "./uids.ts";

/**
 * Build uids leased through the database (`build_uid_leases`), so that every platform process on
 * one data directory agrees on who builds as which uid. A row is inserted (its primary key is the
 * uid: the insert wins or does nothing), heartbeated while the build runs and deleted at its end.
 * A holder that died stops heartbeating: its row expires and is taken over — but only once no
 * process of the uid is left on the machine, so a stalled holder's build is never shared.
 *
 * The lease is the build's own rather than its job's: a worker that lost its job's lease may still
 * have the build's processes running, and those must keep their uid until they are gone.
 */

export interface UidLeaseOptions {
  /** How long a lease lasts without a heartbeat (heartbeats come at a third of it). */
  ttlMs?: number;
  now?: () => Date;
  /** The uids to pick from (tests use a small one). */
  pool?: { first: number; count: number };
}

const DEFAULT_TTL_MS = 60_000;

export class DatabaseUidAllocator implements BuildUidAllocator {
  private readonly held = new Map<number, { owner: string; timer: NodeJS.Timeout }>();
  private readonly ttlMs: number;
  private readonly now: () => Date;
  private readonly pool: { first: number; count: number };

  constructor(
    private readonly db: Kysely<PlatformDatabase>,
    options: UidLeaseOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    this.now = options.now ?? (() => new Date());
    this.pool = options.pool ?? BUILD_UID_POOL;
  }

  async acquire(requested?: number): Promise<number> {
    if (requested !== undefined) {
      checkRequestedUid(requested);
      if (await this.tryLease(requested)) return requested;
      throw new SandboxConfigError(`build uid ${requested} is in use by another build`);
    }
    for (let attempt = 0; attempt < 100; attempt++) {
      const uid = this.pool.first + Math.floor(Math.random() * this.pool.count);
      if (await this.tryLease(uid)) return uid;
    }
    throw new SandboxConfigError("no free build uid found");
  }

  async release(uid: number): Promise<void> {
    const lease = this.held.get(uid);
    if (lease === undefined) return;
    clearInterval(lease.timer);
    this.held.delete(uid);
    releaseInProcess(uid);
    await this.db
      .deleteFrom("build_uid_leases")
      .where("uid", "=", uid)
      .where("owner", "=", lease.owner)
      .execute();
  }

  private iso(offsetMs = 0): string {
    return new Date(this.now().getTime() + offsetMs).toISOString();
  }

  private async tryLease(uid: number): Promise<boolean> {
    if (this.held.has(uid)) return false;
    const owner = randomBytes(12).toString("hex");
    // An expired row is given up only when nothing of the uid runs any more.
    const expired = await this.db
      .selectFrom("build_uid_leases")
      .select("owner")
      .where("uid", "=", uid)
      .where("expires_at", "<=", this.iso())
      .executeTakeFirst();
    if (expired !== undefined) {
      if (await uidHasProcesses(uid)) return false;
      await this.db
        .deleteFrom("build_uid_leases")
        .where("uid", "=", uid)
        .where("owner", "=", expired.owner)
        .execute();
    }
    const inserted = await this.db
      .insertInto("build_uid_leases")
      .values({ uid, owner, expires_at: this.iso(this.ttlMs), created_at: this.iso() })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) !== 1) return false;
    // Leased; still, a process of the uid on this machine (not Slipway's) rules it out.
    if (await uidHasProcesses(uid)) {
      await this.db
        .deleteFrom("build_uid_leases")
        .where("uid", "=", uid)
        .where("owner", "=", owner)
        .execute();
      return false;
    }
    claimInProcess(uid); // for sweepOrphanedBuilds: this process's own build
    const timer = setInterval(() => void this.heartbeat(uid, owner), this.ttlMs / 3);
    timer.unref();
    this.held.set(uid, { owner, timer });
    return true;
  }

  private async heartbeat(uid: number, owner: string): Promise<void> {
    await this.db
      .updateTable("build_uid_leases")
      .set({ expires_at: this.iso(this.ttlMs) })
      .where("uid", "=", uid)
      .where("owner", "=", owner)
      .execute()
      .catch(() => undefined); // a missed heartbeat is retried at the next one
  }
}

const allocators = new WeakMap<Kysely<PlatformDatabase>, DatabaseUidAllocator>();

/** The allocator of a database (one per process, so its leases are known to it). */
export function databaseUidAllocator(
  db: Kysely<PlatformDatabase>,
  now?: () => Date,
): DatabaseUidAllocator {
  let allocator = allocators.get(db);
  if (!allocator) {
    allocator = new DatabaseUidAllocator(db, now !== undefined ? { now } : {});
    allocators.set(db, allocator);
  }
  return allocator;
}
