import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { hasControlCharacters } from "../../lib/text.ts";
import { isSha1 } from "./blob-store.ts";
import { fsyncDir, writeFileAtomic } from "./durable-files.ts";

/**
 * A deploy is a manifest: site path → {sha1, size, mode?}. Paths are relative, use forward
 * slashes and never contain `.`/`..`/empty segments, backslashes or control characters
 * (`validateManifestPath` is the one gate, shared with the API's digest deploys). Files live in a
 * `BlobStore` by content; a manifest is small, immutable JSON kept in a `ManifestStore`.
 *
 * In memory, `files` is a `Map`, so a request for `/constructor` or `/__proto__` can never hit an
 * inherited object property.
 */

export interface ManifestEntry {
  readonly sha1: string;
  readonly size: number;
  /** Permission bits of the published file (informational; the edge ignores them). */
  readonly mode?: number;
}

export interface DeployManifest {
  readonly files: ReadonlyMap<string, ManifestEntry>;
}

/** Longest manifest path accepted, in characters. */
export const MAX_MANIFEST_PATH_LENGTH = 1024;
/** Longest path segment accepted, in UTF-8 bytes (the common file-system limit). */
const MAX_SEGMENT_BYTES = 255;

export class ManifestPathError extends Error {
  override name = "ManifestPathError";
  readonly code = "invalid_path";
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`invalid file path ${JSON.stringify(path)}: ${reason}`);
  }
}

export class ManifestError extends Error {
  override name = "ManifestError";
  readonly code = "invalid_manifest";
}

export class ManifestConflictError extends Error {
  override name = "ManifestConflictError";
  readonly code = "manifest_conflict";
  constructor(readonly deployId: string) {
    super(`deploy ${deployId} already has a different manifest; deploys are immutable`);
  }
}

/**
 * Checks a file path for a manifest and returns its canonical form (no leading slash).
 * Accepts the digest-deploy form `/index.html` as well as `index.html`. With `urlEncoded`
 * (netlify-cli encodes each segment), segments are percent-decoded first; an encoded slash
 * (`%2F`) inside a segment is refused, not turned into a separator.
 * Throws `ManifestPathError` naming the reason.
 */
export function validateManifestPath(path: string, options: { urlEncoded?: boolean } = {}): string {
  if (typeof path !== "string") throw new ManifestPathError(String(path), "must be a string");
  const body = path.startsWith("/") ? path.slice(1) : path;
  if (body === "") throw new ManifestPathError(path, "is empty");
  if (path.length > MAX_MANIFEST_PATH_LENGTH) {
    throw new ManifestPathError(path, `is longer than ${MAX_MANIFEST_PATH_LENGTH} characters`);
  }
  const segments = body.split("/");
  const out: string[] = [];
  for (let raw of segments) {
    if (options.urlEncoded) {
      try {
        raw = decodeURIComponent(raw);
      } catch {
        throw new ManifestPathError(path, "has malformed percent-encoding");
      }
      if (raw.includes("/")) throw new ManifestPathError(path, "has an encoded slash in a name");
    }
    if (raw === "") {
      throw new ManifestPathError(
        path,
        segments.at(-1) === "" ? "ends with a slash (names a directory, not a file)" : "has '//'",
      );
    }
    if (raw === "." || raw === "..") {
      throw new ManifestPathError(path, `has a '${raw}' segment`);
    }
    if (raw.includes("\\")) throw new ManifestPathError(path, "has a backslash");
    if (hasControlCharacters(raw)) {
      throw new ManifestPathError(path, "has a control character or NUL");
    }
    if (Buffer.byteLength(raw) > MAX_SEGMENT_BYTES) {
      throw new ManifestPathError(path, `has a name longer than ${MAX_SEGMENT_BYTES} bytes`);
    }
    out.push(raw);
  }
  return out.join("/");
}

function checkEntry(path: string, entry: unknown): ManifestEntry {
  if (typeof entry !== "object" || entry === null) {
    throw new ManifestError(`entry for ${JSON.stringify(path)} is not an object`);
  }
  const { sha1, size, mode } = entry as Record<string, unknown>;
  if (typeof sha1 !== "string" || !isSha1(sha1)) {
    throw new ManifestError(`entry for ${JSON.stringify(path)} has no valid lowercase hex sha1`);
  }
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw new ManifestError(`entry for ${JSON.stringify(path)} has no valid size`);
  }
  if (mode === undefined) return { sha1, size };
  if (typeof mode !== "number" || !Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new ManifestError(`entry for ${JSON.stringify(path)} has an invalid mode`);
  }
  return { sha1, size, mode };
}

