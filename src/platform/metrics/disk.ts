import { opendir, stat } from "node:fs/promises";
import { join } from "node:path";

/**
 * Bytes in the blob store (`<deploy root>/blobs/<2 hex>/<38 hex>`), summed by walking it. A large
 * store takes a while to walk, so a result is reused for a minute and a walk already under way
 * is shared: a scrape every 15 s costs one walk a minute at most.
 */
const REUSE_MS = 60_000;
const walks = new Map<string, { at: number; bytes: Promise<number> }>();

export function blobStoreBytes(deployRoot: string): Promise<number> {
  const cached = walks.get(deployRoot);
  if (cached && Date.now() - cached.at < REUSE_MS) return cached.bytes;
  const bytes = sumFiles(join(deployRoot, "blobs"));
  walks.set(deployRoot, { at: Date.now(), bytes });
  bytes.catch(() => walks.delete(deployRoot));
  return bytes;
}

async function sumFiles(dir: string): Promise<number> {
  let total = 0;
  let shards;
  try {
    shards = await opendir(dir);
  } catch {
    return 0; // no blob yet
  }
  for await (const shard of shards) {
    if (!shard.isDirectory()) continue;
    const shardDir = join(dir, shard.name);
    for await (const file of await opendir(shardDir)) {
      if (!file.isFile()) continue;
      total += await stat(join(shardDir, file.name)).then(
        (s) => s.size,
        () => 0, // removed meanwhile
      );
    }
  }
  return total;
}
