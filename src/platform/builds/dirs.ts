import { createHash, randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Kysely } from "kysely";
import type { PlatformDatabase } from "../db/schema.ts";

/**
 * The build directories under the platform's data dir:
 *
 * - `builds/work/<buildId>.<attempt>-<token>`: each build attempt's own checkout, bound into
 *   the sandbox. A re-run never shares one with an attempt that lost its lease and may still be
 *   running (a zombie); the re-run removes its build's earlier checkouts (`removeEarlierAttempts`)
 *   and a start sweeps the rest (`sweepWorkDirs`). As root, builds run
 *   as their own uid, which must be able to *search* (not list) every directory above the
 *   checkout, so the data dir, `builds` and `work` are 0711; everything secret in the data dir
 *   is 0600/0700 itself (the database, key files, mirrors, git's key directories). When a
 *   directory above the data dir is private (e.g. `~/.slipway` under a 0700 home), checkouts go
 *   to `<tmp>/slipway-work-<hash of the data dir>` (0711, owned by us) instead.
 * - `builds/mirrors/<siteId>.git`: per-site bare mirrors (0700).
 * - `builds/tmp`: git-fetch's per-fetch key directories (0700, removed after each fetch).
 */
export interface BuildDirs {
  workRoot: string;
  mirrorRoot: string;
  gitTempRoot: string;
}

export async function prepareBuildDirs(dataDir: string): Promise<BuildDirs> {
  const root = join(dataDir, "builds");
  const dirs: BuildDirs = {
    workRoot: join(root, "work"),
    mirrorRoot: join(root, "mirrors"),
    gitTempRoot: join(root, "tmp"),
  };
  const asRoot = process.getuid?.() === 0;
  await mkdir(dirs.workRoot, { recursive: true, mode: 0o700 });
  await mkdir(dirs.mirrorRoot, { recursive: true, mode: 0o700 });
  await mkdir(dirs.gitTempRoot, { recursive: true, mode: 0o700 });
  await chmod(dirs.mirrorRoot, 0o700);
  await chmod(dirs.gitTempRoot, 0o700);
  if (asRoot && !(await ancestorsSearchable(dataDir))) {
    dirs.workRoot = join(
      tmpdir(),
      `slipway-work-${createHash("sha256").update(resolve(dataDir)).digest("hex").slice(0, 16)}`,
    );
    await mkdir(dirs.workRoot, { mode: 0o711 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
    const info = await lstat(dirs.workRoot);
    if (!info.isDirectory() || info.uid !== process.getuid?.()) {
      throw new Error(
        `${dirs.workRoot} exists and is not a directory owned by the platform's user; remove it`,
      );
    }
    await chmod(dirs.workRoot, 0o711);
  } else {
    const search = asRoot ? 0o711 : 0o700;
    for (const dir of [dataDir, root, dirs.workRoot]) await chmod(dir, search);
  }
  // The database must stay private even with a searchable data dir (WAL files follow its mode).
  for (const name of ["platform.sqlite3", "platform.sqlite3-wal", "platform.sqlite3-shm"]) {
    await chmod(join(dataDir, name), 0o600).catch(() => undefined);
  }
  return dirs;
}

/** A new checkout directory for one attempt of a build (the token: no two runs share one). */
export function attemptWorkDir(workRoot: string, buildId: string, attempt: number): string {
  return join(workRoot, `${buildId}.${attempt}-${randomBytes(4).toString("hex")}`);
}

/** A checkout, or what an attempt keeps beside it (`<checkout>.store`, `<checkout>.warm`, …). */
const ATTEMPT_DIR = /^(.+)\.(\d+)-[0-9a-f]{8}(?:\.[a-z][a-z_-]*)?$/;

/** The build and attempt of a checkout directory's name (a name without one: attempt 0). */
function parseWorkDirName(name: string): { buildId: string; attempt: number } {
  const match = ATTEMPT_DIR.exec(name);
  return match ? { buildId: match[1]!, attempt: Number(match[2]) } : { buildId: name, attempt: 0 };
}

/**
 * Removes the checkouts of `buildId`'s attempts before `attempt`: their leases are gone, so
 * whatever still runs in them (a worker that lost its lease) can publish nothing.
 */
export async function removeEarlierAttempts(
  workRoot: string,
  buildId: string,
  attempt: number,
): Promise<number> {
  const entries = await readdir(workRoot).catch(() => [] as string[]);
  let removed = 0;
  for (const entry of entries) {
    const dir = parseWorkDirName(entry);
    if (dir.buildId !== buildId || dir.attempt >= attempt) continue;
    await rm(join(workRoot, entry), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/**
 * Removes checkouts left behind (a crash skips the runner's own cleanup): those of builds no
 * longer running and of a running build's earlier attempts. The checkout of a build's current
 * attempt is kept: it runs in another process on this machine, or is about to be replaced by
 * its re-run.
 */
export async function sweepWorkDirs(
  db: Kysely<PlatformDatabase>,
  workRoot: string,
): Promise<number> {
  const entries = await readdir(workRoot).catch(() => [] as string[]);
  if (entries.length === 0) return 0;
  const dirs = entries.map((entry) => ({ entry, ...parseWorkDirName(entry) }));
  const current = new Map(
    (
      await db
        .selectFrom("builds")
        .select(["id", "attempts"])
        .where("id", "in", [...new Set(dirs.map((dir) => dir.buildId))])
        .where("state", "=", "building")
        .execute()
    ).map((b) => [b.id, b.attempts]),
  );
  let removed = 0;
  for (const dir of dirs) {
    if (current.get(dir.buildId) === dir.attempt) continue;
    await rm(join(workRoot, dir.entry), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/** Whether every directory above `dir` can be searched by other users. */
async function ancestorsSearchable(dir: string): Promise<boolean> {
  let current = resolve(dir);
  for (;;) {
    const parent = dirname(current);
    if (parent === current) return true;
    current = parent;
    if (((await stat(current)).mode & 0o001) === 0) return false;
  }
}
