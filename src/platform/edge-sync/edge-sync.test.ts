import assert from "node:assert/strict";
import type { Kysely } from "kysely";
import { sql } from "kysely";
import { after, before, describe, it } from "node:test";
import { createLogger } from "../../lib/logger.ts";
import { openPostgres } from "../../lib/postgres.ts";
import { startTestPostgres, type TestPostgres } from "../../../test/helpers/postgres.ts";
import { waitUntil } from "../../../test/helpers/wait.ts";
import { memoryContext } from "../../../test/helpers/memory-ctx.ts";
import type { PlatformDatabase } from "../db/schema.ts";
import { EDGE_CHANNEL, EdgeSync, type EdgeCaches } from "./edge-sync.ts";

const log = createLogger({ name: "edge-sync-test", level: "silent" });

/** Caches that record what they were told to forget. */
function recordingCaches(): EdgeCaches & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    forgetSite: (name) => events.push(`site:${name}`),
    forgetDomains: (id) => events.push(`domains:${id}`),
    forgetAll: () => events.push("all"),
  };
}

describe("edge sync over Postgres LISTEN/NOTIFY", () => {
  let cluster: TestPostgres;
  let url: string;
  let db: Kysely<PlatformDatabase>;
  const syncs: EdgeSync[] = [];

  before(async () => {
    cluster = await startTestPostgres();
    url = await cluster.createDatabase();
    db = openPostgres<PlatformDatabase>(url);
  });
  after(async () => {
    for (const sync of syncs) await sync.stop();
    await db?.destroy();
    await cluster?.stop();
  });

  const node = async (): Promise<{ sync: EdgeSync; events: string[] }> => {
    const sync = new EdgeSync({ db, databaseUrl: url, log });
    const caches = recordingCaches();
    await sync.listen(caches);
    syncs.push(sync);
    return { sync, events: caches.events };
  };

  it("tells every other node of a publish and a domain change, and its own edge once", async () => {
    const [a, b, c] = [await node(), await node(), await node()];
    a.sync.sitePublished("blog");
    b.sync.domainsChanged("site-1");
    assert.deepEqual(a.events, ["site:blog"], "the publishing node forgets at once");
    assert.deepEqual(b.events, ["domains:site-1"]);
    await waitUntil(() => c.events.length === 2, "node c to hear both changes");
    assert.deepEqual([...c.events].sort(), ["domains:site-1", "site:blog"]);
    await waitUntil(() => b.events.length === 2, "node b to hear the publish");
    await waitUntil(() => a.events.length === 2, "node a to hear the domain change");
    // Its own notifications come back to a node: they are not applied twice.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(a.events, ["site:blog", "domains:site-1"]);
    assert.deepEqual(b.events, ["domains:site-1", "site:blog"]);
  });

  it("ignores a notification it does not understand", async () => {
    const a = await node();
    await sql`select pg_notify(${EDGE_CHANNEL}, ${"not json"})`.execute(db);
    await sql`select pg_notify(${EDGE_CHANNEL}, ${JSON.stringify({ from: "x", site: "s" })})`.execute(
      db,
    );
    await waitUntil(() => a.events.length === 1, "the valid notification");
    assert.deepEqual(a.events, ["site:s"]);
  });

  it("forgets everything after its connection was lost (notifications were missed), and listens again", async () => {
    const a = await node();
    const b = await node();
    // Every LISTEN connection of this database ends, as in a Postgres restart or failover.
    await sql`select pg_terminate_backend(pid) from pg_stat_activity
               where datname = current_database() and query like 'LISTEN%'`.execute(db);
    await waitUntil(() => b.events.includes("all"), "b to listen again", 10_000);
    await waitUntil(() => a.events.includes("all"), "a to listen again", 10_000);
    a.sync.sitePublished("after");
    await waitUntil(() => b.events.includes("site:after"), "b to hear a's publish again");
  });
});

describe("edge sync on SQLite", () => {
  it("forgets on this node only, and sends nothing", async () => {
    const memory = await memoryContext();
    try {
      const sync = new EdgeSync({ db: memory.ctx.db, databaseUrl: undefined, log });
      const caches = recordingCaches();
      sync.sitePublished("early"); // before the edge exists: nothing to forget yet
      await sync.listen(caches);
      sync.sitePublished("blog");
      sync.domainsChanged("site-1");
      assert.deepEqual(caches.events, ["site:blog", "domains:site-1"]);
      await sync.stop();
    } finally {
      await memory.close();
    }
  });
});
