import { createReadStream } from "node:fs";
import { lstat, mkdir, rename, rm } from "node:fs/promises";
import { join, posix } from "node:path";
import { formatSize } from "../../../lib/sizes.ts";
import type { PlatformContext } from "../../context.ts";
import type { BlobStore } from "../../deploys/blob-store.ts";
import { BlobNotFoundError } from "../../deploys/blob-store.ts";
import type { BuildLog } from "../build-log.ts";
import { createArchive, extractArchive, hasZstd, type ArchiveFormat } from "./archive.ts";
import {
  deleteEntry,
  evictLeastRecentlyUsed,
  findEntry,
  recentSnapshots,
  recordEntry,
  touchEntry,
  type CacheEntry,
  type CacheLayer,
} from "./entries.ts";
import { planInstall, STORE_DIR, type InstallPlan } from "./install.ts";
import { inputsKey, installInputs, parseInputs, whatChanged, type InstallInputs } from "./key.ts";
import { dropWarmSnapshot, takeWarmSnapshot, warmSnapshot } from "./warm.ts";
import { SANDBOX_DEFAULTS } from "../sandbox/limits.ts";

/**
 * A site's build cache, in three layers restored before the build and saved after a
 * successful one (docs/builds.md, "Build cache"):
 *
 * - `store`: the package manager's content-addressed store (npm's `_cacache`, pnpm's store,
 *   yarn's cache), always reusable: restored whenever the install runs.
 * - `node_modules`: a snapshot keyed by every install input (`key.ts`); a hit skips the install.
 * - `framework`: `.next/cache`, `.astro`, `node_modules/.cache`… keyed by branch, falling back
 *   to the production branch's.
 *
 * Builds from untrusted sources (an approved fork's deploy preview) restore but never save.
 */

/** Framework caches, relative to the base directory. */
export const FRAMEWORK_CACHE_DIRS = [
  ".astro",
  ".next/cache",
  "node_modules/.cache",
  ".cache",
  "resources/_gen",
] as const;

export interface BuildCacheRun {
  ctx: Pick<PlatformContext, "db" | "now" | "config" | "log">;
  blobs: BlobStore;
  siteId: string;
  base: string | null;
  branch: string;
  productionBranch: string | null;
  clearCache: boolean;
  /** An approved deploy preview from a fork: reads caches, never writes them. */
  untrusted: boolean;
  workDir: string;
  /** The site's variables (the install-relevant ones are part of the snapshot's key). */
  env: Readonly<Record<string, string>>;
  /** The Node the build runs with (`<dir>/bin/node`); undefined: the platform's. */
  nodeDir: string | undefined;
  log: Pick<BuildLog, "write">;
}

export interface RestoredCache {
  /** The install to run, or undefined (no package.json, or a `node_modules` hit). */
  install: InstallPlan | undefined;
  plan: InstallPlan | undefined;
  inputs: InstallInputs | undefined;
  framework: CacheEntry | undefined;
}

/** Restoring is part of building; saving happens after publishing, while cleaning up. */
const say = (
  run: BuildCacheRun,
  message: string,
  section: "building" | "cleanup" = "building",
): void => run.log.write(section, message);

const seconds = (startMs: number): string => `${((Date.now() - startMs) / 1000).toFixed(2)}s`;

export async function restoreBuildCache(run: BuildCacheRun): Promise<RestoredCache> {
  let plan = await planInstall(run.workDir, run.base);
  if (plan !== undefined && plan.lockfile === undefined) {
    // Without a lockfile an install is not reproducible (and may need a network the site's
    // builds lack): the command installs what it needs, as before Slipway installed at all.
    say(
      run,
      "No lockfile (package-lock.json, pnpm-lock.yaml, yarn.lock): Slipway installs nothing and caches no node_modules; the build command installs what it needs.",
    );
    plan = undefined;
  }
  const inputs =
    plan?.lockfile === undefined
      ? undefined
      : await installInputs(
          run.workDir,
          { ...plan, lockfile: plan.lockfile },
          run.base,
          run.env,
          run.nodeDir,
        );
  if (run.clearCache) {
    await dropWarmSnapshot(run.workDir, run.siteId);
    say(
      run,
      "Build cache: nothing restored: clear_cache requested; this build replaces the cache.",
    );
    return { install: plan, plan, inputs, framework: undefined };
  }
  let install = plan;
  if (plan !== undefined && inputs !== undefined) {
    const hit = await restoreSnapshot(run, plan, inputs);
    if (hit) install = undefined;
  }
  if (install !== undefined) {
    const store = await findEntry(run.ctx, run.siteId, "store", install.manager);
    if (store === undefined) say(run, `Build cache: no ${install.manager} package store yet.`);
    else await restoreEntry(run, store, `the ${install.manager} package store`);
  }
  const framework = await restoreFramework(run);
  return { install, plan, inputs, framework };
}