/**
 * Builds a manifest from (path, entry) pairs, validating and canonicalising every path.
 * Two paths that canonicalise to the same file are refused.
 */
export function createManifest(
  entries: Iterable<readonly [string, ManifestEntry]>,
  options: { urlEncoded?: boolean } = {},
): DeployManifest {
  const files = new Map<string, ManifestEntry>();
  for (const [rawPath, rawEntry] of entries) {
    const path = validateManifestPath(rawPath, options);
    if (files.has(path)) throw new ManifestError(`path ${JSON.stringify(path)} appears twice`);
    files.set(path, checkEntry(path, rawEntry));
  }
  return { files };
}

/** Total bytes of the files a manifest names (a blob shared by two paths counts twice). */
export function manifestTotalBytes(manifest: DeployManifest): number {
  let total = 0;
  for (const entry of manifest.files.values()) total += entry.size;
  return total;
}

/** Stable JSON (paths sorted): `{"version":1,"files":{"index.html":{"sha1":…,"size":…}}}`. */
export function manifestToJson(manifest: DeployManifest): string {
  const paths = [...manifest.files.keys()].sort();
  const files: Record<string, ManifestEntry> = {};
  for (const path of paths) {
    const { sha1, size, mode } = manifest.files.get(path)!;
    Object.defineProperty(files, path, {
      value: mode === undefined ? { sha1, size } : { sha1, size, mode },
      enumerable: true,
    });
  }
  return JSON.stringify({ version: 1, files });
}

/** Parses and fully validates a manifest's JSON; throws `ManifestError`/`ManifestPathError`. */
export function parseManifestJson(text: string): DeployManifest {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`manifest is not JSON: ${(error as Error).message}`);
  }
  if (typeof data !== "object" || data === null)
    throw new ManifestError("manifest is not an object");
  const { version, files } = data as Record<string, unknown>;
  if (version !== 1) throw new ManifestError(`unsupported manifest version ${String(version)}`);
  if (typeof files !== "object" || files === null || Array.isArray(files)) {
    throw new ManifestError("manifest has no files object");
  }
  const manifest = createManifest(Object.entries(files) as [string, ManifestEntry][]);
  for (const path of Object.keys(files)) {
    if (!manifest.files.has(path)) {
      throw new ManifestError(`path ${JSON.stringify(path)} is not in canonical form`);
    }
  }
  return manifest;
}

/** Persists manifests by deploy id. Deploys are immutable: a second, different put is refused. */
export interface ManifestStore {
  /** Stores durably; idempotent for identical content; `ManifestConflictError` otherwise. */
  put(deployId: string, manifest: DeployManifest): Promise<void>;
  get(deployId: string): Promise<DeployManifest | undefined>;
  delete(deployId: string): Promise<void>;
}

const DEPLOY_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export function assertDeployId(deployId: string): void {
  if (!DEPLOY_ID.test(deployId)) {
    throw new TypeError(`invalid deploy id ${JSON.stringify(deployId)}`);
  }
}

/** Manifests as `<root>/manifests/<deployId>.json`, written atomically and durably. */
export class LocalManifestStore implements ManifestStore {
  private readonly dir: string;

  private constructor(root: string) {
    this.dir = join(root, "manifests");
  }

  static async open(root: string): Promise<LocalManifestStore> {
    const store = new LocalManifestStore(root);
    await mkdir(store.dir, { recursive: true });
    return store;
  }

  private pathOf(deployId: string): string {
    assertDeployId(deployId);
    return join(this.dir, `${deployId}.json`);
  }

  async put(deployId: string, manifest: DeployManifest): Promise<void> {
    const path = this.pathOf(deployId);
    const json = manifestToJson(manifest);
    const existing = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
    if (existing !== undefined) {
      if (existing === json) return;
      throw new ManifestConflictError(deployId);
    }
    await writeFileAtomic(path, this.dir, json);
  }

  async get(deployId: string): Promise<DeployManifest | undefined> {
    let text: string;
    try {
      text = await readFile(this.pathOf(deployId), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    return parseManifestJson(text);
  }

  async delete(deployId: string): Promise<void> {
    await rm(this.pathOf(deployId), { force: true });
    await fsyncDir(this.dir);
  }
}
