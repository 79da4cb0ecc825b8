import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Kysely } from "kysely";
import { migrate, openSqlite } from "../../../lib/database.ts";
import { platformMigrations } from "../../db/migrations.ts";
import type { PlatformDatabase } from "../../db/schema.ts";
import { SandboxConfigError } from "./errors.ts";
import { DatabaseUidAllocator } from "./uid-leases.ts";

/**
 * Two platform processes on one data directory: two allocators, each with its own connection to
 * the same database file, drawing from a pool of two uids.
 */

describe("build uid leases", () => {
  let dir = "";
  let first: Kysely<PlatformDatabase>;
  let second: Kysely<PlatformDatabase>;
  // High in the uid range, where no process of this machine runs.
  const pool = { first: 2_140_000_000 + Math.floor(Math.random() * 1000) * 2, count: 2 };
  let clock = new Date("2026-01-01T00:00:00Z");
  const now = (): Date => clock;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "slipway-uid-leases-"));
    first = openSqlite<PlatformDatabase>(join(dir, "platform.sqlite3"));
    await migrate(first, platformMigrations);
    second = openSqlite<PlatformDatabase>(join(dir, "platform.sqlite3"));
  });
  after(async () => {
    await first.destroy();
    await second.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it("never gives two processes the same uid, and gives a released one again", async () => {
    const a = new DatabaseUidAllocator(first, { pool, now });
    const b = new DatabaseUidAllocator(second, { pool, now });
    const one = await a.acquire();
    const two = await b.acquire();
    assert.notEqual(one, two);
    assert.deepEqual([one, two].sort(), [pool.first, pool.first + 1]);
    await assert.rejects(a.acquire(), (e: unknown) => e instanceof SandboxConfigError);
    await assert.rejects(b.acquire(one), /in use by another build/);
    await a.release(one);
    assert.equal(await b.acquire(), one);
    await b.release(one);
    await b.release(two);
    const rows = await first.selectFrom("build_uid_leases").selectAll().execute();
    assert.deepEqual(rows, []);
  });

  it("takes over the uid of a holder that stopped heartbeating once its lease expired", async () => {
    const crashed = new DatabaseUidAllocator(first, {
      pool: { ...pool, count: 1 },
      now,
      ttlMs: 60_000,
    });
    const survivor = new DatabaseUidAllocator(second, {
      pool: { ...pool, count: 1 },
      now,
      ttlMs: 60_000,
    });
    const uid = await crashed.acquire();
    await assert.rejects(survivor.acquire(), /no free build uid/);
    clock = new Date(clock.getTime() + 61_000);
    assert.equal(await survivor.acquire(), uid);
    await survivor.release(uid);
  });
});
