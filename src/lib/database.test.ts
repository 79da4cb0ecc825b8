import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sql, type Kysely } from "kysely";
import { durableTransaction, openSqlite } from "./database.ts";

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
