import { randomBytes } from "node:crypto";
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { defaultStoragePolicy, type StoragePolicy } from "../../config.ts";
import type { PlatformContext } from "../context.ts";

/** What a collection needs of the platform (`slipway gc` runs one without a server). */
export type GcContext = Pick<PlatformContext, "db" | "config" | "log" | "now">;
import type { CollectableBlobStore } from "../deploys/collectable-blobs.ts";
import type { S3BlobStore } from "../deploys/s3-blob-store.ts";
import { DECLARABLE_STATES } from "../deploys/digest.ts";
import type { ManifestStore } from "../deploys/manifest.ts";
import { applyRetention } from "./retention.ts";
import { acquireGcLock, releaseGcLock } from "./gc-lock.ts";

/**
 * The blob garbage collector: retention first (`retention.ts`), then mark every blob that a
 * deploy can still be served or restored from — every manifest of a deploy that has not
 * expired (ready, published, locked, and those still building or finishing) and every
 * in-flight declaration (a digest deploy's `deploy_files`, functions' zips), and every build
 * cache entry's tar — and sweep the blobs nothing marks whose mtime is older than the grace
 * period. Why a blob written or relied on during a run survives is argued in `deploys/collectable-blobs.ts`. Leftovers go too:
 * spooled uploads, the store's temp files, the staged uploads of digest deploys that will not
 * finish and the work directories of builds no longer running, once older than the grace.
 */

export interface GcStores {
  /** Local disk, or a bucket (`SLIPWAY_BLOB_STORE=s3`: LastModified for mtime). */
  blobs: CollectableBlobStore | S3BlobStore;
  manifests: ManifestStore;
  /** Spooled zip uploads (`deploys/uploads-dir.ts`). */
  uploadDir: string;
  /** Build work directories (`builds/dirs.ts`), named by build id. */
  workRoot?: string;
}

export interface GcOptions {
  dryRun?: boolean;
  policy?: StoragePolicy;
  /** Called between the mark and the sweep (tests: what happens during a run). */
  afterMark?: () => Promise<void>;
}

export interface GcReport {
  dryRun: boolean;
  /** Deploys retention let go in this run (or would). */
  expiredDeploys: number;
  blobsScanned: number;
  blobsMarked: number;
  blobsRemoved: number;
  blobBytesFreed: number;
  leftoversRemoved: number;
  leftoverBytesFreed: number;
}

export class GcBusyError extends Error {
  override name = "GcBusyError";
  constructor(readonly owner: string) {
    super(`another garbage collection (${owner}) is running; try again when it has finished`);
  }
}

/** Runs one collection (or, with `dryRun`, says what it would free without changing anything). */
export async function collectGarbage(
  ctx: GcContext,
  stores: GcStores,
  options: GcOptions = {},
): Promise<GcReport> {
  const policy = options.policy ?? ctx.config.storage ?? defaultStoragePolicy();
  const dryRun = options.dryRun === true;
  const owner = `gc-${process.pid}-${randomBytes(4).toString("hex")}`;
  if (!dryRun) {
    const holder = await acquireGcLock(ctx, owner);
    if (holder !== owner) throw new GcBusyError(holder);
  }
  try {
    const retention = await applyRetention(ctx, stores.manifests, policy, { dryRun });
    // mtimes are wall-clock times: the cutoff is too.
    const markedAt = Date.now();
    const cutoffMs = markedAt - policy.gcGraceSeconds * 1000;
    const marked = await markLiveBlobs(ctx, stores.manifests, new Set(retention.expired));
    await options.afterMark?.();
    if (!dryRun) await keepLock(ctx, owner);
    const report: GcReport = {
      dryRun,
      expiredDeploys: retention.expired.length,
      blobsScanned: 0,
      blobsMarked: marked.size,
      blobsRemoved: 0,
      blobBytesFreed: 0,
      leftoversRemoved: 0,
      leftoverBytesFreed: 0,
    };
    for await (const blob of stores.blobs.list()) {
      report.blobsScanned++;
      if (marked.has(blob.sha1) || blob.mtimeMs >= cutoffMs) continue;
      const freed = dryRun
        ? blob.size
        : await stores.blobs.removeIfUnusedSince(blob.sha1, cutoffMs);
      if (freed > 0 || dryRun) {
        report.blobsRemoved++;
        report.blobBytesFreed += freed;
      }
      if (!dryRun && report.blobsScanned % 1000 === 0) await keepLock(ctx, owner);
    }
    await removeLeftovers(ctx, stores, cutoffMs, dryRun, report);
    ctx.log.info({ ...report }, dryRun ? "garbage collection (dry run)" : "garbage collected");
    return report;
  } finally {
    if (!dryRun) await releaseGcLock(ctx, owner);
  }
}

