/**
 * One immutable build-cache entry of a site (`builds/cache/`): a tar in the blob store of one
 * layer — the package manager's store, a `node_modules` snapshot, or a framework's caches.
 */
export interface BuildCacheEntriesTable {
  id: string;
  site_id: string;
  /** `store`, `node_modules` or `framework`. */
  layer: "store" | "node_modules" | "framework";
  /**
   * What a build must match to use it: `store`: the package manager and base directory;
   * `node_modules`: the SHA-256 of every install input; `framework`: the base directory.
   */
  key: string;
  /** `framework` entries: the branch that wrote it (others read the production branch's). */
  branch: string | null;
  /** The install inputs as JSON (`node_modules`): how a miss says what changed. */
  inputs: string | null;
  blob_sha1: string;
  /** `tar` or `tar.zst`. */
  format: string;
  size_bytes: number;
  created_at: string;
  /** Eviction is least-recently-used under `SLIPWAY_BUILD_CACHE_SITE_MAX` and `…_MAX`. */
  last_used_at: string;
}
