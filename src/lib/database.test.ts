import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sql, type Kysely } from "kysely";
import {
  checkpointsInBackground,
  commitsDurable,
  durableTransaction,
  openSqlite,
  walWritesPaused,
} from "./database.ts";

interface Schema {
  acks: { id: number };
}

/** SQLite's `synchronous` setting on the connection the query runs on (1 NORMAL, 2 FULL). */
async function synchronousOf(db: Kysely<Schema>): Promise<number | undefined> {
  const { rows } = await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(db);
  return rows[0]?.synchronous;
}

describe("durableTransaction", () => {
  let dir: string;
  let db: Kysely<Schema>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "slipway-db-"));
    db = openSqlite<Schema>(join(dir, "test.sqlite3"));
    await db.schema
      .createTable("acks")
      .addColumn("id", "integer", (c) => c.primaryKey())
      .execute();
  });
  after(async () => {
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it("commits with synchronous = FULL, and leaves the connection at NORMAL after", async () => {
    assert.equal(await synchronousOf(db), 1);
    const inside = await durableTransaction(db, async (trx) => {
      await trx.insertInto("acks").values({ id: 1 }).execute();
      return synchronousOf(trx);
    });
    assert.equal(inside, 2);
    assert.equal(await synchronousOf(db), 1);
    assert.deepEqual(await db.selectFrom("acks").select("id").execute(), [{ id: 1 }]);
  });

  it("rolls back and restores NORMAL when the work fails", async () => {
    await assert.rejects(
      durableTransaction(db, async (trx) => {
        await trx.insertInto("acks").values({ id: 2 }).execute();
        throw new Error("refused");
      }),
      /refused/,
    );
    assert.equal(await synchronousOf(db), 1);
    assert.equal(
      (await db.selectFrom("acks").select("id").where("id", "=", 2).execute()).length,
      0,
    );
  });
});

describe("WAL checkpoints", () => {
  let dir: string;
  let db: Kysely<{ pages: { body: string } }>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "slipway-db-"));
    db = openSqlite(join(dir, "test.sqlite3"), { backgroundCheckpoints: true });
    await db.schema.createTable("pages").addColumn("body", "text").execute();
  });
  after(async () => {
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it("are never made by a commit, and are made in the background", async () => {
    const { rows } = await sql<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`.execute(
      db,
    );
    assert.equal(rows[0]?.wal_autocheckpoint, 0, "a commit may checkpoint on the event loop");
    const sizeBefore = (await stat(join(dir, "test.sqlite3"))).size;
    // 1,500 commits of a page each: past the 1,000 pages at which SQLite's own would run.
    for (let i = 0; i < 1500; i++) {
      await db
        .insertInto("pages")
        .values({ body: "x".repeat(4000) })
        .execute();
    }
    // Only a checkpoint writes to the database file; the worker's comes within its interval.
    const deadline = Date.now() + 20_000;
    while ((await stat(join(dir, "test.sqlite3"))).size < sizeBefore + 1500 * 4000) {
      assert.ok(Date.now() < deadline, "the WAL was not checkpointed into the database file");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});

describe("WAL checkpoints without backgroundCheckpoints", () => {
  it("are SQLite's own, with no worker thread (a database without a hot write path)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "slipway-db-"));
    const db = openSqlite<Schema>(join(dir, "test.sqlite3"));
    try {
      const { rows } = await sql<{
        wal_autocheckpoint: number;
      }>`PRAGMA wal_autocheckpoint`.execute(db);
      assert.equal(rows[0]?.wal_autocheckpoint, 1000);
      assert.equal(checkpointsInBackground(db), false);
    } finally {
      await db.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("WAL restarts", () => {
  it("pause the writes, Kysely's and those that wait for them, then let them go on", async () => {
    const dir = await mkdtemp(join(tmpdir(), "slipway-db-"));
    const db = openSqlite<{ pages: { body: string } }>(join(dir, "test.sqlite3"), {
      backgroundCheckpoints: true,
    });
    try {
      await db.schema.createTable("pages").addColumn("body", "text").execute();
      // A busy writer: past the WAL's restart size between two checkpoints, so the worker
      // asks for a pause; a writer that waits for it sees one, and goes on after it.
      let paused = 0;
      const deadline = Date.now() + 20_000;
      while (paused < 2) {
        assert.ok(Date.now() < deadline, "no pause for a WAL restart was asked for");
        const pause = walWritesPaused(db);
        if (pause !== undefined) {
          paused++;
          // A write through Kysely that does not look for the pause waits for it all the same.
          const order: string[] = [];
          const write = db
            .insertInto("pages")
            .values({ body: "during the pause" })
            .execute()
            .then(() => order.push("write"));
          await pause.then(() => order.push("pause ended"));
          await write;
          assert.deepEqual(order, ["pause ended", "write"]);
          assert.equal(walWritesPaused(db), undefined);
        }
        await db
          .insertInto("pages")
          .values(Array.from({ length: 50 }, () => ({ body: "x".repeat(4000) })))
          .execute();
        await commitsDurable(db);
      }
    } finally {
      await db.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
