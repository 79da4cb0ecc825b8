import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { migrate } from "../../src/lib/database.ts";
import { openPostgres } from "../../src/lib/postgres.ts";
import { platformMigrations } from "../../src/platform/db/migrations.ts";
import type { PlatformDatabase } from "../../src/platform/db/schema.ts";
import { SqlJobQueue } from "../../src/platform/jobs/queue.ts";
import { startTestPlatform, type Tenant, type TestPlatform } from "../helpers/platform.ts";
import { missingPostgres, startTestPostgres, type TestPostgres } from "../helpers/postgres.ts";
import { createSite } from "../helpers/sites.ts";
import { waitUntil } from "../helpers/wait.ts";

/**
 * The platform's state on PostgreSQL (`SLIPWAY_DATABASE_URL`, docs/scale-out.md): what differs
 * from SQLite — migrations raced by several nodes, concurrent leases, number and text
 * semantics — on a throwaway cluster. The whole API suites run on Postgres too, with
 * `SLIPWAY_TEST_DATABASE=postgres` (`npm run test:postgres`).
 */
const skip = missingPostgres();

describe("the platform on PostgreSQL", { skip }, () => {
  let cluster: TestPostgres;
  before(async () => {
    cluster = await startTestPostgres();
  });
  after(async () => {
    await cluster?.stop();
  });

  it("migrates once when several nodes start at once on an empty database", async () => {
    const url = await cluster.createDatabase();
    const nodes = Array.from({ length: 4 }, () => openPostgres<PlatformDatabase>(url));
    try {
      await Promise.all(nodes.map((db) => migrate(db, platformMigrations)));
      const applied = await sql<{ n: number }>`select count(*) as n from kysely_migration`.execute(
        nodes[0]!,
      );
      assert.equal(applied.rows[0]?.n, Object.keys(platformMigrations).length);
    } finally {
      await Promise.all(nodes.map((db) => db.destroy()));
    }
  });

  it("leases past a job another worker is taking instead of waiting for its lock", async () => {
    const db = openPostgres<PlatformDatabase>(await cluster.createDatabase());
    try {
      await migrate(db, platformMigrations);
      const queue = new SqlJobQueue(db);
      const first = await queue.enqueue({ queue: "q", payload: { n: 1 } });
      const second = await queue.enqueue({ queue: "q", payload: { n: 2 } });
      // Another worker's lease in flight: the first job's row is locked until it commits.
      let commit = (): void => undefined;
      const committed = new Promise<void>((resolve) => (commit = resolve));
      let locked = (): void => undefined;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const other = db.transaction().execute(async (trx) => {
        await sql`select id from jobs where id = ${first.id} for update`.execute(trx);
        locked();
        await committed;
      });
      await isLocked;
      // Whichever comes first: the lease, or the lease queueing behind the lock (what it did
      // before SKIP LOCKED); either way the other transaction then ends.
      const lease = queue.lease("worker-b", ["q"], 60_000);
      let leased = false;
      const blocked = waitUntil(async () => {
        if (leased) return { blocked: false };
        const waiting = await sql<{ n: number }>`
          select count(*) as n from pg_stat_activity
          where wait_event_type = 'Lock' and datname = current_database()`.execute(db);
        return (waiting.rows[0]?.n ?? 0) > 0 && { blocked: true };
      }, "a lease waiting on a lock");
      const outcome = await Promise.race([
        lease.then((job) => ((leased = true), { job })),
        blocked.then((state) => (state.blocked ? state : blocked)),
      ]);
      commit();
      await other;
      await Promise.all([lease, blocked]);
      assert.ok("job" in outcome, "the lease queued behind the other worker's lock");
      assert.equal(outcome.job?.id, second.id);
    } finally {
      await db.destroy();
    }
  });

  describe("the API", () => {
    let t: TestPlatform;
    let alice: Tenant;
    let bob: Tenant;
    before(async () => {
      // Builds are the job queue's next step on Postgres (docs/scale-out.md): none run here.
      t = await startTestPlatform({ database: cluster, platform: { buildWorkers: false } });
      alice = await t.createTenant("alice");
      bob = await t.createTenant("bob");
    });
    after(async () => {
      await t?.stop();
    });

    it("creates, lists, renames and deletes sites; names stay unique", async () => {
      const site = await createSite(t, alice.token, { name: "pg-one" });
      await createSite(t, alice.token, { name: "pg-two" });
      const taken = await t.api("POST", "/sites", { token: bob.token, body: { name: "pg-one" } });
      assert.equal(taken.status, 422, taken.text);

      const listed = await t.api<{ name: string }[]>("GET", "/sites?name=pg-&per_page=1", {
        token: alice.token,
      });
      assert.equal(listed.status, 200);
      assert.equal(listed.body.length, 1);
      assert.match(listed.headers.get("link") ?? "", /rel="next"/, "the count is a number");

      const renamed = await t.api<{ name: string }>("PATCH", `/sites/${site.id}`, {
        token: alice.token,
        body: { name: "pg-renamed" },
      });
      assert.equal(renamed.status, 200, renamed.text);
      assert.equal(renamed.body.name, "pg-renamed");
      assert.equal(
        (await t.api("DELETE", `/sites/${site.id}`, { token: alice.token })).status,
        204,
      );
      assert.equal((await t.api("GET", `/sites/${site.id}`, { token: alice.token })).status, 404);
    });

    it("answers 404 for another account's site, its deploys and its environment", async () => {
      const site = await createSite(t, alice.token, { name: "pg-private" });
      for (const path of [
        `/sites/${site.id}`,
        `/sites/${site.id}/deploys`,
        `/accounts/${alice.accountSlug}/env?site_id=${site.id}`,
      ]) {
        const res = await t.api("GET", path, { token: bob.token });
        assert.equal(res.status, 404, `${path}: ${res.text}`);
      }
    });

    it("searches the audit log without regard to case, as on SQLite", async () => {
      await createSite(t, alice.token, { name: "pg-audited" });
      const found = await t.api<unknown[]>(
        "GET",
        `/accounts/${alice.accountSlug}/audit?query=PG-AUDITED`,
        { token: alice.token },
      );
      assert.equal(found.status, 200, found.text);
      assert.ok(found.body.length > 0, "the site's creation is found by its name in upper case");
    });
  });
});
