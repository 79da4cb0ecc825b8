import SQLite from "better-sqlite3";
import { existsSync } from "node:fs";
import { chmod, cp, mkdir, mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { loadConfig } from "../config.ts";
import { runChecked } from "../lib/run.ts";

/**
 * `slipway backup <file>` and `slipway restore <file>` for the embedded default: every SQLite
 * database copied with SQLite's online backup (consistent while Slipway runs), then the rest of
 * the data directory (deploy blobs, manifests, repositories, keys), into one tar file; restore
 * unpacks it into an empty data directory. Databases are copied first: blobs are only added
 * while the backup holds the garbage collector's lease (`holdCollector`), so every blob a copied
 * database names is in the files copied after it.
 */

const USAGE = `Usage: slipway backup <file.tar>    (while Slipway runs, or not)
       slipway restore <file.tar>   (into an empty SLIPWAY_DATA_DIR; then start Slipway)`;

type Env = Record<string, string | undefined>;

const isDatabase = (name: string): boolean => name.endsWith(".sqlite3");
const isDatabaseSidecar = (name: string): boolean => /\.sqlite3-(wal|shm|journal)$/.test(name);

async function databasesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && isDatabase(e.name))
    .map((e) => join(e.parentPath, e.name));
}

export async function backupCommand(
  args: readonly string[],
  env: Env = process.env,
): Promise<number> {
  const [target, ...rest] = args;
  if (target === undefined || target.startsWith("-") || rest.length > 0) {
    console.error(USAGE);
    return 2;
  }
  const dataDir = loadConfig(env).dataDir;
  if (!(await stat(dataDir).catch(() => undefined))?.isDirectory()) {
    console.error(
      `slipway backup: the data directory ${dataDir} does not exist (SLIPWAY_DATA_DIR)`,
    );
    return 1;
  }
  const file = resolve(target);
  const lease = holdCollector(join(dataDir, "platform", "platform.sqlite3"));
  if (typeof lease === "string") {
    console.error(`slipway backup: ${lease}`);
    return 1;
  }
  const staging = await mkdtemp(join(dirname(file), ".slipway-backup-"));
  try {
    // 1. Databases, each a consistent copy while writers go on.
    const databases = await databasesUnder(dataDir);
    for (const path of databases) {
      const copy = join(staging, relative(dataDir, path));
      await mkdir(dirname(copy), { recursive: true, mode: 0o700 });
      const db = new SQLite(path, { fileMustExist: true });
      try {
        await db.backup(copy);
      } finally {
        db.close();
      }
    }
    // The copy must not keep this backup's lease: a restored platform collects as usual.
    const platformCopy = join(staging, "platform", "platform.sqlite3");
    if (existsSync(platformCopy)) lease.forget(platformCopy);
    // 2. Everything else.
    await cp(dataDir, staging, {
      recursive: true,
      preserveTimestamps: true,
      filter: (source) => {
        const name = source.slice(source.lastIndexOf("/") + 1);
        return !isDatabase(name) && !isDatabaseSidecar(name);
      },
    });
    const partial = `${file}.partial`;
    await runChecked("tar", ["-cf", partial, "-C", staging, "--", "."]);
    await chmod(partial, 0o600);
    await rename(partial, file);
    console.log(
      `slipway backup: ${file} (${databases.length} database${databases.length === 1 ? "" : "s"} and the data directory ${dataDir})`,
    );
    return 0;
  } finally {
    lease.release();
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Takes the garbage collector's lease (`platform/storage/gc-lock.ts`) for the backup's
 * duration, so that no blob is collected between the databases' copy and the files'. Returns
 * how to give it back, or why it cannot be taken (a collection is running).
 */
interface CollectorLease {
  release(): void;
  /** Removes the lease from a copy of the database. */
  forget(copy: string): void;
}

const NO_LEASE: CollectorLease = { release: () => undefined, forget: () => undefined };
const DROP_LEASE = "DELETE FROM storage_gc_lock WHERE name = 'gc' AND owner = ?";

function holdCollector(platformDb: string): CollectorLease | string {
  if (!existsSync(platformDb)) return NO_LEASE;
  const db = new SQLite(platformDb, { fileMustExist: true });
  db.pragma("busy_timeout = 5000");
  const hasLock = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'storage_gc_lock'")
    .get();
  if (hasLock === undefined) {
    db.close();
    return NO_LEASE;
  }
  const owner = `backup-${process.pid}-${Date.now()}`;
  const now = new Date();
  db.prepare(
    `INSERT INTO storage_gc_lock (name, owner, expires_at) VALUES ('gc', ?, ?)
     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
     WHERE storage_gc_lock.expires_at < ?`,
  ).run(owner, new Date(now.getTime() + 24 * 3600_000).toISOString(), now.toISOString());
  const holder = (
    db.prepare("SELECT owner FROM storage_gc_lock WHERE name = 'gc'").get() as {
      owner: string;
    }
  ).owner;
  if (holder !== owner) {
    db.close();
    return `a garbage collection (${holder}) is running; try again when it has finished (slipway gc)`;
  }
  return {
    release: () => {
      db.prepare(DROP_LEASE).run(owner);
      db.close();
    },
    forget: (copy) => {
      const copied = new SQLite(copy, { fileMustExist: true });
      try {
        copied.prepare(DROP_LEASE).run(owner);
      } finally {
        copied.close();
      }
    },
  };
}

export async function restoreCommand(
  args: readonly string[],
  env: Env = process.env,
): Promise<number> {
  const [source, ...rest] = args;
  if (source === undefined || source.startsWith("-") || rest.length > 0) {
    console.error(USAGE);
    return 2;
  }
  const file = resolve(source);
  if (!(await stat(file).catch(() => undefined))?.isFile()) {
    console.error(`slipway restore: ${file} is not a file`);
    return 1;
  }
  const dataDir = loadConfig(env).dataDir;
  const existing = await readdir(dataDir).catch(() => undefined);
  if (existing !== undefined && existing.length > 0) {
    console.error(
      `slipway restore: the data directory ${dataDir} is not empty; restore into an empty or new directory (set SLIPWAY_DATA_DIR), or move it away first`,
    );
    return 1;
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // The operator's own archive; still, nothing is written outside the data directory.
  const listing = await runChecked("tar", ["-tf", file]);
  const bad = listing
    .split("\n")
    .filter((p) => p !== "" && (p.startsWith("/") || p.split("/").includes("..")));
  if (bad.length > 0) {
    console.error(
      `slipway restore: ${file} holds paths outside the data directory (${bad[0]}); refused`,
    );
    return 1;
  }
  await runChecked("tar", ["-xf", file, "-C", dataDir, "--no-same-owner"]);
  const restored = await databasesUnder(dataDir);
  if (restored.length === 0) {
    console.error(`slipway restore: ${file} holds no Slipway database; is it a slipway backup?`);
    return 1;
  }
  console.log(`slipway restore: restored ${file} into ${dataDir}; start Slipway now`);
  return 0;
}
