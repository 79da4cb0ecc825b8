import { createHash } from "node:crypto";
import type { Kysely } from "kysely";
import { isoNow, type PlatformContext } from "../context.ts";
import type { Deploy, DeployState, PlatformDatabase, Site } from "../db/schema.ts";
import type { JobHandler } from "../jobs/workers.ts";
import { invalidField, PlatformError } from "../errors.ts";
import { BlobIntegrityError, isSha1, type BlobStore } from "./blob-store.ts";
import {
  createManifest,
  ManifestConflictError,
  ManifestPathError,
  validateManifestPath,
  type DeployManifest,
  type ManifestEntry,
  type ManifestStore,
} from "./manifest.ts";
import { blobsToUpload, recordBlobOwnership } from "./ownership.ts";
import { DEFAULT_PUBLISH_LIMITS } from "./publish.ts";
import { publishDirectDeploy, type PublishOutcome } from "./publish-switch.ts";
import { readLimited, storeVerified, UploadTooLargeError } from "./verified-upload.ts";

/**
 * The digest deploy protocol (Netlify's): a client declares its files (path → SHA-1) and
 * functions (name → SHA-256); the platform answers with the digests it still needs from this
 * account (`ownership.ts`); the client uploads them; when the last one arrives the deploy is
 * finished — manifest written, then the shared atomic switch (`publish-switch.ts`).
 *
 *   new ──declare──▶ uploading (prepared if async) ──last upload──▶ processing ──▶ ready
 *                         │                                             (error on failure,
 *                         └── no upload for an hour ──▶ error            cancel, abandon)
 *
 * Durability: every step is a database transaction before it is acknowledged. The move to
 * `processing` and a `deploy` job are written together; the upload that completes a deploy
 * then finishes it at once, and the job (run later by any worker) or the start-up re-run
 * (`resumeProcessingDeploys`) finish it if the process died first. Finishing is idempotent: the
 * manifest is derived from the declaration, and the switch only moves a `processing` deploy.
 */

export interface DeployServices {
  blobs: BlobStore;
  manifests: ManifestStore;
  /** Where zip uploads are spooled before extraction (on the data volume). */
  uploadDir: string;
  /** Called after a deploy became ready (the edge's host cache). */
  onPublished?: (siteName: string) => void;
  /**
   * Finish a deploy in the request that completed it (default). False leaves finishing to the
   * job queue and the start-up re-run (tests of crash safety).
   */
  finishInline?: boolean;
}

export const DEPLOY_QUEUE = "deploy";
export const deployJobKey = (deployId: string): string => `deploy:${deployId}`;
/** The job is a safety net: it runs after the inline finish should long have happened. */
const JOB_DELAY_MS = 10_000;
/** A direct deploy with no declaration or upload for this long is abandoned. */
export const ABANDON_AFTER_MS = 60 * 60 * 1000;

export const MAX_DEPLOY_FILES = DEFAULT_PUBLISH_LIMITS.maxFiles;
export const MAX_FILE_BYTES = DEFAULT_PUBLISH_LIMITS.maxFileBytes;
export const MAX_FUNCTIONS = 1000;
export const MAX_FUNCTION_BYTES = 64 * 1024 * 1024;
export const FUNCTIONS_WARNING = "Functions are stored but not served: Slipway serves static files";

/** States in which a direct deploy takes a (new) declaration of its files. */
export const DECLARABLE_STATES: readonly DeployState[] = [
  "new",
  "preparing",
  "prepared",
  "uploading",
];
/** States in which a direct deploy takes uploads. */
export const UPLOADING_STATES: readonly DeployState[] = ["prepared", "uploading"];
/** States in which a repeated upload of a declared file is accepted and changes nothing. */
const FINISHED_STATES: readonly DeployState[] = ["processing", "ready"];

const SHA256 = /^[0-9a-f]{64}$/;
const FUNCTION_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const CHUNK = 300;

