import assert from "node:assert/strict";
import { describe, it } from "node:test";
import SQLite from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { recordPrepared } from "../../test/helpers/prepared-statements.ts";
import { cachingStatements } from "./sqlite-statements.ts";

interface Schema {
  items: { id: number; name: string };
}

/** A Kysely over an in-memory database whose `prepare` calls are counted. */
async function openCounting(capacity?: number) {
  const database = new SQLite(":memory:");
  const { sources: prepared } = recordPrepared(database);
  const db = new Kysely<Schema>({
    dialect: new SqliteDialect({ database: cachingStatements(database, capacity) }),
  });
  await db.schema
    .createTable("items")
    .addColumn("id", "integer", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull())
    .execute();
  await db
    .insertInto("items")
    .values([1, 2, 3].map((id) => ({ id, name: `item ${id}` })))
    .execute();
  prepared.length = 0;
  return { db, prepared };
}

const byId = (db: Kysely<Schema>, id: number) =>
  db.selectFrom("items").select("name").where("id", "=", id).executeTakeFirst();

describe("cachingStatements", () => {
  it("prepares each SQL text once and answers every call with its own parameters", async () => {
    const { db, prepared } = await openCounting();
    assert.deepEqual(await Promise.all([1, 2, 3, 4].map((id) => byId(db, id))), [
      { name: "item 1" },
      { name: "item 2" },
      { name: "item 3" },
      undefined,
    ]);
    await db.updateTable("items").set({ name: "one" }).where("id", "=", 1).execute();
    await db.updateTable("items").set({ name: "uno" }).where("id", "=", 1).execute();
    assert.deepEqual(await byId(db, 1), { name: "uno" });
    assert.equal(prepared.length, 2, prepared.join("\n"));
    await db.destroy();
  });

  it("keeps statements across transactions, including one rolled back", async () => {
    const { db } = await openCounting();
    await assert.rejects(
      db.transaction().execute(async (trx) => {
        await trx.updateTable("items").set({ name: "lost" }).where("id", "=", 2).execute();
        assert.deepEqual(await byId(trx, 2), { name: "lost" });
        throw new Error("roll back");
      }),
      /roll back/,
    );
    assert.deepEqual(await byId(db, 2), { name: "item 2" });
    await db.transaction().execute(async (trx) => {
      await trx.updateTable("items").set({ name: "kept" }).where("id", "=", 2).execute();
    });
    assert.deepEqual(await byId(db, 2), { name: "kept" });
    await db.destroy();
  });

  it("prepares a fresh statement while the cached one is still iterating", () => {
    // Kysely holds the connection for a stream's whole length, so only a direct caller can
    // do this; the cache must still not reset a statement in the middle of its iteration.
    const database = new SQLite(":memory:");
    database.exec(
      "create table items (id integer primary key); insert into items values (1), (2), (3)",
    );
    const statements = cachingStatements(database);
    const source = "select id from items where id >= ? order by id";
    const seen: Array<[number, number]> = [];
    for (const row of statements.prepare(source).iterate([1]) as Iterable<{ id: number }>) {
      seen.push([row.id, statements.prepare(source).all([row.id]).length]);
    }
    assert.deepEqual(seen, [
      [1, 3],
      [2, 2],
      [3, 1],
    ]);
    database.close();
  });

  it("evicts the least recently used statement beyond its capacity", async () => {
    const { db, prepared } = await openCounting(2);
    const q1 = () => db.selectFrom("items").select("id").execute();
    const q2 = () => db.selectFrom("items").select("name").execute();
    const q3 = () => db.selectFrom("items").select(["id", "name"]).execute();
    await q1();
    await q2();
    await q1(); // q2 is now the least recently used
    await q3(); // evicts q2
    await q1();
    assert.equal(prepared.length, 3);
    await q2();
    assert.equal(prepared.length, 4);
    await db.destroy();
  });
});