/** Renews the lease, stopping the run if it was lost (this process stalled past it). */
async function keepLock(ctx: GcContext, owner: string): Promise<void> {
  const holder = await acquireGcLock(ctx, owner);
  if (holder !== owner) throw new GcBusyError(holder);
}

/**
 * Every blob a deploy that has not expired (and is not in `expiring`) refers to. In-flight
 * declarations are read before the manifests: a digest deploy that finishes in between has
 * dropped its declaration only after writing its manifest, so one of the two reads sees it.
 */
async function markLiveBlobs(
  ctx: GcContext,
  manifests: ManifestStore,
  expiring: ReadonlySet<string>,
): Promise<Set<string>> {
  const marked = new Set<string>();
  const declared = await ctx.db.selectFrom("deploy_files").select("sha1").distinct().execute();
  for (const row of declared) marked.add(row.sha1);
  const functions = await ctx.db
    .selectFrom("deploy_functions as f")
    .innerJoin("deploys as d", "d.id", "f.deploy_id")
    .select("f.blob_sha1")
    .where("f.blob_sha1", "is not", null)
    .where("d.expired_at", "is", null)
    .execute();
  for (const row of functions) if (row.blob_sha1 !== null) marked.add(row.blob_sha1);
  // Build caches (`builds/cache/`) keep their blobs while their entry exists; evicted, they go.
  const caches = await ctx.db.selectFrom("build_cache_entries").select("blob_sha1").execute();
  for (const row of caches) marked.add(row.blob_sha1);
  const deploys = await ctx.db
    .selectFrom("deploys")
    .select("id")
    .where("expired_at", "is", null)
    .execute();
  for (const { id } of deploys) {
    if (expiring.has(id)) continue;
    const manifest = await manifests.get(id);
    if (!manifest) continue;
    for (const entry of manifest.files.values()) marked.add(entry.sha1);
  }
  return marked;
}

/** Entries of `dir` last changed before `cutoffMs` (and their sizes, for the report). */
async function staleEntries(
  dir: string,
  cutoffMs: number,
  keep: (name: string) => boolean = () => false,
): Promise<{ path: string; bytes: number }[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: { path: string; bytes: number }[] = [];
  for (const name of names) {
    if (keep(name)) continue;
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (info && info.mtimeMs < cutoffMs) out.push({ path, bytes: info.isFile() ? info.size : 0 });
  }
  return out;
}

async function removeLeftovers(
  ctx: GcContext,
  stores: GcStores,
  cutoffMs: number,
  dryRun: boolean,
  report: GcReport,
): Promise<void> {
  const stale = [
    ...(await staleEntries(stores.uploadDir, cutoffMs)),
    // A `.gc-` file is a blob this collector (or a crashed one) moved aside: the store's.
    ...("inner" in stores.blobs
      ? await staleEntries(join(stores.blobs.inner.root, "tmp"), cutoffMs, (name) =>
          name.startsWith(".gc-"),
        )
      : []),
  ];
  if ("inner" in stores.blobs) {
    // A digest deploy's staged uploads, once it no longer takes them or finishes (failed,
    // cancelled, abandoned): a finished one's were committed and their directory removed.
    const live = new Set(
      (
        await ctx.db
          .selectFrom("deploys")
          .select("id")
          .where("build_id", "is", null)
          .where("state", "in", [...DECLARABLE_STATES, "processing"])
          .execute()
      ).map((d) => d.id),
    );
    stale.push(
      ...(await staleEntries(join(stores.blobs.inner.root, "staging"), cutoffMs, (name) =>
        live.has(name),
      )),
    );
  }
  if (stores.workRoot !== undefined) {
    const running = new Set(
      (
        await ctx.db.selectFrom("builds").select("id").where("state", "=", "building").execute()
      ).map((b) => b.id),
    );
    const buildOf = (name: string): string => /^[0-9a-f]{24}/.exec(name)?.[0] ?? name;
    stale.push(
      ...(await staleEntries(stores.workRoot, cutoffMs, (name) => running.has(buildOf(name)))),
    );
  }
  for (const entry of stale) {
    if (!dryRun) await rm(entry.path, { recursive: true, force: true });
    report.leftoversRemoved++;
    report.leftoverBytesFreed += entry.bytes;
  }
}
