import { randomBytes } from "node:crypto";
import { statSync, utimesSync } from "node:fs";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import {
  isSha1,
  type BlobBatch,
  type BlobStore,
  type ByteRange,
  type DirectBlobWriter,
  type PutOptions,
  type PutResult,
} from "./blob-store.ts";
import { LocalBlobStore } from "./local-blob-store.ts";

/**
 * The blob store as the garbage collector (`storage/gc.ts`) needs it: every writer that relies
 * on a blob already in the store (a publish skipping an unchanged file, a digest deploy told it
 * need not upload, a zip entry already present) refreshes the blob's mtime, and the collector
 * deletes only blobs whose mtime is older than its grace period. Refreshing at most every
 * `touchAfterMs` (a quarter of the grace) keeps a redeploy of 10,000 unchanged files at map
 * lookups most of the time.
 *
 * Why a blob a writer relies on is never lost (with G the grace, T = G/4):
 * - relying on X at time t leaves mtime(X) ≥ t − T (a fresh `utimes`, or one at most T ago);
 *   `utimes` is also the existence check, so a blob deleted before it is reported missing and
 *   uploaded again;
 * - the collector marks (every kept manifest, every in-flight declaration) at time m, and then
 *   deletes X only if, after moving X out of the store, its mtime is still < m − G: a refresh
 *   that raced the move is seen there and X goes back; one after the move finds no file;
 * - so X can be deleted while a writer relies on it only if that writer relied on it before
 *   m − 3G/4 and its manifest or declaration was still invisible at m: a writer's window from
 *   relying on blobs to recording what it made is seconds to minutes (a digest deploy records
 *   its declaration in the same request), far under 45 minutes with the default hour.
 * Blobs written during a run are newer than m − G and never candidates.
 */
export class CollectableBlobStore implements BlobStore {
  /** Each blob's mtime as this process last saw or set it (a lower bound: mtimes only grow). */
  private readonly touched = new Map<string, number>();

  private constructor(
    readonly inner: LocalBlobStore,
    private readonly touchAfterMs: number,
  ) {}

