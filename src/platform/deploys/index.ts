/**
 * # Deploys: content-addressed file store and publishing
 *
 * A deploy is an immutable manifest (site path → SHA-1, size) over a content-addressed blob
 * store, so a file that did not change between deploys is stored once and a redeploy writes
 * only what changed. Publishing a site means pointing it at a new manifest — one atomic
 * pointer update done by the caller (the platform's database) — so readers see the old deploy
 * or the new one, never a mix.
 *
 * - `BlobStore` / `BlobReader` (`LocalBlobStore`: files under `<root>/blobs/ab/cdef…`, written
 *   via temp file + fsync + rename, SHA-1 verified on write). An S3 store can replace it.
 * - `ManifestStore` (`LocalManifestStore`: `<root>/manifests/<deployId>.json`, atomic write,
 *   immutable per deploy id) and the manifest helpers (`createManifest`, JSON round trip).
 * - `validateManifestPath`: the single gate for file paths, shared with the API's digest
 *   deploys (`/index.html` style and netlify-cli's percent-encoded segments).
 * - `publishDirectory(dir, {blobs, limits})`: walks a build output, refuses symlinks leaving
 *   it, FIFOs, sockets, devices and oversize output with a `PublishError`, hashes on worker
 *   threads and stores new blobs only.
 *
 * Beside these, in their own modules (they need the platform's database): `publish-switch.ts`
 * (the one atomic publish, restore and rollback), `digest.ts` (Netlify's digest deploys, finished
 * by a durable job), `ownership.ts` (which blobs each account has provided) and `zip.ts`.
 *
 * Not here: garbage collection of blobs no manifest references (run off the hot path), and the
 * S3 implementation.
 */
export {
  BlobIntegrityError,
  BlobNotFoundError,
  BlobTooLargeError,
  LocalBlobStore,
  isSha1,
  sha1Hex,
  type BlobReader,
  type BlobStore,
  type ByteRange,
  type PutOptions,
  type PutResult,
} from "./blob-store.ts";
export {
  LocalManifestStore,
  MAX_MANIFEST_PATH_LENGTH,
  ManifestConflictError,
  ManifestError,
  ManifestPathError,
  createManifest,
  manifestToJson,
  manifestTotalBytes,
  parseManifestJson,
  validateManifestPath,
  type DeployManifest,
  type ManifestEntry,
  type ManifestStore,
} from "./manifest.ts";
export {
  DEFAULT_PUBLISH_LIMITS,
  PublishError,
  publishDirectory,
  type PublishErrorCode,
  type PublishLimits,
  type PublishOptions,
  type PublishResult,
  type PublishStats,
} from "./publish.ts";
