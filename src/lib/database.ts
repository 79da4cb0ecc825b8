import { mkdirSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import {
  Kysely,
  Migrator,
  sql,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type Migration,
  type MigrationProvider,
  type SqliteDialectConfig,
  type Transaction,
} from "kysely";
import { isPostgres, openPostgres, withMigrationLock } from "./postgres.ts";
import { GroupSync } from "./group-sync.ts";
import { cachingStatements } from "./sqlite-statements.ts";
import { WalCheckpointer } from "./wal-checkpointer.ts";

/**
 * Opens a service's database: PostgreSQL when `url` (`postgres://…`) is given, else the
 * embedded SQLite file at `sqlitePath`.
 */
export function openDatabase<Schema>(
  options: {
    url: string | undefined;
    sqlitePath: string;
  } & SqliteOptions,
): Kysely<Schema> {
  return options.url !== undefined
    ? openPostgres<Schema>(options.url)
    : openSqlite<Schema>(options.sqlitePath, options);
}

export interface SqliteOptions {
  /**
   * Checkpoint the WAL from a worker thread instead of inside the commit that crosses SQLite's
   * 1,000 pages (`WalCheckpointer`): for a database with a hot write path on the event loop
   * (the platform's webhook intake). Others keep SQLite's own checkpoints and no thread.
   */
  backgroundCheckpoints?: boolean;
}

/**
 * Opens an embedded SQLite database for Kysely. Only this module knows it is SQLite: the
 * services speak Kysely's query builder, so a Postgres dialect can take its place.
 */
export function openSqlite<Schema>(path: string, options: SqliteOptions = {}): Kysely<Schema> {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const database = new SQLite(path);
  database.pragma("journal_mode = WAL");
  // NORMAL in WAL mode never corrupts, but a power cut can lose the last commits. FULL syncs the
  // WAL at every commit: 1.3 ms a commit on this disk against 0.04 ms (30×), too much for build
  // logs, heartbeats and per-file upload rows, so only `durableTransaction` pays it.
  database.pragma("synchronous = NORMAL");
  database.pragma("foreign_keys = ON");
  database.pragma("busy_timeout = 5000");
  const statements = cachingStatements(database);
  let checkpointer: WalCheckpointer | undefined;
  const wal = path === ":memory:" ? undefined : new WalFile(path);
  if (path !== ":memory:" && options.backgroundCheckpoints === true) {
    database.pragma("wal_autocheckpoint = 0");
    checkpointer = new WalCheckpointer(path, () => {
      // The background connection is gone: the writer checkpoints as SQLite does by default.
      if (database.open) database.pragma("wal_autocheckpoint = 1000");
    });
  }
  const db = new Kysely<Schema>({
    dialect: new PausableSqliteDialect(
      {
        database: {
          prepare: (sql) => statements.prepare(sql),
          close: () => {
            checkpointer?.stop();
            wal?.close();
            statements.close();
          },
        },
      },
      () => checkpointer?.writesPaused,
    ),
  });
  if (wal !== undefined) walSyncs.set(db, new GroupSync(() => wal.sync()));
  sqliteHandles.set(db, database);
  if (checkpointer !== undefined) checkpointers.set(db, checkpointer);
  return db;
}

/**
 * SQLite's dialect whose one connection is handed out only outside a WAL restart's pause
 * (`WalCheckpointer`): every query and transaction made through Kysely waits the few
 * milliseconds out, so the restart is not missed for a writer that did not know to wait.
 */
class PausableSqliteDialect extends SqliteDialect {
  constructor(
    private readonly sqliteConfig: SqliteDialectConfig,
    private readonly paused: () => Promise<void> | undefined,
  ) {
    super(sqliteConfig);
  }

  override createDriver(): Driver {
    return new PausableSqliteDriver(this.sqliteConfig, this.paused);
  }
}

class PausableSqliteDriver extends SqliteDriver {
  constructor(
    config: SqliteDialectConfig,
    private readonly paused: () => Promise<void> | undefined,
  ) {
    super(config);
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const paused = this.paused();
    if (paused !== undefined) await paused;
    return super.acquireConnection();
  }
}

const walSyncs = new WeakMap<object, GroupSync>();
const sqliteHandles = new WeakMap<object, SQLite.Database>();
const checkpointers = new WeakMap<object, WalCheckpointer>();

/** Whether `db`'s WAL is checkpointed by a worker thread (`SqliteOptions`). */
export function checkpointsInBackground<Schema>(db: Kysely<Schema>): boolean {
  return checkpointers.has(db);
}

/**
 * While the WAL is being started over (`WalCheckpointer`), a promise of the end of that pause
 * (a few milliseconds); undefined when writes may go on now. Kysely's queries wait for it on
 * their own; a writer that uses the connection directly (`sqliteConnection`: the webhook
 * intake's batches) begins its next transaction after it.
 */
export function walWritesPaused<Schema>(db: Kysely<Schema>): Promise<void> | undefined {
  return checkpointers.get(db)?.writesPaused;
}

/**
 * The better-sqlite3 connection under a SQLite `db` (undefined on Postgres), for a hot path that
 * runs its own prepared statements. It is Kysely's one connection: use it only while holding
 * it (`db.connection()`), or for a read when `inTransaction` is false (nothing uncommitted).
 */
export function sqliteConnection<Schema>(db: Kysely<Schema>): SQLite.Database | undefined {
  return sqliteHandles.get(db);
}

/**
 * Makes every commit made so far on `db` durable, the way `synchronous = FULL` would have at
 * each commit, but shared: concurrent acknowledgements (webhook deliveries) commit at NORMAL,
 * then wait here for one `fsync` of the WAL that covers all of them (group commit), off the
 * event loop. Commits a checkpoint already moved out of the WAL were synced by the checkpoint.
 * Postgres (and an in-memory database) has nothing to do.
 */
export function commitsDurable<Schema>(db: Kysely<Schema>): Promise<void> {
  return walSyncs.get(db)?.sync() ?? Promise.resolve();
}

/**
 * Syncs the WAL (one at a time: `GroupSync` calls it). The WAL stays open between syncs: it is
 * removed only when the last connection closes, and this process's own is open until `close`.
 */
class WalFile {
  private wal: FileHandle | undefined;
  private closed = false;

  constructor(private readonly path: string) {}

  async sync(): Promise<void> {
    if (this.wal === undefined) {
      const wal = await open(`${this.path}-wal`, "r").catch((error: NodeJS.ErrnoException) => {
        // No WAL (the last connection checkpointed and removed it): the commits are in the file.
        if (error.code === "ENOENT") return undefined;
        throw error;
      });
      if (wal === undefined) return syncFile(this.path);
      if (this.closed) {
        await wal.close();
        return;
      }
      this.wal = wal;
    }
    // fdatasync, as SQLite's own WAL syncs: the data and the size, not the times.
    await this.wal.datasync();
  }

  close(): void {
    this.closed = true;
    void this.wal?.close().catch(() => undefined);
    this.wal = undefined;
  }
}

async function syncFile(path: string): Promise<void> {
  const file = await open(path, "r");
  try {
    await file.sync();
  } finally {
    await file.close();
  }
}

/**
 * A transaction whose commit survives a power cut before it returns: for the writes that
 * acknowledge something to a client (a push recorded, a deploy ready, a publish). It commits
 * with `synchronous = FULL`, which syncs the whole WAL, so the earlier NORMAL commits the
 * acknowledgement builds on (the upload rows of a deploy, say) become durable with it. The one
 * connection is held throughout, so no other commit runs at FULL or this one at NORMAL.
 */
export async function durableTransaction<Schema, T>(
  db: Kysely<Schema>,
  work: (trx: Transaction<Schema>) => Promise<T>,
): Promise<T> {
  // Postgres syncs every commit already (`synchronous_commit` on, its default).
  if (isPostgres(db as Kysely<unknown>)) return db.transaction().execute(work);
  return db.connection().execute(async (connection) => {
    await sql`PRAGMA synchronous = FULL`.execute(connection);
    try {
      return await connection.transaction().execute(work);
    } finally {
      await sql`PRAGMA synchronous = NORMAL`.execute(connection);
    }
  });
}

/**
 * Brings the schema up to date with the given, in-code migrations (applied in name order). On
 * Postgres, under an advisory lock: several nodes may start at once.
 */
export async function migrate<Schema>(
  db: Kysely<Schema>,
  migrations: Record<string, Migration>,
): Promise<void> {
  const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations) };
  const run = async (): Promise<void> => {
    const { error } = await new Migrator({ db, provider }).migrateToLatest();
    if (error) throw error instanceof Error ? error : new Error(String(error));
  };
  const untyped = db as Kysely<unknown>;
  return isPostgres(untyped) ? withMigrationLock(untyped, run) : run();
}

/** Whether a database error is a unique-constraint violation (SQLite or Postgres). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === "SQLITE_CONSTRAINT_UNIQUE" ||
    code === "SQLITE_CONSTRAINT_PRIMARYKEY" ||
    code === "23505"
  );
}
