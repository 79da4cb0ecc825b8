import { createHash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import {
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  type FileHandle,
} from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import {
  assertSha1,
  BlobBatch,
  BlobIntegrityError,
  BlobNotFoundError,
  BlobTooLargeError,
  isSha1,
  sha1Hex,
  syncBatchWithSyncfs,
  type BatchSync,
  type BlobStore,
  type ByteRange,
  type DirectBlobWriter,
  type PutOptions,
  type PutResult,
} from "./blob-store.ts";
import { blobTempFiles, blobTempName } from "./blob-temp-files.ts";
import { DirSyncer } from "./durable-files.ts";

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

const SYNC_SLICE = 256;

/** Renames of a batch going into place per block of the event loop (~15 µs each here). */
const RENAME_SLICE = 64;

/** Temp files older than this are leftovers of a crashed writer and are removed by `open`. */
const STALE_TEMP_MS = 60 * 60 * 1000;

/**
 * The sizes of blobs this process has seen in the store, so that a deploy of thousands of
 * files it already holds costs map lookups instead of a file-system lookup each (~10 µs here).
 * Sound because blobs are immutable and the garbage collector never deletes a blob a writer
 * relied on recently (`collectable-blobs.ts` refreshes it, and the collector's `forget` drops
 * it here); a blob file removed by hand is forgotten as soon as a read misses it, and in any
 * case at the next start. Bounded: the
 * oldest tenth goes when it is full.
 */
class SeenBlobs {
  private readonly sizes = new Map<string, number>();

  constructor(private readonly limit: number) {}

  get(sha1: string): number | undefined {
    return this.sizes.get(sha1);
  }

  remember(sha1: string, size: number): void {
    if (this.sizes.size >= this.limit) {
      let drop = Math.ceil(this.limit / 10);
      for (const key of this.sizes.keys()) {
        if (drop-- === 0) break;
        this.sizes.delete(key);
      }
    }
    this.sizes.set(sha1, size);
  }

  forget(sha1: string): void {
    this.sizes.delete(sha1);
  }
}

/** About 25 MiB of memory at most. */
const SEEN_BLOBS_LIMIT = 200_000;

/** A staging key names a directory: a deploy's id, say. */
const STAGING_KEY = /^[0-9a-z_-]{1,64}$/;

/** Staging keys whose blobs this process remembers writing; an older one's are re-read. */
const STAGED_KEYS_LIMIT = 256;

/** The SHA-1 of a file's bytes, read as a stream, or undefined when it cannot be read. */
async function fileSha1(path: string): Promise<string | undefined> {
  const hash = createHash("sha1");
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch {
    return undefined;
  }
  return hash.digest("hex");
}

/**
 * Blobs as files under `<root>/blobs/ab/cdef…` (the first two hex digits name a directory, so
 * no directory grows past 1/256 of the store). Writes go to `<root>/tmp` (same file system),
 * are fsync'd, renamed into place, and the directory is fsync'd; readers never see a partial
 * blob. A batch (`PutOptions.batch`) skips the per-blob fsyncs and is synced as a whole by
 * `flush`. Paths are built only from validated SHA-1s.
 */
export class LocalBlobStore implements BlobStore {
  private readonly blobsDir: string;
  private readonly tmpDir: string;
  private readonly shardsMade = new Set<string>();
  private readonly dirSyncer = new DirSyncer();
  private readonly seen = new SeenBlobs(SEEN_BLOBS_LIMIT);
  /** Batches renamed into place whose directory entries are not durable yet. */
  private readonly undurableRenames = new Set<Promise<void>>();
  private readonly stagingDir: string;
  /**
   * By staging key, the blobs this process staged (SHA-1 → size): it checked their bytes, and a
   * power cut since would have ended this process too, so they are committed without reading
   * them again. Anything else found staged (another process's, or from before a restart) is.
   */
  private readonly stagedHere = new Map<string, Map<string, number>>();
  private readonly commits = new Map<string, Promise<void>>();

  private constructor(
    readonly root: string,
    private readonly batchSync: BatchSync,
  ) {
    this.blobsDir = join(root, "blobs");
    this.tmpDir = join(root, "tmp");
    this.stagingDir = join(root, "staging");
  }

  /** Opens (creating if needed) a store under `root`, removing stale temp files. */
  static async open(
    root: string,
    options: { batchSync?: BatchSync } = {},
  ): Promise<LocalBlobStore> {
    const store = new LocalBlobStore(root, options.batchSync ?? syncBatchWithSyncfs);
    await mkdir(store.blobsDir, { recursive: true });
    await mkdir(store.tmpDir, { recursive: true });
    const now = Date.now();
    for (const name of await readdir(store.tmpDir)) {
      const path = join(store.tmpDir, name);
      const info = await stat(path).catch(() => undefined);
      if (info && now - info.mtimeMs > STALE_TEMP_MS) await rm(path, { force: true });
    }
    return store;
  }

  /** Drops what this process remembers of a blob (removed by the garbage collector). */
  forget(sha1: string): void {
    this.seen.forget(sha1);
  }

  /** The directory of the blobs staged under `key` (exposed for tests and the collector). */
  stagingPathOf(key: string): string {
    if (!STAGING_KEY.test(key)) throw new TypeError(`not a staging key: ${JSON.stringify(key)}`);
    return join(this.stagingDir, key);
  }

  /** The file that holds a blob (exposed for diagnostics and tests). */
  pathOf(sha1: string): string {
    assertSha1(sha1);
    return join(this.blobsDir, sha1.slice(0, 2), sha1.slice(2));
  }

  async has(sha1: string): Promise<boolean> {
    return (await this.size(sha1)) !== undefined;
  }

  async missing(sha1s: Iterable<string>): Promise<string[]> {
    const out: string[] = [];
    await this.eachUnseen(sha1s, (sha1, path) => {
      if (!existsSync(path)) out.push(sha1);
    });
    return out;
  }

  async sizes(sha1s: Iterable<string>): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    await this.eachUnseen(
      sha1s,
      (sha1, path) => {
        const info = statSync(path, { throwIfNoEntry: false });
        if (info === undefined) return;
        this.seen.remember(sha1, info.size);
        out.set(sha1, info.size);
      },
      (sha1, size) => out.set(sha1, size),
    );
    return out;
  }

  /**
   * Calls `check` with each distinct SHA-1 not seen before and its blob's path (and `onSeen`
   * with each seen one), synchronously: a sync check costs ~3.5–10 µs here (existsSync; a stat a
   * little more) against ~15-50 µs for an async one. Slices of 256 keep each block of the event
   * loop around a millisecond.
   */
  private async eachUnseen(
    sha1s: Iterable<string>,
    check: (sha1: string, path: string) => void,
    onSeen?: (sha1: string, size: number) => void,
  ): Promise<void> {
    const unique = [...new Set(sha1s)];
    for (const sha1 of unique) assertSha1(sha1);
    for (let start = 0; start < unique.length; start += SYNC_SLICE) {
      if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const end = Math.min(unique.length, start + SYNC_SLICE);
      for (let i = start; i < end; i++) {
        const sha1 = unique[i]!;
        const size = this.seen.get(sha1);
        if (size === undefined) check(sha1, this.pathOf(sha1));
        else onSeen?.(sha1, size);
      }
    }
  }

  async size(sha1: string): Promise<number | undefined> {
    const seen = this.seen.get(sha1);
    if (seen !== undefined) return seen;
    try {
      const { size } = await stat(this.pathOf(sha1));
      this.seen.remember(sha1, size);
      return size;
    } catch (error) {
      if (isErrno(error, "ENOENT")) return undefined;
      throw error;
    }
  }

  /**
   * `size` without a promise: a sync stat (~5 µs here, no exception for a missing blob) instead
   * of an async one (~15–50 µs, and an error object built for every blob a first deploy writes).
   */
  private storedSize(sha1: string): number | undefined {
    const seen = this.seen.get(sha1);
    if (seen !== undefined) return seen;
    const info = statSync(this.pathOf(sha1), { throwIfNoEntry: false });
    if (info === undefined) return undefined;
    this.seen.remember(sha1, info.size);
    return info.size;
  }

  async get(sha1: string): Promise<Buffer> {
    try {
      return await readFile(this.pathOf(sha1));
    } catch (error) {
      throw this.readFailure(sha1, error);
    }
  }

  async read(sha1: string, range?: ByteRange): Promise<Readable> {
    let handle;
    try {
      handle = await open(this.pathOf(sha1), "r");
    } catch (error) {
      throw this.readFailure(sha1, error);
    }
    return handle.createReadStream(
      range ? { start: range.start, end: range.end, autoClose: true } : { autoClose: true },
    );
  }

  /** A missing blob is forgotten, so the next deploy that needs it asks for it again. */
  private readFailure(sha1: string, error: unknown): unknown {
    if (!isErrno(error, "ENOENT")) return error;
    this.seen.forget(sha1);
    return new BlobNotFoundError(sha1);
  }

  async put(sha1: string, data: Buffer | Readable, options: PutOptions = {}): Promise<PutResult> {
    assertSha1(sha1);
    const stagingKey = options.staging;
    const stagingDir = stagingKey === undefined ? undefined : this.stagingPathOf(stagingKey);
    const existing =
      this.storedSize(sha1) ??
      options.batch?.pending.get(sha1)?.size ??
      (stagingKey === undefined ? undefined : this.stagedHere.get(stagingKey)?.get(sha1));
    if (existing !== undefined) {
      if (!Buffer.isBuffer(data)) data.destroy();
      return { written: false, size: existing };
    }
    if (Buffer.isBuffer(data)) {
      if (options.maxBytes !== undefined && data.length > options.maxBytes) {
        throw new BlobTooLargeError(sha1, options.maxBytes);
      }
      const actual = sha1Hex(data);
      if (actual !== sha1) throw new BlobIntegrityError(sha1, actual);
    }
    const { temp, handle } = await this.openTemp(stagingDir ?? this.tmpDir);
    let size = 0;
    try {
      if (Buffer.isBuffer(data)) {
        await handle.writeFile(data);
        size = data.length;
      } else {
        const hash = createHash("sha1");
        try {
          for await (const chunk of data) {
            const bytes = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
            size += bytes.length;
            if (options.maxBytes !== undefined && size > options.maxBytes) {
              throw new BlobTooLargeError(sha1, options.maxBytes);
            }
            hash.update(bytes);
            await handle.write(bytes);
          }
        } finally {
          data.destroy();
        }
        const actual = hash.digest("hex");
        if (actual !== sha1) throw new BlobIntegrityError(sha1, actual);
      }
      if (options.batch === undefined && stagingDir === undefined) await handle.sync();
    } catch (error) {
      await handle.close().catch(() => undefined);
      await rm(temp, { force: true });
      throw error;
    }
    await handle.close();
    if (stagingKey !== undefined && stagingDir !== undefined) {
      // Under its SHA-1 only once complete: a process crash leaves no staged blob half written.
      try {
        await rename(temp, join(stagingDir, sha1));
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
      this.rememberStaged(stagingKey, sha1, size);
      return { written: true, size };
    }
    if (options.batch !== undefined) {
      // A twin written meanwhile into the same batch already holds these bytes.
      if (options.batch.pending.has(sha1)) {
        await rm(temp, { force: true });
        return { written: false, size };
      }
      options.batch.pending.set(sha1, { temp, size });
      return { written: true, size };
    }
    const shard = await this.renameIntoPlace(sha1, temp);
    await this.dirSyncer.sync(shard);
    this.seen.remember(sha1, size);
    return { written: true, size };
  }

  directWriter(batch: BlobBatch): DirectBlobWriter {
    const tmpDir = this.tmpDir;
    const adopted: string[] = [];
    return {
      blobsDir: this.blobsDir,
      // The workers make their temp files by the rules `put` follows (`blob-temp-files.ts`).
      tempFiles: () => blobTempFiles(tmpDir),
      adopt: (sha1, temp, size) => {
        assertSha1(sha1);
        if (dirname(temp) !== tmpDir) throw new TypeError(`not a temp file of this store: ${temp}`);
        if (batch.pending.has(sha1)) {
          void rm(temp, { force: true }).catch(() => undefined);
          return false;
        }
        batch.pending.set(sha1, { temp, size });
        adopted.push(sha1);
        return true;
      },
      discard: async () => {
        const temps: string[] = [];
        for (const sha1 of adopted.splice(0)) {
          const pending = batch.pending.get(sha1);
          if (pending === undefined) continue;
          batch.pending.delete(sha1);
          temps.push(pending.temp);
        }
        await Promise.all(temps.map((temp) => rm(temp, { force: true })));
      },
    };
  }

  /** A new temp file in `dir`, creating a staging directory on first use. */
  private async openTemp(dir: string): Promise<{ temp: string; handle: FileHandle }> {
    const files = blobTempFiles(dir);
    const temp = blobTempName(files, 0);
    try {
      return { temp, handle: await open(temp, files.flags, files.mode) };
    } catch (error) {
      if (dir === this.tmpDir || !isErrno(error, "ENOENT")) throw error;
      await mkdir(dir, { recursive: true });
      return { temp, handle: await open(temp, files.flags, files.mode) };
    }
  }

  private rememberStaged(key: string, sha1: string, size: number): void {
    let staged = this.stagedHere.get(key);
    if (staged === undefined) {
      if (this.stagedHere.size >= STAGED_KEYS_LIMIT) {
        this.stagedHere.delete(this.stagedHere.keys().next().value!);
      }
      staged = new Map();
      this.stagedHere.set(key, staged);
    }
    staged.set(sha1, size);
  }

  commitStaged(key: string): Promise<void> {
    const running = this.commits.get(key);
    if (running !== undefined) return running;
    const commit = this.commitStagedOnce(key).finally(() => this.commits.delete(key));
    this.commits.set(key, commit);
    return commit;
  }

  /** The staged blobs as one batch: `flush` syncs them once, renames them in, syncs again. */
  private async commitStagedOnce(key: string): Promise<void> {
    const dir = this.stagingPathOf(key);
    const names = await readdir(dir).catch((error: unknown) => {
      if (isErrno(error, "ENOENT")) return [] as string[];
      throw error;
    });
    const trusted = this.stagedHere.get(key);
    const batch = new BlobBatch();
    for (const name of names) {
      if (!isSha1(name)) continue; // a temp file of an upload that never finished
      const path = join(dir, name);
      let size = trusted?.get(name);
      if (size === undefined && (await fileSha1(path)) === name) size = (await stat(path)).size;
      if (size !== undefined) batch.pending.set(name, { temp: path, size });
    }
    await this.flush(batch);
    this.stagedHere.delete(key);
    await rm(dir, { recursive: true, force: true });
  }

  async discardStaged(key: string): Promise<void> {
    const dir = this.stagingPathOf(key);
    this.stagedHere.delete(key);
    await rm(dir, { recursive: true, force: true });
  }

  /** Moves a written temp file to the blob's name (removing it on failure); its shard dir. */
  private async renameIntoPlace(sha1: string, temp: string): Promise<string> {
    const shard = join(this.blobsDir, sha1.slice(0, 2));
    try {
      if (!this.shardsMade.has(shard)) {
        await mkdir(shard, { recursive: true });
        this.shardsMade.add(shard);
      }
      await rename(temp, this.pathOf(sha1));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return shard;
  }

  /** `renameIntoPlace` without a promise, for a batch's thousands of renames. */
  private renameIntoPlaceSync(sha1: string, temp: string): string {
    const shard = join(this.blobsDir, sha1.slice(0, 2));
    try {
      if (!this.shardsMade.has(shard)) {
        mkdirSync(shard, { recursive: true });
        this.shardsMade.add(shard);
      }
      renameSync(temp, this.pathOf(sha1));
    } catch (error) {
      rmSync(temp, { force: true });
      throw error;
    }
    return shard;
  }

  /**
   * Data first (the temp files), then the renames, then the directories: a blob under its
   * final name is always complete and durable, as with `put` alone, so a power cut can never
   * leave a torn blob that a later deploy would trust.
   */
  async flush(batch: BlobBatch): Promise<void> {
    const pending = [...batch.pending].map(([sha1, p]) => ({ sha1, ...p }));
    batch.pending.clear();
    if (pending.length > 0) {
      try {
        await this.batchSync(
          pending.map((p) => p.temp),
          this.tmpDir,
        );
      } catch (error) {
        await Promise.all(pending.map((p) => rm(p.temp, { force: true })));
        throw error;
      }
      const renamed = (async () => {
        const shards = new Set<string>();
        let failure: unknown;
        // Synchronous renames in short slices: an async one each (8 in flight) took ~30% longer
        // for 10,000 here, and 0.3–1 s one at a time.
        for (let start = 0; start < pending.length; start += RENAME_SLICE) {
          if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
          for (const p of pending.slice(start, start + RENAME_SLICE)) {
            if (failure !== undefined) {
              rmSync(p.temp, { force: true });
              continue;
            }
            try {
              shards.add(this.renameIntoPlaceSync(p.sha1, p.temp));
            } catch (error) {
              failure ??= error;
            }
          }
        }
        await this.batchSync([...shards], this.blobsDir);
        if (failure !== undefined) throw failure;
        for (const p of pending) this.seen.remember(p.sha1, p.size);
      })();
      this.undurableRenames.add(renamed);
      void renamed.catch(() => undefined).finally(() => this.undurableRenames.delete(renamed));
    }
    // Blobs this deploy found already in place may be another batch's, renamed but not synced.
    await Promise.all([...this.undurableRenames]);
  }
}
