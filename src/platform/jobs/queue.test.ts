import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { sql, type Kysely } from "kysely";
import { createLogger } from "../../lib/logger.ts";
import { sqliteConnection } from "../../lib/database.ts";
import { withMigrationLock } from "../../lib/postgres.ts";
import { jobQueueContract } from "../../../test/helpers/job-queue-contract.ts";
import { memoryContext, type MemoryContext } from "../../../test/helpers/memory-ctx.ts";
import { recordPrepared } from "../../../test/helpers/prepared-statements.ts";
import { waitUntil } from "../../../test/helpers/wait.ts";
import { PlatformMetrics } from "../metrics/metrics.ts";
import { GraphileJobQueue, migrateGraphileWorker } from "./graphile-queue.ts";
import { openJobQueue } from "./open-queue.ts";
import { startWorkerPool } from "./workers.ts";

const postgres = process.env.SLIPWAY_TEST_DATABASE === "postgres";

// The SQL queue on this run's database (SQLite, or Postgres with SLIPWAY_TEST_DATABASE=postgres).
jobQueueContract(postgres ? "SqlJobQueue on Postgres" : "SqlJobQueue on SQLite", () =>
  memoryContext(),
);

const silent = createLogger({ name: "test", level: "silent" });

/** A memory context on graphile-worker's queue (Postgres), and its database's URL. */
async function graphileContext(): Promise<{ m: MemoryContext; url: string }> {
  let url = "";
  const m = await memoryContext({
    queue: async (db, now, databaseUrl) => {
      url = databaseUrl!;
      await migrateGraphileWorker(url, silent);
      return new GraphileJobQueue(db, now);
    },
  });
  return { m, url };
}

// graphile-worker's queue exists only on Postgres: in the Postgres run.
if (postgres) {
  jobQueueContract("GraphileJobQueue", async () => (await graphileContext()).m);
}

describe("SqlJobQueue", () => {
  let m: MemoryContext;
  beforeEach(async () => {
    m = await memoryContext();
  });
  afterEach(async () => {
    await m.close();
  });

  it(
    "leases no later job of a key while another worker holds its earlier one (Postgres SKIP LOCKED)",
    { skip: process.env.SLIPWAY_TEST_DATABASE !== "postgres" && "row locks are Postgres's" },
    async () => {
      const first = await m.queue.enqueue({ queue: "q", payload: {}, concurrencyKey: "site:1" });
      await m.queue.enqueue({ queue: "q", payload: {}, concurrencyKey: "site:1" });
      const other = await m.queue.enqueue({ queue: "q", payload: {}, concurrencyKey: "site:2" });
      // Another worker's lease of `first`, caught between its SELECT … FOR UPDATE and its UPDATE.
      await m.ctx.db.transaction().execute(async (trx) => {
        await trx.selectFrom("jobs").select("id").where("id", "=", first.id).forUpdate().execute();
        const leased = await m.queue.lease("w2", ["q"], 10_000);
        assert.equal(leased?.id, other.id, "the second job of site:1 must wait for the first");
      });
      assert.equal((await m.queue.lease("w1", ["q"], 10_000))?.id, first.id);
    },
  );

  it(
    "answers an idle poll with one look-up, running the lease's update only when a job is due",
    { skip: process.env.SLIPWAY_TEST_DATABASE === "postgres" && "counts SQLite's statements" },
    async () => {
      // Every statement the queue prepares from here on (each SQL text once: they are cached).
      const connection = sqliteConnection(m.ctx.db)!;
      const { sources: prepared } = recordPrepared(connection);
      const later = await m.queue.enqueue({
        queue: "q",
        payload: {},
        runAt: new Date(m.ctx.now().getTime() + 60_000),
      });
      prepared.length = 0;
      assert.equal(await m.queue.lease("w", ["q"], 10_000), undefined);
      assert.equal(await m.queue.lease("w", ["other"], 10_000), undefined);
      assert.ok(
        prepared.every((source) => !/^update/i.test(source.trim())),
        `an idle poll ran: ${prepared.join("; ")}`,
      );
      m.advance(61_000);
      assert.equal((await m.queue.lease("w", ["q"], 10_000))?.id, later.id);
      assert.ok(prepared.some((source) => /^update "jobs"/i.test(source.trim())));
    },
  );
});