function refused(message: string): PlatformError {
  return new PlatformError("unprocessable", message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Netlify's `files` (path → SHA-1) as a map of canonical paths; every path goes through
 * `validateManifestPath`, and each refusal names the path. The count is checked first, so a
 * huge map is refused before any work.
 */
export function parseFilesMap(value: unknown): Map<string, string> {
  if (!isObject(value)) throw invalidField("files", "must be an object of path → SHA-1");
  const keys = Object.keys(value);
  if (keys.length > MAX_DEPLOY_FILES) {
    throw invalidField(
      "files",
      `has ${keys.length} entries; a deploy holds at most ${MAX_DEPLOY_FILES} files`,
    );
  }
  const files = new Map<string, string>();
  for (const raw of keys) {
    let path: string;
    try {
      path = validateManifestPath(raw);
    } catch (error) {
      if (error instanceof ManifestPathError) {
        throw invalidField(`files`, `the path ${JSON.stringify(raw)} ${error.reason}`);
      }
      throw error;
    }
    const digest = value[raw];
    const sha1 = typeof digest === "string" ? digest.toLowerCase() : "";
    if (!isSha1(sha1)) {
      throw invalidField(
        "files",
        `the digest of ${JSON.stringify(raw)} must be a SHA-1 (40 hexadecimal characters)`,
      );
    }
    if (files.has(path)) {
      throw invalidField("files", `the path ${JSON.stringify(path)} appears twice`);
    }
    files.set(path, sha1);
  }
  return files;
}

/** Netlify's `functions` (name → SHA-256). */
export function parseFunctionsMap(value: unknown): Map<string, string> {
  if (!isObject(value)) throw invalidField("functions", "must be an object of name → SHA-256");
  const names = Object.keys(value);
  if (names.length > MAX_FUNCTIONS) {
    throw invalidField("functions", `has ${names.length} entries; at most ${MAX_FUNCTIONS}`);
  }
  const out = new Map<string, string>();
  for (const name of names) {
    if (!FUNCTION_NAME.test(name)) {
      throw invalidField(
        "functions",
        `the function name ${JSON.stringify(name.slice(0, 200))} is not allowed (letters, digits, _ . -; at most 128)`,
      );
    }
    const digest = value[name];
    const sha256 = typeof digest === "string" ? digest.toLowerCase() : "";
    if (!SHA256.test(sha256)) {
      throw invalidField(
        "functions",
        `the digest of ${JSON.stringify(name)} must be a SHA-256 (64 hexadecimal characters)`,
      );
    }
    out.set(name, sha256);
  }
  return out;
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/** Function zips this account already uploaded (by SHA-256), still in the store. */
async function heldFunctions(
  ctx: PlatformContext,
  blobs: BlobStore,
  accountId: string,
  sha256s: readonly string[],
): Promise<Map<string, { blobSha1: string; size: number | null }>> {
  const held = new Map<string, { blobSha1: string; size: number | null }>();
  for (const part of chunks([...new Set(sha256s)])) {
    const rows = await ctx.db
      .selectFrom("deploy_functions as f")
      .innerJoin("deploys as d", "d.id", "f.deploy_id")
      .innerJoin("sites as s", "s.id", "d.site_id")
      .select(["f.sha256", "f.blob_sha1", "f.size_bytes"])
      .where("s.account_id", "=", accountId)
      .where("f.sha256", "in", part)
      .where("f.blob_sha1", "is not", null)
      .execute();
    for (const row of rows) {
      if (row.blob_sha1 !== null) {
        held.set(row.sha256, { blobSha1: row.blob_sha1, size: row.size_bytes });
      }
    }
  }
  const lost = new Set(await blobs.missing([...held.values()].map((h) => h.blobSha1)));
  for (const [sha256, h] of held) if (lost.has(h.blobSha1)) held.delete(sha256);
  return held;
}

async function enqueueFinish(
  ctx: PlatformContext,
  trx: Kysely<PlatformDatabase>,
  deployId: string,
): Promise<void> {
  await ctx.jobs.enqueue(
    {
      queue: DEPLOY_QUEUE,
      payload: { deployId },
      dedupeKey: deployJobKey(deployId),
      maxAttempts: 5,
      runAt: new Date(ctx.now().getTime() + JOB_DELAY_MS),
    },
    trx,
  );
}

async function clearUploadState(db: Kysely<PlatformDatabase>, deployId: string): Promise<void> {
  await db.deleteFrom("deploy_files").where("deploy_id", "=", deployId).execute();
  await db.deleteFrom("deploy_uploads").where("deploy_id", "=", deployId).execute();
}

export interface Declaration {
  files: Map<string, string>;
  functions?: Map<string, string>;
  async?: boolean;
}

/**
 * Records what a direct deploy is made of and what it still needs; answers with the updated
 * deploy (its `required` and `required_functions`). When nothing is needed the deploy is
 * finished at once: its manifest is written (durably, before the move to `processing` commits,
 * so the finishing job always finds it) in place of a per-path declaration that no upload would
 * ever consult.
 */
export async function declareContent(
  ctx: PlatformContext,
  services: DeployServices,
  site: Site,
  deployId: string,
  declaration: Declaration,
): Promise<Deploy> {
  const { files } = declaration;
  const functions = declaration.functions ?? new Map<string, string>();
  const { required, sizes } = await blobsToUpload(
    ctx.db,
    services.blobs,
    site.account_id,
    files.values(),
  );
  const held = await heldFunctions(ctx, services.blobs, site.account_id, [...functions.values()]);
  const requiredFunctions = [...new Set(functions.values())].filter((sha) => !held.has(sha));
  const nothingNeeded = required.length === 0 && requiredFunctions.length === 0;
  const manifest = nothingNeeded
    ? createManifest([...files].map(([path, sha1]) => [path, { sha1, size: sizes.get(sha1)! }]))
    : undefined;
  const state: DeployState = nothingNeeded
    ? "processing"
    : declaration.async === true
      ? "prepared"
      : "uploading";
  const now = isoNow(ctx);

  await ctx.db.transaction().execute(async (trx) => {
    const claimed = await trx
      .updateTable("deploys")
      .set({
        state,
        required: JSON.stringify(required),
        required_functions: JSON.stringify(requiredFunctions),
        warnings: JSON.stringify(functions.size > 0 ? [FUNCTIONS_WARNING] : []),
        file_count: files.size,
        error_message: null,
        updated_at: now,
      })
      .where("id", "=", deployId)
      .where("build_id", "is", null)
      .where("state", "in", [...DECLARABLE_STATES])
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1) {
      const current = await trx
        .selectFrom("deploys")
        .select("state")
        .where("id", "=", deployId)
        .executeTakeFirst();
      throw refused(
        `deploy ${deployId} no longer takes a list of files (it is ${current?.state ?? "deleted"}); create a new deploy`,
      );
    }
    await clearUploadState(trx, deployId);
    await trx.deleteFrom("deploy_functions").where("deploy_id", "=", deployId).execute();
    if (manifest !== undefined) await putFreshManifest(services.manifests, deployId, manifest);
    for (const part of manifest === undefined ? chunks([...files]) : []) {
      await trx
        .insertInto("deploy_files")
        .values(part.map(([path, sha1]) => ({ deploy_id: deployId, path, sha1 })))
        .execute();
    }
    const uploads = [
      ...required.map((digest) => ({ deploy_id: deployId, kind: "file" as const, digest })),
      ...requiredFunctions.map((digest) => ({
        deploy_id: deployId,
        kind: "function" as const,
        digest,
      })),
    ];
    for (const part of chunks(uploads)) {
      await trx.insertInto("deploy_uploads").values(part).execute();
    }
    for (const part of chunks([...functions])) {
      await trx
        .insertInto("deploy_functions")
        .values(
          part.map(([name, sha256]) => ({
            deploy_id: deployId,
            name,
            sha256,
            runtime: null,
            blob_sha1: held.get(sha256)?.blobSha1 ?? null,
            size_bytes: held.get(sha256)?.size ?? null,
            created_at: now,
          })),
        )
        .execute();
    }
    if (nothingNeeded) await enqueueFinish(ctx, trx, deployId);
  });
  if (nothingNeeded) await finishAfterCommit(ctx, services, deployId, manifest);
  return ctx.db
    .selectFrom("deploys")
    .selectAll()
    .where("id", "=", deployId)
    .executeTakeFirstOrThrow();
}

/**
 * Stores the manifest of a deploy that is still being declared. One already there was left by
 * a declaration whose transaction never committed (a crash), so it is replaced.
 */
async function putFreshManifest(
  manifests: ManifestStore,
  deployId: string,
  manifest: DeployManifest,
): Promise<void> {
  try {
    await manifests.put(deployId, manifest);
  } catch (error) {
    if (!(error instanceof ManifestConflictError)) throw error;
    await manifests.delete(deployId);
    await manifests.put(deployId, manifest);
  }
}

/** Runs the finishing step in this request unless configured off; failures are the job's. */
async function finishAfterCommit(
  ctx: PlatformContext,
  services: DeployServices,
  deployId: string,
  manifest?: DeployManifest,
): Promise<void> {
  if (services.finishInline === false) return;
  try {
    await completeDeploy(ctx, services, deployId, manifest);
  } catch (error) {
    ctx.log.error({ err: error, deployId }, "finishing a deploy failed; its job will retry");
  }
}

/**
 * Marks one awaited upload as received (inside `trx`); when it was the last, moves the deploy
 * to `processing` with its finishing job and returns true.
 */
async function markReceived(
  ctx: PlatformContext,
  trx: Kysely<PlatformDatabase>,
  deployId: string,
  kind: "file" | "function",
  digest: string,
): Promise<boolean> {
  const now = isoNow(ctx);
  await trx
    .deleteFrom("deploy_uploads")
    .where("deploy_id", "=", deployId)
    .where("kind", "=", kind)
    .where("digest", "=", digest)
    .execute();
  const touched = await trx
    .updateTable("deploys")
    .set({ updated_at: now })
    .where("id", "=", deployId)
    .where("state", "in", [...UPLOADING_STATES])
    .executeTakeFirst();
  if (Number(touched.numUpdatedRows) !== 1) return false;
  const waiting = await trx
    .selectFrom("deploy_uploads")
    .select("digest")
    .where("deploy_id", "=", deployId)
    .limit(1)
    .executeTakeFirst();
  if (waiting) return false;
  await trx
    .updateTable("deploys")
    .set({ state: "processing", updated_at: now })
    .where("id", "=", deployId)
    .where("state", "in", [...UPLOADING_STATES])
    .execute();
  await enqueueFinish(ctx, trx, deployId);
  return true;
}

function checkUploading(deploy: Deploy): void {
  if (deploy.build_id !== null) {
    throw refused(
      `deploy ${deploy.id} was made by a build; files are uploaded only to deploys created with POST /api/v1/sites/:site_id/deploys`,
    );
  }
  // A retried upload whose first try landed (the client saw a network error) must not fail
  // the client's deploy: a finished deploy still takes the very same bytes, changing nothing.
  if (!UPLOADING_STATES.includes(deploy.state) && !FINISHED_STATES.includes(deploy.state)) {
    const why =
      deploy.state === "new"
        ? "it has no list of files yet (PUT /api/v1/sites/:site_id/deploys/:deploy_id with files first)"
        : `it is ${deploy.state}${deploy.error_message ? ` (${deploy.error_message})` : ""}`;
    throw refused(`deploy ${deploy.id} does not take uploads: ${why}`);
  }
}

/** The SHA-1 declared for a path: from the declaration, or the manifest once it is written. */
async function declaredFile(
  ctx: PlatformContext,
  services: DeployServices,
  deploy: Deploy,
  path: string,
): Promise<{ sha1: string } | undefined> {
  const row = await ctx.db
    .selectFrom("deploy_files")
    .select("sha1")
    .where("deploy_id", "=", deploy.id)
    .where("path", "=", path)
    .executeTakeFirst();
  if (row || UPLOADING_STATES.includes(deploy.state)) return row;
  const entry = (await services.manifests.get(deploy.id))?.files.get(path);
  return entry && { sha1: entry.sha1 };
}

/** One file of a digest deploy: its bytes must hash to the SHA-1 declared for its path. */
export async function acceptFileUpload(
  ctx: PlatformContext,
  services: DeployServices,
  site: Site,
  deploy: Deploy,
  path: string,
  body: AsyncIterable<Buffer | string>,
): Promise<{ path: string; sha1: string; size: number }> {
  checkUploading(deploy);
  const declared = await declaredFile(ctx, services, deploy, path);
  if (!declared) {
    throw refused(
      `${JSON.stringify(path)} is not one of the files declared for deploy ${deploy.id}; nothing was stored`,
    );
  }
  let size: number;
  try {
    ({ size } = await storeVerified(services.blobs, declared.sha1, body, MAX_FILE_BYTES));
  } catch (error) {
    if (error instanceof BlobIntegrityError) {
      throw refused(
        `the content uploaded for ${JSON.stringify(path)} hashes to ${error.actual}, not to the declared SHA-1 ${declared.sha1}; nothing was stored`,
      );
    }
    if (error instanceof UploadTooLargeError) {
      throw refused(`${JSON.stringify(path)} is too large: ${error.message}`);
    }
    throw error;
  }
  const finished = await ctx.db.transaction().execute(async (trx) => {
    await recordBlobOwnership(trx, site.account_id, [declared.sha1], isoNow(ctx));
    return markReceived(ctx, trx, deploy.id, "file", declared.sha1);
  });
  if (finished) await finishAfterCommit(ctx, services, deploy.id);
  return { path, sha1: declared.sha1, size };
}

/** One function zip of a digest deploy: stored (by SHA-1) and recorded, not served. */
export async function acceptFunctionUpload(
  ctx: PlatformContext,
  services: DeployServices,
  site: Site,
  deploy: Deploy,
  name: string,
  runtime: string | undefined,
  body: AsyncIterable<Buffer | string>,
): Promise<{ name: string; sha256: string; size: number }> {
  checkUploading(deploy);
  const declared = await ctx.db
    .selectFrom("deploy_functions")
    .select("sha256")
    .where("deploy_id", "=", deploy.id)
    .where("name", "=", name)
    .executeTakeFirst();
  if (!declared) {
    throw refused(
      `${JSON.stringify(name)} is not one of the functions declared for deploy ${deploy.id}; nothing was stored`,
    );
  }
  let data: Buffer;
  try {
    data = await readLimited(body, MAX_FUNCTION_BYTES);
  } catch (error) {
    if (error instanceof UploadTooLargeError) {
      throw refused(`the function ${JSON.stringify(name)} is too large: ${error.message}`);
    }
    throw error;
  }
  const sha256 = createHash("sha256").update(data).digest("hex");
  if (sha256 !== declared.sha256) {
    throw refused(
      `the zip uploaded for function ${JSON.stringify(name)} hashes to ${sha256}, not to the declared SHA-256 ${declared.sha256}; nothing was stored`,
    );
  }
  const sha1 = createHash("sha1").update(data).digest("hex");
  await services.blobs.put(sha1, data);
  const finished = await ctx.db.transaction().execute(async (trx) => {
    const now = isoNow(ctx);
    await recordBlobOwnership(trx, site.account_id, [sha1], now);
    await trx
      .updateTable("deploy_functions")
      .set({ blob_sha1: sha1, size_bytes: data.length, runtime: runtime ?? null })
      .where("deploy_id", "=", deploy.id)
      .where("sha256", "=", sha256)
      .execute();
    return markReceived(ctx, trx, deploy.id, "function", sha256);
  });
  if (finished) await finishAfterCommit(ctx, services, deploy.id);
  return { name, sha256, size: data.length };
}

/** What the deploy still waits for, read from the upload rows (the column is a snapshot). */
export async function remainingUploads(
  ctx: PlatformContext,
  deploy: Deploy,
): Promise<{ required: string[]; requiredFunctions: string[] } | undefined> {
  if (!UPLOADING_STATES.includes(deploy.state)) return undefined;
  const rows = await ctx.db
    .selectFrom("deploy_uploads")
    .select(["kind", "digest"])
    .where("deploy_id", "=", deploy.id)
    .execute();
  return {
    required: rows.filter((r) => r.kind === "file").map((r) => r.digest),
    requiredFunctions: rows.filter((r) => r.kind === "function").map((r) => r.digest),
  };
}

/** Fails a direct deploy that is still in one of `from`; returns whether it did. */
export async function failDirectDeploy(
  ctx: PlatformContext,
  deployId: string,
  message: string,
  from: readonly DeployState[],
): Promise<boolean> {
  const changed = await ctx.db.transaction().execute(async (trx) => {
    const result = await trx
      .updateTable("deploys")
      .set({ state: "error", error_message: message, updated_at: isoNow(ctx) })
      .where("id", "=", deployId)
      .where("build_id", "is", null)
      .where("state", "in", [...from])
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) return false;
    await clearUploadState(trx, deployId);
    return true;
  });
  return changed;
}

/** The manifest of a finished declaration: every declared path with its blob's size. */
async function manifestFromDeclaration(
  ctx: PlatformContext,
  blobs: BlobStore,
  deploy: Deploy,
): Promise<DeployManifest | string> {
  const rows = await ctx.db
    .selectFrom("deploy_files")
    .select(["path", "sha1"])
    .where("deploy_id", "=", deploy.id)
    .execute();
  // Never publish a partial list (a declaration is written whole, or as a manifest instead).
  if (deploy.file_count !== null && rows.length !== deploy.file_count) {
    return `the list of files declared for this deploy is incomplete (${rows.length} of ${deploy.file_count}); deploy again`;
  }
  const sizes = await blobs.sizes(rows.map((r) => r.sha1));
  const lost = rows.find((r) => !sizes.has(r.sha1));
  if (lost !== undefined) {
    return `the content of ${JSON.stringify(lost.path)} (${lost.sha1}) is not in the store; deploy again`;
  }
  const entries: [string, ManifestEntry][] = rows.map((r) => [
    r.path,
    { sha1: r.sha1, size: sizes.get(r.sha1)! },
  ]);
  return createManifest(entries);
}

/**
 * Finishes a `processing` direct deploy: writes its manifest (unless already written), then the
 * atomic switch. Idempotent; anything but `processing` is left alone.
 */
export async function completeDeploy(
  ctx: PlatformContext,
  services: DeployServices,
  deployId: string,
  /** The deploy's manifest when the caller has just stored it (saves reading it back). */
  stored?: DeployManifest,
): Promise<PublishOutcome> {
  const deploy = await ctx.db
    .selectFrom("deploys")
    .selectAll()
    .where("id", "=", deployId)
    .executeTakeFirst();
  if (deploy?.state !== "processing" || deploy.build_id !== null) return { kind: "stopped" };
  const site = await ctx.db
    .selectFrom("sites")
    .selectAll()
    .where("id", "=", deploy.site_id)
    .executeTakeFirstOrThrow();
  let manifest = stored ?? (await services.manifests.get(deployId));
  if (!manifest) {
    const built = await manifestFromDeclaration(ctx, services.blobs, deploy);
    if (typeof built === "string") {
      await failDirectDeploy(ctx, deployId, built, ["processing"]);
      return { kind: "stopped" };
    }
    manifest = built;
    await services.manifests.put(deployId, manifest);
  }
  let totalBytes = 0;
  for (const entry of manifest.files.values()) totalBytes += entry.size;
  await ctx.db
    .updateTable("deploys")
    .set({ file_count: manifest.files.size, size_bytes: totalBytes, updated_at: isoNow(ctx) })
    .where("id", "=", deployId)
    .where("state", "=", "processing")
    .execute();
  const outcome = await publishDirectDeploy(ctx, site.id, deployId);
  if (outcome.kind !== "stopped") {
    await ctx.db
      .updateTable("deploys")
      .set({ required: "[]", required_functions: "[]" })
      .where("id", "=", deployId)
      .execute();
    await clearUploadState(ctx.db, deployId);
    services.onPublished?.(site.name);
    ctx.log.info({ deployId, siteId: site.id, outcome: outcome.kind }, "deploy finished");
  }
  return outcome;
}

/** At start: finishes every direct deploy a previous process left in `processing`. */
export async function resumeProcessingDeploys(
  ctx: PlatformContext,
  services: DeployServices,
): Promise<number> {
  const rows = await ctx.db
    .selectFrom("deploys")
    .select("id")
    .where("state", "=", "processing")
    .where("build_id", "is", null)
    .execute();
  let finished = 0;
  for (const { id } of rows) {
    try {
      if ((await completeDeploy(ctx, services, id)).kind !== "stopped") finished++;
    } catch (error) {
      ctx.log.error({ err: error, deployId: id }, "resuming a deploy failed; its job will retry");
    }
  }
  return finished;
}

/**
 * The periodic safety net: a direct deploy that waited for files for over an hour without any
 * arriving is abandoned (`error`, with the reason); one that stayed `processing` that long
 * without a live finishing job is failed with its job's last error.
 */
export async function sweepAbandonedDeploys(
  ctx: PlatformContext,
  maxIdleMs = ABANDON_AFTER_MS,
): Promise<number> {
  const cutoff = new Date(ctx.now().getTime() - maxIdleMs).toISOString();
  const minutes = Math.round(maxIdleMs / 60_000);
  const idle = await ctx.db
    .selectFrom("deploys")
    .select(["id", "state"])
    .where("build_id", "is", null)
    .where("state", "in", [...DECLARABLE_STATES, "processing"])
    .where("updated_at", "<", cutoff)
    .execute();
  let failed = 0;
  for (const row of idle) {
    let message: string;
    if (row.state === "processing") {
      const job = await ctx.jobs.findByDedupeKey(deployJobKey(row.id));
      if (job && (job.state === "pending" || job.state === "running")) continue;
      message = `The deploy could not be finished${job?.last_error ? `: ${job.last_error}` : ""}; deploy again.`;
    } else {
      message = `Abandoned: no file was declared or uploaded for ${minutes} minutes, so the deploy was given up; deploy again.`;
    }
    if (await failDirectDeploy(ctx, row.id, message, [row.state])) failed++;
  }
  return failed;
}

/** The `deploy` queue's handler: the finishing step, at least once. */
export function createDeployFinishHandler(
  ctx: PlatformContext,
  services: DeployServices,
): JobHandler {
  return {
    maxRunMs: 30 * 60_000,
    run: async (job) => {
      const payload = job.payload as { deployId?: unknown } | null;
      if (typeof payload?.deployId !== "string") return "done";
      await completeDeploy(ctx, services, payload.deployId);
      return "done";
    },
  };
}