async function restoreSnapshot(
  run: BuildCacheRun,
  plan: InstallPlan,
  inputs: InstallInputs,
): Promise<boolean> {
  const entry = await findEntry(run.ctx, run.siteId, "node_modules", inputsKey(inputs));
  if (entry === undefined) {
    const previous = (await recentSnapshots(run.ctx, run.siteId))
      .map((row) => parseInputs(row.inputs))
      .find((old) => old?.base === inputs.base);
    const reason = previous === undefined ? "no cache yet" : whatChanged(previous, inputs);
    say(run, `Build cache: node_modules not restored: ${reason}; installing.`);
    return false;
  }
  for (const dir of plan.nodeModules) {
    if (await exists(join(run.workDir, dir))) {
      say(run, `Build cache: node_modules not restored: the repository has ${dir}; installing.`);
      return false;
    }
  }
  const what = `node_modules (lockfile ${inputs.lockfile.slice(0, 12)}, Node ${inputs.node}, ${inputs.manager})`;
  const started = Date.now();
  if (await takeWarmSnapshot(run.workDir, run.siteId, entry, plan.nodeModules)) {
    await touchEntry(run.ctx, entry.id);
    say(
      run,
      `Build cache: restored ${what} (${formatSize(entry.size_bytes)}, unpacked ahead, in ${seconds(started)}).`,
    );
  } else if (!(await restoreEntry(run, entry, what))) {
    // Whatever a failed extraction left is no install's starting point.
    for (const dir of plan.nodeModules) {
      await rm(join(run.workDir, dir), { recursive: true, force: true });
    }
    return false;
  }
  say(run, "Build cache: the dependencies are those of the lockfile: the install is skipped.");
  return true;
}

async function restoreFramework(run: BuildCacheRun): Promise<CacheEntry | undefined> {
  const key = run.base ?? "";
  let entry = await findEntry(run.ctx, run.siteId, "framework", key, run.branch);
  if (entry === undefined && run.productionBranch !== null && run.productionBranch !== run.branch) {
    entry = await findEntry(run.ctx, run.siteId, "framework", key, run.productionBranch);
  }
  if (entry === undefined) return undefined;
  const restored = await restoreEntry(
    run,
    entry,
    `framework caches of ${entry.branch === run.branch ? "this branch" : `the production branch (${entry.branch})`}`,
  );
  return restored ? entry : undefined;
}

/** Extracts `entry` into the checkout; false (and the entry dropped) when its blob is gone. */
async function restoreEntry(run: BuildCacheRun, entry: CacheEntry, what: string): Promise<boolean> {
  const started = Date.now();
  const format = entry.format as ArchiveFormat;
  if (format === "tar.zst" && !(await hasZstd())) {
    say(run, `Build cache: ${what} not restored: zstd is no longer installed on the platform.`);
    return false;
  }
  try {
    await extractArchive(await run.blobs.read(entry.blob_sha1), format, run.workDir);
  } catch (error) {
    if (!(error instanceof BlobNotFoundError)) {
      run.ctx.log.warn(
        { err: error, entry: entry.id },
        "a build cache entry could not be restored",
      );
    }
    await deleteEntry(run.ctx, entry.id);
    say(run, `Build cache: ${what} could not be restored (${errorText(error)}); dropped.`);
    return false;
  }
  await touchEntry(run.ctx, entry.id);
  say(
    run,
    `Build cache: restored ${what} (${formatSize(entry.size_bytes)} in ${seconds(started)}).`,
  );
  return true;
}

/**
 * After a successful build, once its deploy is published: saves what changed (the snapshot and
 * the store after an install, the framework caches always), then evicts least-recently-used
 * entries over the caps. `storeRoot` holds the package store (`setStoreAside`).
 */
