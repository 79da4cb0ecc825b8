import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { createLogger } from "../../src/lib/logger.ts";
import { leaseFence } from "../../src/platform/jobs/queue.ts";
import { LEASE_LOST, startWorkerPool } from "../../src/platform/jobs/workers.ts";
import type { MemoryContext } from "./memory-ctx.ts";
import { waitUntil } from "./wait.ts";

/**
 * What every `JobQueue` promises, run against each implementation (`SqlJobQueue` on SQLite and
 * Postgres, `GraphileJobQueue` on Postgres): only through the interface, so that the same
 * assertions hold whatever tables a queue keeps. `open` gives a fresh context whose `queue` is
 * the implementation under test and whose clock the test moves.
 */
export function jobQueueContract(name: string, open: () => Promise<MemoryContext>): void {
  describe(`${name}: the JobQueue contract`, () => {
    let m: MemoryContext;
    beforeEach(async () => {
      m = await open();
    });
    afterEach(async () => {
      await m.close();
    });

    it("stores a job once per dedupe key while it is pending or running, and again afterwards", async () => {
      const a = await m.queue.enqueue({ queue: "q", payload: { n: 1 }, dedupeKey: "k" });
      const b = await m.queue.enqueue({ queue: "q", payload: { n: 2 }, dedupeKey: "k" });
      assert.equal(a.created, true);
      assert.deepEqual(b, { id: a.id, created: false });

      const job = await m.queue.lease("w1", ["q"], 10_000);
      assert.equal(job?.id, a.id);
      assert.deepEqual(job?.payload, { n: 1 });
      const c = await m.queue.enqueue({ queue: "q", payload: { n: 3 }, dedupeKey: "k" });
      assert.deepEqual(c, { id: a.id, created: false }, "running holds the key too");

      assert.equal(await m.queue.complete(a.id, "w1"), true);
      const d = await m.queue.enqueue({ queue: "q", payload: { n: 4 }, dedupeKey: "k" });
      assert.equal(d.created, true);
      assert.notEqual(d.id, a.id);
    });

    it("frees a dedupe key once its job failed for good", async () => {
      const { id } = await m.queue.enqueue({
        queue: "q",
        payload: { n: 1 },
        dedupeKey: "f",
        maxAttempts: 1,
      });
      await m.queue.lease("w", ["q"], 1000);
      assert.equal(await m.queue.fail(id, "w", "boom"), "failed");
      assert.equal((await m.queue.findByDedupeKey("f"))?.state, "failed");
      const again = await m.queue.enqueue({ queue: "q", payload: { n: 2 }, dedupeKey: "f" });
      assert.equal(again.created, true);
      const job = await m.queue.lease("w", ["q"], 1000);
      assert.deepEqual(job?.payload, { n: 2 });
    });

    it("runs one job per concurrency key at a time, other keys in parallel, oldest first", async () => {
      const s1a = await m.queue.enqueue({ queue: "q", payload: {}, concurrencyKey: "site:1" });
      const s1b = await m.queue.enqueue({ queue: "q", payload: {}, concurrencyKey: "site:1" });
      const s2 = await m.queue.enqueue({ queue: "q", payload: {}, concurrencyKey: "site:2" });

      assert.equal((await m.queue.lease("w1", ["q"], 10_000))?.id, s1a.id);
      assert.equal((await m.queue.lease("w2", ["q"], 10_000))?.id, s2.id, "site 1 is busy");
      assert.equal(await m.queue.lease("w3", ["q"], 10_000), undefined);

      await m.queue.complete(s1a.id, "w1");
      assert.equal((await m.queue.lease("w3", ["q"], 10_000))?.id, s1b.id);
    });

    it("gives one job of a key to one of several workers leasing at the same moment", async () => {
      for (let i = 0; i < 4; i++) {
        await m.queue.enqueue({ queue: "q", payload: { i }, concurrencyKey: "site:1" });
      }
      const leased = await Promise.all(
        Array.from({ length: 4 }, (_, i) => m.queue.lease(`w${i}`, ["q"], 10_000)),
      );
      assert.equal(leased.filter((job) => job !== undefined).length, 1);
    });

    it("runs the higher priority first", async () => {
      await m.queue.enqueue({ queue: "q", payload: {} });
      const urgent = await m.queue.enqueue({ queue: "q", payload: {}, priority: 5 });
      assert.equal((await m.queue.lease("w", ["q"], 1000))?.id, urgent.id);
    });

    it("leases only the queues asked for and only due jobs", async () => {
      await m.queue.enqueue({ queue: "other", payload: {} });
      const later = await m.queue.enqueue({
        queue: "q",
        payload: {},
        runAt: new Date(m.ctx.now().getTime() + 5000),
      });
      assert.equal(await m.queue.lease("w", ["q"], 1000), undefined);
      m.advance(5000);
      assert.equal((await m.queue.lease("w", ["q"], 1000))?.id, later.id);
    });

    it("gives an expired lease's job to another worker, then fails it when attempts run out", async () => {
      const { id } = await m.queue.enqueue({
        queue: "q",
        payload: {},
        concurrencyKey: "site:1",
        maxAttempts: 2,
      });
      const first = await m.queue.lease("crashed", ["q"], 1000);
      assert.equal(first?.attempt, 1);
      m.advance(500);
      assert.equal(await m.queue.heartbeat(id, "crashed", 1000), true, "heartbeat extends");
      m.advance(900);
      assert.deepEqual(await m.queue.reclaimExpired(), [], "not expired yet");
      m.advance(200);
      const reclaimed = await m.queue.reclaimExpired();
      assert.deepEqual(
        reclaimed.map((r) => [r.job.id, r.outcome]),
        [[id, "requeued"]],
      );
      // The crashed worker's late calls are refused: the job is no longer its own.
      assert.equal(await m.queue.heartbeat(id, "crashed", 1000), false);
      assert.equal(await m.queue.complete(id, "crashed"), false);

      const second = await m.queue.lease("w2", ["q"], 1000);
      assert.equal(second?.id, id);
      assert.equal(second?.attempt, 2);
      m.advance(2000);
      const failed = await m.queue.reclaimExpired();
      assert.deepEqual(
        failed.map((r) => [r.job.id, r.outcome]),
        [[id, "failed"]],
      );
      assert.equal(await m.queue.lease("w3", ["q"], 1000), undefined);
    });

    it("frees the concurrency key of an expired lease", async () => {
      const { id } = await m.queue.enqueue({ queue: "q", payload: {}, concurrencyKey: "k" });
      const next = await m.queue.enqueue({ queue: "q", payload: {}, concurrencyKey: "k" });
      await m.queue.lease("crashed", ["q"], 1000);
      m.advance(1001);
      await m.queue.reclaimExpired();
      // The reclaimed job is due again and first in its key's order.
      assert.equal((await m.queue.lease("w2", ["q"], 1000))?.id, id);
      assert.equal(await m.queue.complete(id, "w2"), true);
      assert.equal((await m.queue.lease("w3", ["q"], 1000))?.id, next.id);
    });

    it("retries a failed job after a delay while attempts remain, then fails it for good", async () => {
      const { id } = await m.queue.enqueue({
        queue: "q",
        payload: {},
        maxAttempts: 2,
        dedupeKey: "r",
      });
      await m.queue.lease("w", ["q"], 1000);
      assert.equal(await m.queue.fail(id, "w", "boom", { retryInMs: 3000 }), "retrying");
      assert.equal(await m.queue.lease("w", ["q"], 1000), undefined, "not before the delay");
      m.advance(3000);
      assert.equal((await m.queue.lease("w", ["q"], 1000))?.attempt, 2);
      assert.equal(await m.queue.fail(id, "w", "boom again"), "failed");
      const row = await m.queue.findByDedupeKey("r");
      assert.equal(row?.state, "failed");
      assert.equal(row?.last_error, "boom again");
      assert.equal(await m.queue.fail(id, "w", "late"), "lease_lost");
    });

    it("gives a released job back at once without counting the attempt", async () => {
      const { id } = await m.queue.enqueue({ queue: "q", payload: {}, dedupeKey: "r" });
      await m.queue.lease("w", ["q"], 60_000);
      await m.queue.release(id, "w");
      const again = await m.queue.lease("w2", ["q"], 60_000);
      assert.equal(again?.id, id);
      assert.equal(again?.attempt, 1);
    });

    it("fences a delivery: held while running under its owner and attempt, not after expiry or re-lease", async () => {
      const { id } = await m.queue.enqueue({ queue: "q", payload: {} });
      const first = await m.queue.lease("pool/0.1", ["q"], 1000);
      assert.ok(first);
      assert.equal(await m.queue.holds(leaseFence(first)), true);
      m.advance(1001);
      assert.equal(await m.queue.holds(leaseFence(first)), false, "expired, not yet reclaimed");
      await m.queue.reclaimExpired();
      // The same owner name leasing the job again is another delivery (attempt 2).
      const second = await m.queue.lease("pool/0.1", ["q"], 1000);
      assert.equal(second?.id, id);
      assert.equal(await m.queue.holds(leaseFence(first)), false);
      assert.equal(await m.queue.holds(leaseFence(second!)), true);
      assert.equal(await m.queue.complete(id, "pool/0.1"), true);
      assert.equal(await m.queue.holds(leaseFence(second!)), false, "completed");
    });

    it("enqueues and fences inside the caller's transaction, which rolls back with it", async () => {
      await m.ctx.db
        .transaction()
        .execute(async (trx) => {
          await m.queue.enqueue({ queue: "q", payload: {}, dedupeKey: "t" }, trx);
          throw new Error("rolled back");
        })
        .catch(() => undefined);
      assert.equal(await m.queue.findByDedupeKey("t"), undefined);
      await m.ctx.db.transaction().execute(async (trx) => {
        await m.queue.enqueue({ queue: "q", payload: {}, dedupeKey: "t" }, trx);
      });
      const job = await m.queue.lease("w", ["q"], 1000);
      assert.ok(job);
      const held = await m.ctx.db
        .transaction()
        .execute((trx) => m.queue.holds(leaseFence(job), trx));
      assert.equal(held, true);
    });

    it("reports the due jobs not yet taken, per queue, with the oldest's due time", async () => {
      const due = m.ctx.now().toISOString();
      await m.queue.enqueue({ queue: "q", payload: {} });
      m.advance(1000);
      await m.queue.enqueue({ queue: "q", payload: {} });
      await m.queue.enqueue({ queue: "other", payload: {} });
      await m.queue.enqueue({
        queue: "q",
        payload: {},
        runAt: new Date(m.ctx.now().getTime() + 1),
      });
      const taken = await m.queue.enqueue({ queue: "taken", payload: {} });
      assert.equal((await m.queue.lease("w", ["taken"], 1000))?.id, taken.id);
      const rows = (await m.queue.dueJobs()).sort((a, b) => a.queue.localeCompare(b.queue));
      assert.deepEqual(
        rows.map((row) => [row.queue, row.count, new Date(row.oldestDueAt).toISOString()]),
        [
          ["other", 1, new Date(Date.parse(due) + 1000).toISOString()],
          ["q", 2, due],
        ],
      );
    });

    it("cancels pending jobs by dedupe key, never a running one", async () => {
      await m.queue.enqueue({ queue: "q", payload: {}, dedupeKey: "p" });
      assert.equal(await m.queue.cancelPending("p", "superseded"), 1);
      assert.equal(await m.queue.lease("w", ["q"], 1000), undefined);
      const { id } = await m.queue.enqueue({ queue: "q", payload: {}, dedupeKey: "p" });
      await m.queue.lease("w", ["q"], 1000);
      assert.equal(await m.queue.cancelPending("p", "too late"), 0);
      const job = await m.queue.findByDedupeKey("p");
      assert.equal(job?.id, id);
      assert.equal(job?.state, "running");
    });
  });

  describe(`${name}: the worker pool on it`, () => {
    it("gives a job up when its heartbeats fail twice in a row, and leaves it to the lease's expiry", async () => {
      const m = await open();
      let beats = 0;
      let reason: unknown;
      const pool = startWorkerPool({
        queue: m.queue,
        count: 1,
        log: createLogger({ name: "test", level: "silent" }),
        pollMs: 10,
        // Beats every second: the second failure comes a whole second before the lease's end,
        // so a slow machine's late timer cannot end the lease first (with 1 beat seen).
        leaseMs: 3000,
        heartbeat: async () => {
          beats++;
          throw new Error("the database cannot be reached");
        },
        handlers: {
          q: {
            run: async (_job, signal) => {
              await new Promise<void>((resolve) =>
                signal.addEventListener("abort", () => resolve()),
              );
              reason = signal.reason;
              return "done";
            },
          },
        },
      });
      try {
        await m.queue.enqueue({ queue: "q", payload: {}, dedupeKey: "h" });
        m.queue.wake();
        await waitUntil(() => reason !== undefined, "the handler to be stopped", 10_000);
        assert.equal(reason, LEASE_LOST);
        assert.equal(beats, 2);
        const job = await m.queue.findByDedupeKey("h");
        assert.deepEqual(
          { state: job?.state, attempts: job?.attempts },
          { state: "running", attempts: 1 },
          "not completed by a lost lease",
        );
      } finally {
        await pool.stop();
        await m.close();
      }
    });

    it("runs different keys in parallel and one key serially, and hands back leases on stop", async () => {
      const m = await open();
      // Real time for the pool; the queue's clock only stamps rows.
      const running = new Map<string, number>();
      let maxPerKey = 0;
      let maxTotal = 0;
      const done: string[] = [];
      const pool = startWorkerPool({
        queue: m.queue,
        count: 3,
        log: createLogger({ name: "test", level: "silent" }),
        pollMs: 10,
        leaseMs: 60_000,
        handlers: {
          q: {
            run: async (job, signal) => {
              const { key, name } = job.payload as { key: string; name: string };
              running.set(key, (running.get(key) ?? 0) + 1);
              maxPerKey = Math.max(maxPerKey, running.get(key)!);
              maxTotal = Math.max(
                maxTotal,
                [...running.values()].reduce((a, b) => a + b, 0),
              );
              if (name === "blocker") {
                await new Promise<void>((resolve) =>
                  signal.addEventListener("abort", () => resolve()),
                );
                running.set(key, running.get(key)! - 1);
                return "released";
              }
              await new Promise((resolve) => setTimeout(resolve, 30));
              running.set(key, running.get(key)! - 1);
              done.push(name);
              return "done";
            },
          },
        },
      });
      try {
        for (const [key, name] of [
          ["a", "a1"],
          ["a", "a2"],
          ["b", "b1"],
          ["c", "c1"],
          ["a", "a3"],
        ]) {
          await m.queue.enqueue({ queue: "q", payload: { key, name }, concurrencyKey: key });
        }
        m.queue.wake();
        await waitUntil(() => done.length >= 5, "five jobs to finish", 5000);
        assert.equal(done.length, 5);
        assert.deepEqual(
          done.filter((n) => n.startsWith("a")),
          ["a1", "a2", "a3"],
          "one key runs in order",
        );
        assert.equal(maxPerKey, 1);
        assert.ok(maxTotal >= 2, "keys ran in parallel");

        await m.queue.enqueue({
          queue: "q",
          payload: { key: "z", name: "blocker" },
          concurrencyKey: "z",
          dedupeKey: "blocker",
        });
        m.queue.wake();
        await waitUntil(() => running.get("z") === 1, "the blocker to start");
      } finally {
        await pool.stop();
      }
      const job = await m.queue.findByDedupeKey("blocker");
      assert.deepEqual(
        { state: job?.state, attempts: job?.attempts, owner: job?.lease_owner },
        { state: "pending", attempts: 0, owner: null },
      );
      await m.close();
    });
  });
}
