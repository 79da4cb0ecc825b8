import SQLite from "better-sqlite3";
import { chmod, cp, mkdir, mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { loadConfig } from "../config.ts";
import { runChecked } from "../lib/run.ts";

/**
 * `slipway backup <file>` and `slipway restore <file>` for the embedded default: every SQLite
 * database copied with SQLite's online backup (consistent while Slipway runs), then the rest of
 * the data directory (deploy blobs, manifests, repositories, keys), into one tar file; restore
 * unpacks it into an empty data directory. Databases are copied first: blobs are only ever
 * added, so every blob a copied database names is in the files copied after it.
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
    await rm(staging, { recursive: true, force: true });
  }
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
