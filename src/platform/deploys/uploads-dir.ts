import { mkdir, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";

/** Spooled uploads older than this were left by a crashed request and are removed at start. */
const STALE_MS = 60 * 60 * 1000;

/**
 * `<deploy root>/uploads`: where zip bodies (and their large entries) are spooled before they
 * are checked and stored; on the data volume, private to the platform.
 */
export async function prepareUploadDir(deployRoot: string): Promise<string> {
  const dir = join(deployRoot, "uploads");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const now = Date.now();
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (info && now - info.mtimeMs > STALE_MS) await rm(path, { recursive: true, force: true });
  }
  return dir;
}
