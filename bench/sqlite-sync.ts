/**
 * What `synchronous = FULL` costs a SQLite commit in WAL mode on this disk, against the NORMAL
 * the databases run with (src/lib/database.ts): N one-row transactions through Kysely, each
 * way, alternating every round; medians of µs per commit. FULL syncs the WAL at every commit,
 * so an acknowledged write survives a power cut; it is why only `durableTransaction` (the
 * commits that acknowledge a push, a deploy or a publish) uses it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { durableTransaction, openSqlite } from "../src/lib/database.ts";
import type { Benchmark, BenchOptions } from "./lib/options.ts";
import { formatRatio, formatSummary, renderTable, summarize } from "./lib/stats.ts";

interface Schema {
  acks: { id: number; body: string };
}

export const sqliteSync: Benchmark = {
  name: "sqlite",
  aliases: ["sqlite-sync", "durability"],
  description: "µs per SQLite commit (WAL) with synchronous NORMAL vs FULL, same run",
  flags: [
    { flag: "commits", value: "N", env: "BENCH_SQLITE_COMMITS", help: "per round (default 500)" },
    { flag: "sqlite-rounds", value: "N", env: "BENCH_SQLITE_ROUNDS", help: "default 5" },
  ],
  run: runSqliteSync,
};

async function runSqliteSync(options: BenchOptions): Promise<void> {
  const commits = options.int("commits", "BENCH_SQLITE_COMMITS", 500);
  const rounds = options.int("sqlite-rounds", "BENCH_SQLITE_ROUNDS", 5);
  // Under the data directory's disk, not a tmpfs: /tmp is the default; BENCH_SQLITE_DIR moves it.
  const dir = await mkdtemp(join(process.env.BENCH_SQLITE_DIR ?? tmpdir(), "slipway-sqlite-"));
  const db = openSqlite<Schema>(join(dir, "bench.sqlite3"));
  try {
    await db.schema
      .createTable("acks")
      .addColumn("id", "integer", (c) => c.primaryKey())
      .addColumn("body", "text", (c) => c.notNull())
      .execute();
    const body = "x".repeat(200);
    const samples = { NORMAL: [] as number[], FULL: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      for (const mode of round % 2 === 0
        ? (["NORMAL", "FULL"] as const)
        : (["FULL", "NORMAL"] as const)) {
        const started = process.hrtime.bigint();
        for (let i = 0; i < commits; i++) {
          const insert = (trx: typeof db) =>
            trx
              .insertInto("acks")
              .values({ id: sql<number>`NULL`, body })
              .execute();
          if (mode === "FULL") await durableTransaction(db, insert);
          else await db.transaction().execute(insert);
        }
        const micros = Number(process.hrtime.bigint() - started) / 1000 / commits;
        samples[mode].push(micros);
      }
    }
    const normal = summarize(samples.NORMAL);
    const full = summarize(samples.FULL);
    console.log(
      renderTable(
        ["synchronous", "µs per commit, median (min–max)", "÷ NORMAL"],
        [
          ["NORMAL", formatSummary(normal), "1.00×"],
          ["FULL (durableTransaction)", formatSummary(full), formatRatio(full, normal)],
        ],
      ),
    );
    console.log(`${rounds} rounds × ${commits} one-row transactions each, in ${dir}`);
  } finally {
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}
