/**
 * One worker process of `bench/queue.ts`: the platform's job queue (`openJobQueue`: graphile-
 * worker's on Postgres, the jobs table on SQLite) and worker pool, as `slipway worker` runs
 * them, with one handler standing in for a trivial build (it waits `workMs`). Prints `ready`,
 * then one JSON line per job it ran: `{ "id", "enqueuedAt", "startedAt", "finishedAt" }` (epoch ms).
 *
 *   node --import tsx bench/lib/queue-worker.ts <sqlite-path | postgres://…> <workMs>
 */
import { migrate, openDatabase } from "../../src/lib/database.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { platformMigrations } from "../../src/platform/db/migrations.ts";
import type { PlatformDatabase } from "../../src/platform/db/schema.ts";
import { openJobQueue } from "../../src/platform/jobs/open-queue.ts";
import { startWorkerPool } from "../../src/platform/jobs/workers.ts";
import { BENCH_QUEUE, trivialBuild } from "./trivial-build.ts";

const [target = "", workArg = "0"] = process.argv.slice(2);
const workMs = Number(workArg);
const databaseUrl = target.startsWith("postgres") ? target : undefined;
const log = createLogger({ name: "bench-queue-worker", level: "warn" });
const db = openDatabase<PlatformDatabase>({ url: databaseUrl, sqlitePath: target });
await migrate(db, platformMigrations);
const queue = await openJobQueue(db, databaseUrl, log);
const pool = startWorkerPool({
  queue,
  count: 1,
  log,
  handlers: {
    [BENCH_QUEUE]: trivialBuild(workMs, (ran) => process.stdout.write(`${JSON.stringify(ran)}\n`)),
  },
});
process.stdout.write("ready\n");
process.on("SIGTERM", () => {
  void pool
    .stop()
    .then(() => db.destroy())
    .finally(() => process.exit(0));
});