  /**
   * Opens the store under `root`; first puts back blobs a collector had moved aside when its
   * process died (`removeIfUnusedSince`), so a crash there never loses a blob.
   */
  static async open(
    root: string,
    options: { graceMs: number; inner?: (root: string) => Promise<LocalBlobStore> },
  ): Promise<CollectableBlobStore> {
    const tmp = join(root, "tmp");
    await mkdir(tmp, { recursive: true });
    for (const name of await readdir(tmp)) {
      const sha1 = /^\.gc-([0-9a-f]{40})-/.exec(name)?.[1];
      if (sha1 === undefined) continue;
      const target = join(root, "blobs", sha1.slice(0, 2), sha1.slice(2));
      await mkdir(join(root, "blobs", sha1.slice(0, 2)), { recursive: true });
      // A collector still running elsewhere may remove it first: then it was garbage.
      await rename(join(tmp, name), target).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "ENOENT") throw error;
      });
    }
    const inner = await (options.inner ?? LocalBlobStore.open)(root);
    return new CollectableBlobStore(inner, Math.max(0, Math.floor(options.graceMs / 4)));
  }

  /**
   * Whether `sha1` is in the store, making sure its mtime is recent; its size when known.
   * Synchronous: the caller checks thousands in a row (see `LocalBlobStore.eachUnseen`).
   */
  private relyOn(sha1: string, now: number): number | "missing" | "present" {
    const last = this.touched.get(sha1);
    if (last !== undefined && now - last < this.touchAfterMs) return "present";
    const path = this.inner.pathOf(sha1);
    const info = statSync(path, { throwIfNoEntry: false });
    if (info === undefined) return this.lost(sha1);
    if (now - info.mtimeMs < this.touchAfterMs) {
      this.remember(sha1, info.mtimeMs);
      return info.size;
    }
    try {
      const date = new Date(now);
      utimesSync(path, date, date);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return this.lost(sha1);
      throw error;
    }
    this.remember(sha1, now);
    return info.size;
  }

  private lost(sha1: string): "missing" {
    this.touched.delete(sha1);
    this.inner.forget(sha1);
    return "missing";
  }

  private remember(sha1: string, now: number): void {
    // Bounded like the store's own memory; forgetting only costs a stat later.
    if (this.touched.size >= 200_000) this.touched.clear();
    this.touched.set(sha1, now);
  }

  async missing(sha1s: Iterable<string>): Promise<string[]> {
    // Read once: `sha1s` may be a one-shot iterator (a generator, a Map's keys).
    const list = [...new Set(sha1s)];
    const present = new Set(await this.checked(list));
    return list.filter((sha1) => !present.has(sha1));
  }

  async sizes(sha1s: Iterable<string>): Promise<Map<string, number>> {
    const list = [...new Set(sha1s)];
    const known = await this.inner.sizes(list);
    const present = new Set(await this.checked(known.keys()));
    for (const sha1 of known.keys()) if (!present.has(sha1)) known.delete(sha1);
    return known;
  }

  /** Which of `sha1s` the store holds, each relied on (in slices, like the store's checks). */
  private async checked(sha1s: Iterable<string>): Promise<string[]> {
    const list = [...new Set(sha1s)];
    const out: string[] = [];
    for (let start = 0; start < list.length; start += 256) {
      if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const now = Date.now();
      for (const sha1 of list.slice(start, start + 256)) {
        if (!isSha1(sha1))
          throw new TypeError(`not a lowercase hex SHA-1: ${JSON.stringify(sha1)}`);
        if (this.relyOn(sha1, now) !== "missing") out.push(sha1);
      }
    }
    return out;
  }

  async put(sha1: string, data: Buffer | Readable, options: PutOptions = {}): Promise<PutResult> {
    const result = await this.inner.put(sha1, data, options);
    if (options.staging !== undefined) {
      // Staged: not in the store yet, nothing to remember. Found stored: relied on, as below.
      if (!result.written) this.relyOn(sha1, Date.now());
      return result;
    }
    // In a batch: not in the store until `flush` succeeds, which remembers it then.
    if (options.batch !== undefined && (result.written || options.batch.pending.has(sha1))) {
      return result;
    }
    if (result.written) {
      this.remember(sha1, Date.now());
      return result;
    }
    if (this.relyOn(sha1, Date.now()) !== "missing") return result;
    // Collected between the store's check and ours: store it again when the bytes are at hand;
    // a spent stream must be sent again (a retried upload, a rebuilt publish).
    if (Buffer.isBuffer(data)) return this.inner.put(sha1, data, options);
    throw new Error(`blob ${sha1} was collected while it was being stored; try again`);
  }

  /** Remembers the batch's blobs as fresh only once they are durable and in the store. */
  async flush(batch: BlobBatch): Promise<void> {
    const sha1s = [...batch.pending.keys()];
    await this.inner.flush(batch);
    const now = Date.now();
    for (const sha1 of sha1s) this.remember(sha1, now);
  }

  /**
   * The store's own: adopted blobs are remembered by `flush`; a blob a worker found present is
   * relied on through `missing`, as with `put` (the caller asks).
   */
  directWriter(batch: BlobBatch): DirectBlobWriter {
    return this.inner.directWriter(batch);
  }

  commitStaged(key: string): Promise<void> {
    return this.inner.commitStaged(key);
  }

  discardStaged(key: string): Promise<void> {
    return this.inner.discardStaged(key);
  }

  has(sha1: string): Promise<boolean> {
    return this.inner.has(sha1);
  }

  get(sha1: string): Promise<Buffer> {
    return this.inner.get(sha1);
  }

  read(sha1: string, range?: ByteRange): Promise<Readable> {
    return this.inner.read(sha1, range);
  }

  size(sha1: string): Promise<number | undefined> {
    return this.inner.size(sha1);
  }

  /** Every blob with its size and mtime, shard by shard (for the collector). */
  async *list(): AsyncGenerator<{ sha1: string; size: number; mtimeMs: number }> {
    const blobsDir = join(this.inner.root, "blobs");
    for (const shard of (await readdir(blobsDir)).sort()) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const rest of await readdir(join(blobsDir, shard)).catch(() => [] as string[])) {
        const sha1 = shard + rest;
        if (!isSha1(sha1)) continue;
        const info = await stat(join(blobsDir, shard, rest)).catch(() => undefined);
        if (info) yield { sha1, size: info.size, mtimeMs: info.mtimeMs };
      }
    }
  }

  /**
   * Deletes a blob unless its mtime is at or after `cutoffMs`; the bytes freed, or 0. The blob
   * is first moved aside (same file system), and its mtime read there: a writer's refresh that
   * came before the move is seen and the blob goes back; one after it finds no file and the
   * writer uploads again (see the class comment).
   */
  async removeIfUnusedSince(sha1: string, cutoffMs: number): Promise<number> {
    const path = this.inner.pathOf(sha1);
    const before = await stat(path).catch(() => undefined);
    if (before === undefined || before.mtimeMs >= cutoffMs) return 0;
    const aside = join(this.inner.root, "tmp", `.gc-${sha1}-${randomBytes(6).toString("hex")}`);
    try {
      await rename(path, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw error;
    }
    // Gone from there only if a starting store put it back (see `open`): then it stays.
    const after = await stat(aside).catch(() => undefined);
    if (after === undefined) return 0;
    if (after.mtimeMs >= cutoffMs) {
      await rename(aside, path);
      return 0;
    }
    this.touched.delete(sha1);
    this.inner.forget(sha1);
    await rm(aside, { force: true });
    return after.size;
  }
}
