import { mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { BlobStore } from "../../deploys/blob-store.ts";
import { freeBytes } from "../sandbox/watch.ts";
import { extractArchive, type ArchiveFormat } from "./archive.ts";
import type { CacheEntry } from "./entries.ts";

/**
 * A site's next `node_modules`, unpacked ahead of time: after a build is published, the
 * snapshot entry its lockfile maps to is extracted (from the immutable blob, never from what a
 * build left) into a 0700 directory beside the checkouts, which no sandbox can reach (only a
 * build's own checkout is bound into it). A hit on the same blob then renames the tree into
 * the checkout instead of un-tarring it on the way to the site going live.
 *
 * A warm copy is consumed: renamed into exactly one checkout, so what a build does to its
 * `node_modules` never reaches another build; the next copy is unpacked from the blob again.
 * One copy per site (the newest); copies live under the work root, so a restart's sweep of
 * leftover checkouts (`dirs.ts`) removes them too.
 */

const warmRoot = (workDir: string, siteId: string): string =>
  join(dirname(workDir), `warm-node-modules.${siteId}`);

/**
 * Moves the warm copy of `entry` into the checkout: true when its `dirs` are in place, false
 * (and nothing changed in the checkout) when there is none or it could not be used.
 */
export async function takeWarmSnapshot(
  workDir: string,
  siteId: string,
  entry: Pick<CacheEntry, "blob_sha1">,
  dirs: readonly string[],
): Promise<boolean> {
  // Claimed first by one rename: a copy is never used twice.
  const claimed = `${workDir}.warm`;
  try {
    await rename(join(warmRoot(workDir, siteId), entry.blob_sha1), claimed);
  } catch {
    return false;
  }
  const moved: string[] = [];
  try {
    for (const dir of dirs) {
      try {
        await rename(join(claimed, dir), join(workDir, dir));
        moved.push(dir);
      } catch (error) {
        // A directory the snapshot did not hold (the archive has those that existed).
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
    }
    return moved.length > 0;
  } catch {
    for (const dir of moved) await rm(join(workDir, dir), { recursive: true, force: true });
    return false;
  } finally {
    await rm(claimed, { recursive: true, force: true });
  }
}

/**
 * Unpacks `entry` as the site's warm copy, replacing any older one. Skipped when the disk is
 * short of room (`minFreeBytes` plus a generous guess of the unpacked size); a failure only
 * means the next hit un-tars as before.
 */
export async function warmSnapshot(
  blobs: BlobStore,
  workDir: string,
  siteId: string,
  entry: Pick<CacheEntry, "blob_sha1" | "format" | "size_bytes">,
  minFreeBytes: number,
): Promise<boolean> {
  const root = warmRoot(workDir, siteId);
  await rm(root, { recursive: true, force: true });
  const free = await freeBytes(dirname(workDir)).catch(() => 0);
  if (free < minFreeBytes + 10 * entry.size_bytes) return false;
  const partial = join(root, `${entry.blob_sha1}.partial`);
  try {
    await mkdir(partial, { recursive: true, mode: 0o700 });
    await extractArchive(await blobs.read(entry.blob_sha1), entry.format as ArchiveFormat, partial);
    await rename(partial, join(root, entry.blob_sha1));
    return true;
  } catch {
    await rm(root, { recursive: true, force: true });
    return false;
  }
}

/** Drops the site's warm copy (clear_cache: nothing of the old cache is used again). */
export async function dropWarmSnapshot(workDir: string, siteId: string): Promise<void> {
  await rm(warmRoot(workDir, siteId), { recursive: true, force: true });
}