export async function saveBuildCache(
  run: BuildCacheRun,
  restored: RestoredCache,
  storeRoot: string = run.workDir,
): Promise<void> {
  if (run.untrusted) {
    say(
      run,
      "Build cache: not saved: this build's source is untrusted (a fork's deploy preview).",
      "cleanup",
    );
    return;
  }
  const { install, inputs } = restored;
  if (install !== undefined && inputs !== undefined) {
    const dirs: string[] = [];
    for (const dir of install.nodeModules) if (await exists(join(run.workDir, dir))) dirs.push(dir);
    if (dirs.length > 0) {
      await saveLayer(run, "node_modules", inputsKey(inputs), null, dirs, "node_modules", {
        exclude: install.nodeModules.map((dir) => `${dir}/.cache`),
        inputs: JSON.stringify(inputs),
      });
    }
  }
  if (install !== undefined) {
    const store = posix.join(STORE_DIR, install.manager);
    if (await exists(join(storeRoot, store))) {
      await saveLayer(
        run,
        "store",
        install.manager,
        null,
        [store],
        `the ${install.manager} package store`,
        { dir: storeRoot },
      );
    }
  }
  const base = run.base ?? "";
  const frameworkDirs: string[] = [];
  for (const dir of FRAMEWORK_CACHE_DIRS) {
    const path = posix.join(base, dir);
    if (await exists(join(run.workDir, path))) frameworkDirs.push(path);
  }
  if (frameworkDirs.length > 0) {
    await saveLayer(run, "framework", base, run.branch, frameworkDirs, "framework caches", {
      unchanged: restored.framework?.branch === run.branch ? restored.framework : undefined,
    });
  }
  if (inputs !== undefined) await warmNext(run, inputs);
  const caps = run.ctx.config.builds.cache ?? {
    siteMaxBytes: 2 * 1024 ** 3,
    maxBytes: 20 * 1024 ** 3,
  };
  for (const { entry, cap } of await evictLeastRecentlyUsed(run.ctx, run.siteId, caps)) {
    if (entry.site_id !== run.siteId) continue;
    say(
      run,
      `Build cache: evicted ${entry.layer === "framework" ? "framework caches" : entry.layer} (${formatSize(entry.size_bytes)}, last used ${entry.last_used_at}): over ${cap === "site" ? "SLIPWAY_BUILD_CACHE_SITE_MAX" : "SLIPWAY_BUILD_CACHE_MAX"}.`,
      "cleanup",
    );
  }
}

/** Unpacks the snapshot the next build with these inputs will restore (`warm.ts`). */
async function warmNext(run: BuildCacheRun, inputs: InstallInputs): Promise<void> {
  const entry = await findEntry(run.ctx, run.siteId, "node_modules", inputsKey(inputs));
  if (entry === undefined) return;
  const started = Date.now();
  const floor = run.ctx.config.builds.limits?.minFreeDiskBytes ?? SANDBOX_DEFAULTS.minFreeDiskBytes;
  if (await warmSnapshot(run.blobs, run.workDir, run.siteId, entry, floor)) {
    say(
      run,
      `Build cache: node_modules unpacked ahead for the next build (${seconds(started)}).`,
      "cleanup",
    );
  }
}

/**
 * Where the package store waits, beside the checkout, between the build and the cache's save:
 * out of the checkout, so that it is never published (a publish directory of `.` included),
 * and out of the sandbox's reach (only the checkout is bound into it).
 */
export const storeAsideDir = (workDir: string): string => `${workDir}.store`;

/** Moves the package store out of the checkout (a rename); returns the directory now holding it. */
export async function setStoreAside(workDir: string): Promise<string> {
  const aside = storeAsideDir(workDir);
  await mkdir(aside, { mode: 0o700 });
  try {
    await rename(join(workDir, STORE_DIR), join(aside, STORE_DIR));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  return aside;
}

async function saveLayer(
  run: BuildCacheRun,
  layer: CacheLayer,
  key: string,
  branch: string | null,
  paths: string[],
  what: string,
  options: {
    exclude?: string[];
    inputs?: string;
    unchanged?: CacheEntry | undefined;
    /** The directory `paths` are relative to; the checkout by default. */
    dir?: string;
  } = {},
): Promise<void> {
  const started = Date.now();
  const temp = `${run.workDir}.cache-${layer}`;
  try {
    const archive = await createArchive(options.dir ?? run.workDir, paths, temp, options.exclude);
    if (options.unchanged?.blob_sha1 === archive.sha1) {
      await touchEntry(run.ctx, options.unchanged.id);
      say(run, `Build cache: ${what} unchanged (${formatSize(archive.size)}).`, "cleanup");
      return;
    }
    await run.blobs.put(archive.sha1, createReadStream(temp));
    await recordEntry(run.ctx, {
      site_id: run.siteId,
      layer,
      key,
      branch,
      inputs: options.inputs ?? null,
      blob_sha1: archive.sha1,
      format: archive.format,
      size_bytes: archive.size,
    });
    say(
      run,
      `Build cache: saved ${what} (${formatSize(archive.size)} in ${seconds(started)}).`,
      "cleanup",
    );
  } catch (error) {
    // A cache that cannot be saved never fails the build.
    run.ctx.log.warn({ err: error, layer }, "a build cache entry could not be saved");
    say(run, `Build cache: ${what} not saved: ${errorText(error)}.`, "cleanup");
  } finally {
    await rm(temp, { force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    (info) => info.isDirectory(),
    () => false,
  );
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
