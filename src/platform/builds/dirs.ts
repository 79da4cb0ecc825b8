import { createHash } from "node:crypto";
import { chmod, lstat, mkdir, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Kysely } from "kysely";
import type { PlatformDatabase } from "../db/schema.ts";

/**
 * The build directories under the platform's data dir:
 *
 * - `builds/work/<buildId>`: each build's checkout, bound into the sandbox. As root, builds run
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

/**
 * Removes checkouts left behind by builds that are no longer running (a crash skips the
 * runner's own cleanup). A checkout of a build still `building` is kept: its re-run or another
 * process on this machine owns it.
 */
export async function sweepWorkDirs(
  db: Kysely<PlatformDatabase>,
  workRoot: string,
): Promise<number> {
  const entries = await readdir(workRoot).catch(() => [] as string[]);
  if (entries.length === 0) return 0;
  const running = new Set(
    (
      await db
        .selectFrom("builds")
        .select("id")
        .where("id", "in", entries)
        .where("state", "=", "building")
        .execute()
    ).map((b) => b.id),
  );
  let removed = 0;
  for (const entry of entries) {
    if (running.has(entry)) continue;
    await rm(join(workRoot, entry), { recursive: true, force: true });
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