describe("GraphileJobQueue", { skip: !postgres && "graphile-worker is Postgres's" }, () => {
  it("feeds the queue gauges from graphile-worker's jobs, not the jobs table", async () => {
    const { m } = await graphileContext();
    try {
      const metrics = new PlatformMetrics({ db: m.ctx.db, dueJobs: () => m.queue.dueJobs() });
      await m.queue.enqueue({ queue: "build", payload: {} });
      const depth = await metrics.registry.getSingleMetricAsString("slipway_queue_depth");
      assert.match(depth, /^slipway_queue_depth\{queue="build"\} 1$/m);
    } finally {
      await m.close();
    }
  });

  it("installs graphile-worker's schema only under the nodes' migration lock", async () => {
    const { m, url } = await graphileContext();
    const db = m.ctx.db as Kysely<unknown>;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let taken!: () => void;
    const lockTaken = new Promise<void>((resolve) => (taken = resolve));
    // Another node, migrating.
    const otherNode = withMigrationLock(db, async () => {
      taken();
      await held;
    });
    try {
      await lockTaken;
      let opened = false;
      const opening = openJobQueue(m.ctx.db, url, silent, { listen: false }).then(() => {
        opened = true;
      });
      await waitUntil(async () => {
        const { rows } = await sql`select 1 from pg_locks where locktype = 'advisory'
          and not granted and database = (select oid from pg_database
            where datname = current_database())`.execute(db);
        return rows.length > 0;
      }, "the queue's schema installation to wait for the lock");
      assert.equal(opened, false);
      release();
      await opening;
      assert.equal(opened, true);
    } finally {
      release();
      await otherNode;
      await m.close();
    }
  });

  it("wakes another node's subscribed workers when a job is enqueued there", async () => {
    const { m, url } = await graphileContext();
    const otherNode = new GraphileJobQueue(m.ctx.db, m.ctx.now, { listen: { url, log: silent } });
    let woken = 0;
    const unsubscribe = otherNode.onWake(() => woken++);
    try {
      await waitUntil(async () => {
        const { rows } = await sql`select 1 from pg_stat_activity
          where datname = current_database() and query like 'LISTEN%'`.execute(m.ctx.db);
        return rows.length > 0;
      }, "the other node to listen");
      await m.queue.enqueue({ queue: "q", payload: {} });
      await waitUntil(() => woken > 0, "the other node's workers to be woken");
      assert.ok(woken > 0);
    } finally {
      unsubscribe();
      await m.close();
    }
  });
});

describe("startWorkerPool when idle", () => {
  it("polls with one worker while the others wait for a wake-up", async () => {
    const m = await memoryContext();
    const callers: string[] = [];
    const queue = Object.create(m.queue) as typeof m.queue;
    // The worker's index is the owner's `/<index>.` part: record who asks.
    queue.lease = (owner, queues, leaseMs) => {
      callers.push(/\/(\d+)\.\d+$/.exec(owner)![1]!);
      return m.queue.lease(owner, queues, leaseMs);
    };
    const pool = startWorkerPool({
      queue,
      count: 4,
      log: silent,
      pollMs: 20,
      handlers: { q: { run: async () => "done" } },
    });
    try {
      await waitUntil(() => callers.length >= 4 + 5, "five polls after the first round");
      const afterFirstRound = callers.slice(4, 9);
      assert.equal(new Set(afterFirstRound).size, 1, `polled by ${afterFirstRound.join(", ")}`);
      // An enqueue wakes them all, and the job runs.
      const { id } = await m.queue.enqueue({ queue: "q", payload: {} });
      m.queue.wake();
      await waitUntil(
        async () =>
          (
            await m.ctx.db
              .selectFrom("jobs")
              .select("state")
              .where("id", "=", id)
              .executeTakeFirst()
          )?.state === "completed",
        "the job to run",
      );
    } finally {
      await pool.stop();
      await m.close();
    }
  });
});

describe("startWorkerPool retries", () => {
  it("retries a failing job later each time: 5 s, then 10 s, until its attempts run out", async () => {
    const m = await memoryContext();
    let runs = 0;
    const pool = startWorkerPool({
      queue: m.queue,
      count: 1,
      log: silent,
      pollMs: 10,
      handlers: {
        q: {
          run: async () => {
            runs++;
            throw new Error("the provider answered 502");
          },
        },
      },
    });
    const row = (id: number) =>
      m.ctx.db
        .selectFrom("jobs")
        .select(["state", "attempts", "run_at"])
        .where("id", "=", id)
        .executeTakeFirstOrThrow();
    try {
      const { id } = await m.queue.enqueue({ queue: "q", payload: {}, maxAttempts: 3 });
      m.queue.wake();
      for (const [attempt, delayMs] of [
        [1, 5_000],
        [2, 10_000],
      ] as const) {
        await waitUntil(
          async () => (await row(id)).attempts === attempt && runs === attempt,
          `attempt ${attempt}`,
        );
        await waitUntil(async () => (await row(id)).state === "pending", "the job to wait");
        const waiting = await row(id);
        assert.equal(Date.parse(waiting.run_at) - m.ctx.now().getTime(), delayMs);
        m.advance(delayMs);
        m.queue.wake();
      }
      await waitUntil(async () => (await row(id)).state === "failed", "the last attempt to fail");
      assert.equal(runs, 3);
    } finally {
      await pool.stop();
      await m.close();
    }
  });
});
