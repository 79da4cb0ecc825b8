import { sql, type Kysely } from "kysely";
import type { CollectableBlobStore } from "../deploys/collectable-blobs.ts";
import type { BlobStore } from "../deploys/blob-store.ts";
import type { ManifestStore } from "../deploys/manifest.ts";
import type { PlatformDatabase } from "../db/schema.ts";
import type { JobQueue } from "../jobs/queue.ts";

/**
 * Moves an embedded install (SQLite + local disk) to the scale-out engines (PostgreSQL and,
 * optionally, an S3 bucket): `slipway migrate-to`. Run with Slipway stopped.
 *
 * Order makes a failure harmless: blobs and manifests first (a bucket with extra objects is
 * what a crash during any upload leaves, and the collector removes them), then every table in
 * one Postgres transaction, checked row for row before it commits — so the target either has
 * the whole install or nothing of it, and the command can simply run again.
 *
 * Jobs are not copied as rows: the queue on Postgres may be another implementation of
 * `JobQueue`, so work still pending (or running when the install stopped) is enqueued again
 * through the target's queue; finished jobs' history stays behind.
 */

export interface SourceInstall {
  db: Kysely<PlatformDatabase>;
  blobs: CollectableBlobStore;
  manifests: ManifestStore;
}

export interface TargetInstall {
  db: Kysely<PlatformDatabase>;
  jobs: JobQueue;
  /** Undefined: the blobs stay where they are (the same disk, shared by the nodes). */
  blobs?: BlobStore;
  manifests?: ManifestStore;
}

export interface MigrationReport {
  tables: { name: string; rows: number }[];
  jobsRequeued: number;
  blobsCopied: number;
  blobsPresent: number;
  blobBytesCopied: number;
  manifestsCopied: number;
}

export class MigrationRefusedError extends Error {}

/** Tables whose rows are not copied as they are (see the module comment). */
const NOT_COPIED = new Set(["jobs"]);
/** Rows per INSERT: well under Postgres's 65,535 parameters for the widest table. */
const BATCH_ROWS = 500;
const PARALLEL_UPLOADS = 8;

export async function migrateInstall(
  source: SourceInstall,
  target: TargetInstall,
  onProgress: (line: string) => void = () => undefined,
): Promise<MigrationReport> {
  await refuseNonEmptyTarget(target.db);
  const report: MigrationReport = {
    tables: [],
    jobsRequeued: 0,
    blobsCopied: 0,
    blobsPresent: 0,
    blobBytesCopied: 0,
    manifestsCopied: 0,
  };
  if (target.blobs) await copyBlobs(source.blobs, target.blobs, report, onProgress);
  if (target.manifests) await copyManifests(source, target.manifests, report, onProgress);

  const tables = await tablesInDependencyOrder(source.db);
  await target.db.transaction().execute(async (trx) => {
    for (const table of tables) {
      if (NOT_COPIED.has(table)) continue;
      const rows = await copyTable(source.db, trx, table);
      report.tables.push({ name: table, rows });
      onProgress(`${table}: ${rows} rows`);
    }
    await advanceSequences(trx);
    report.jobsRequeued = await requeueOpenJobs(source.db, trx, target.jobs);
    onProgress(`jobs: ${report.jobsRequeued} pending or running enqueued again`);
  });
  return report;
}

async function refuseNonEmptyTarget(db: Kysely<PlatformDatabase>): Promise<void> {
  const { count } = await db
    .selectFrom("users")
    .select((eb) => eb.fn.countAll<number>().as("count"))
    .executeTakeFirstOrThrow();
  if (Number(count) > 0) {
    throw new MigrationRefusedError(
      `the target database already holds Slipway data (${count} users): migrate-to only fills an empty database`,
    );
  }
}

