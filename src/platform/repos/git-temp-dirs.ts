import { randomBytes } from "node:crypto";
import { readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The private temp dirs of git sessions (a deploy key, known_hosts, a throwaway index): named
 * with the owning process id, so that a start-up sweep can remove those whose process is gone.
 */

const TEMP_PREFIX = "slipway-git-";

/** A fresh temp dir path for a session of this process, under `tempRoot`. */
export function gitTempDirPath(tempRoot: string): string {
  return join(tempRoot, `${TEMP_PREFIX}${process.pid}-${randomBytes(8).toString("hex")}`);
}

/**
 * Removes the temp dirs of git sessions whose process is gone (a crash or kill -9 can leave a
 * deploy key behind). Call at start-up; returns how many were removed.
 */
export async function sweepStaleGitTempDirs(tempRoot = tmpdir()): Promise<number> {
  let removed = 0;
  let entries: string[];
  try {
    entries = await readdir(tempRoot);
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const match = new RegExp(`^${TEMP_PREFIX}(\\d+)-[0-9a-f]+$`).exec(entry);
    if (!match) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    await rm(join(tempRoot, entry), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