/** SQLite's tables, each after the tables its foreign keys point to. */
async function tablesInDependencyOrder(db: Kysely<PlatformDatabase>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select name from sqlite_master
    where type = 'table' and name not like 'sqlite_%' and name not like 'kysely_%'
    order by name`.execute(db);
  const names = rows.map((row) => row.name);
  const dependsOn = new Map<string, string[]>();
  for (const name of names) {
    const { rows: keys } = await sql<{
      table: string;
    }>`select "table" from pragma_foreign_key_list(${name})`.execute(db);
    dependsOn.set(
      name,
      keys.map((key) => key.table).filter((other) => other !== name),
    );
  }
  const ordered: string[] = [];
  const visiting = new Set<string>();
  const visit = (name: string): void => {
    if (ordered.includes(name)) return;
    if (visiting.has(name)) throw new Error(`foreign keys form a cycle through ${name}`);
    visiting.add(name);
    for (const other of dependsOn.get(name) ?? []) visit(other);
    visiting.delete(name);
    ordered.push(name);
  };
  for (const name of names) visit(name);
  return ordered;
}

/** Copies one table in rowid order, in batches; the number of rows. */
async function copyTable(
  from: Kysely<PlatformDatabase>,
  to: Kysely<PlatformDatabase>,
  table: string,
): Promise<number> {
  let last = -Infinity;
  let copied = 0;
  for (;;) {
    const { rows } = await sql<Record<string, unknown> & { _rowid: number }>`
      select rowid as _rowid, * from ${sql.table(table)}
      where rowid > ${last === -Infinity ? Number.MIN_SAFE_INTEGER : last}
      order by rowid limit ${BATCH_ROWS}`.execute(from);
    if (rows.length === 0) break;
    last = rows[rows.length - 1]!._rowid;
    const values = rows.map(({ _rowid: _ignored, ...row }) => row);
    // The table's name comes from SQLite's catalogue, not from a user: the dynamic name is safe.
    await to
      .insertInto(table as keyof PlatformDatabase)
      .values(values as never)
      .execute();
    copied += rows.length;
  }
  const { count } = await to
    .selectFrom(table as keyof PlatformDatabase)
    .select((eb) => eb.fn.countAll<number>().as("count"))
    .executeTakeFirstOrThrow();
  if (Number(count) !== copied) {
    throw new Error(`${table}: ${copied} rows read, ${count} in the target`);
  }
  return copied;
}

/** Moves every serial column's sequence past the ids copied, so new rows do not collide. */
async function advanceSequences(db: Kysely<PlatformDatabase>): Promise<void> {
  const { rows } = await sql<{ table_name: string; column_name: string }>`
    select table_name, column_name from information_schema.columns
    where table_schema = current_schema() and column_default like 'nextval(%'`.execute(db);
  for (const { table_name: table, column_name: column } of rows) {
    await sql`select setval(pg_get_serial_sequence(${table}, ${column}),
      coalesce((select max(${sql.ref(column)}) from ${sql.table(table)}), 0) + 1, false)`.execute(
      db,
    );
  }
}

async function requeueOpenJobs(
  from: Kysely<PlatformDatabase>,
  trx: Kysely<PlatformDatabase>,
  jobs: JobQueue,
): Promise<number> {
  const open = await from
    .selectFrom("jobs")
    .selectAll()
    .where("state", "in", ["pending", "running"])
    .orderBy("id")
    .execute();
  for (const job of open) {
    await jobs.enqueue(
      {
        queue: job.queue,
        payload: JSON.parse(job.payload) as Record<string, unknown>,
        concurrencyKey: job.concurrency_key,
        dedupeKey: job.dedupe_key,
        maxAttempts: job.max_attempts,
        priority: job.priority,
        runAt: new Date(job.run_at),
      },
      trx,
    );
  }
  return open.length;
}

async function copyBlobs(
  from: CollectableBlobStore,
  to: BlobStore,
  report: MigrationReport,
  onProgress: (line: string) => void,
): Promise<void> {
  const copyOne = async (sha1: string): Promise<void> => {
    if (await to.has(sha1)) {
      report.blobsPresent++;
      return;
    }
    // The target checks the bytes against the name as it stores them.
    const { size } = await to.put(sha1, await from.read(sha1));
    report.blobsCopied++;
    report.blobBytesCopied += size;
    if (report.blobsCopied % 1000 === 0) onProgress(`blobs: ${report.blobsCopied} copied`);
  };
  const running = new Set<Promise<void>>();
  for await (const { sha1 } of from.list()) {
    const task = copyOne(sha1).finally(() => running.delete(task));
    running.add(task);
    if (running.size >= PARALLEL_UPLOADS) await Promise.race(running);
  }
  await Promise.all(running);
  onProgress(`blobs: ${report.blobsCopied} copied, ${report.blobsPresent} already there`);
}

async function copyManifests(
  source: SourceInstall,
  to: ManifestStore,
  report: MigrationReport,
  onProgress: (line: string) => void,
): Promise<void> {
  const deploys = await source.db.selectFrom("deploys").select("id").orderBy("id").execute();
  for (const { id } of deploys) {
    const manifest = await source.manifests.get(id);
    if (manifest === undefined) continue; // a deploy that never got files, or expired
    await to.put(id, manifest);
    report.manifestsCopied++;
  }
  onProgress(`manifests: ${report.manifestsCopied} copied`);
}
