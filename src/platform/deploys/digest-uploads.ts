import { createHash } from "node:crypto";
import type { Kysely } from "kysely";
import { isPostgres } from "../../lib/postgres.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { Deploy, DeployState, PlatformDatabase, Site } from "../db/schema.ts";
import { BlobIntegrityError, sha1Hex } from "./blob-store.ts";
import type { UploadTarget } from "./deploys.ts";
import { recordBlobOwnership } from "./ownership.ts";
import { DEFAULT_PUBLISH_LIMITS } from "./publish.ts";
import { readLimited, storeVerified, UploadTooLargeError } from "./verified-upload.ts";
import { refused, UPLOADING_STATES, type DeployServices } from "./digest.ts";
import { enqueueFinish, finishAfterCommit } from "./digest-finish.ts";
import { ReceiptBatches } from "./upload-receipts.ts";

/**
 * The uploads of a digest deploy: each file or function is checked against its declared digest
 * before it counts, and the upload that completes the deploy moves it to `processing` (with its
 * finishing job) in the same transaction.
 */

export const MAX_FILE_BYTES = DEFAULT_PUBLISH_LIMITS.maxFileBytes;
export const MAX_FUNCTION_BYTES = 64 * 1024 * 1024;

/** States in which a repeated upload of a declared file is accepted and changes nothing. */
const FINISHED_STATES: readonly DeployState[] = ["processing", "ready"];

/**
 * How often the uploads of a deploy refresh its `updated_at` (which the abandonment sweep reads,
 * `digest-sweep.ts`): the row holds the deploy's `required` list, 430 KB for 10,000 files, and
 * SQLite rewrites what changes of it with every update, so not on every one of 10,000 uploads.
 */
export const ACTIVITY_REFRESH_MS = 60_000;

/**
 * Marks one awaited upload as received (inside `trx`); when it was the last, moves the deploy
 * to `processing` with its finishing job and returns true.
 */
async function markReceived(
  ctx: PlatformContext,
  trx: Kysely<PlatformDatabase>,
  deployId: string,
  kind: "file" | "function",
  digests: readonly string[],
): Promise<boolean> {
  // Locked on Postgres, so that of two last uploads one sees the other's row gone; SQLite runs
  // one transaction at a time.
  const deploy = await trx
    .selectFrom("deploys")
    .select(["state", "updated_at"])
    .where("id", "=", deployId)
    .$call((query) => (isPostgres(trx as Kysely<unknown>) ? query.forUpdate() : query))
    .executeTakeFirst();
  if (deploy === undefined || !UPLOADING_STATES.includes(deploy.state)) return false;
  let removed = 0;
  for (let i = 0; i < digests.length; i += 300) {
    const result = await trx
      .deleteFrom("deploy_uploads")
      .where("deploy_id", "=", deployId)
      .where("kind", "=", kind)
      .where("digest", "in", digests.slice(i, i + 300))
      .executeTakeFirst();
    removed += Number(result.numDeletedRows);
  }
  // Received before (a retry, or a second path with the same content): nothing changes.
  if (removed === 0) return false;
  const now = isoNow(ctx);
  const waiting = await trx
    .selectFrom("deploy_uploads")
    .select("digest")
    .where("deploy_id", "=", deployId)
    .limit(1)
    .executeTakeFirst();
  if (waiting) {
    if (Date.parse(deploy.updated_at) <= Date.parse(now) - ACTIVITY_REFRESH_MS) {
      await trx
        .updateTable("deploys")
        .set({ updated_at: now })
        .where("id", "=", deployId)
        .execute();
    }
    return false;
  }
  await trx
    .updateTable("deploys")
    .set({ state: "processing", updated_at: now })
    .where("id", "=", deployId)
    .execute();
  await enqueueFinish(ctx, trx, deployId);
  return true;
}

const receipts = new WeakMap<PlatformContext, ReceiptBatches>();

/** The platform's group commit of file receipts (one per context: per process). */
function receiptsOf(ctx: PlatformContext): ReceiptBatches {
  let batches = receipts.get(ctx);
  if (batches === undefined) {
    batches = new ReceiptBatches((deployId, accountId, sha1s) =>
      ctx.db.transaction().execute(async (trx) => {
        await recordBlobOwnership(trx, accountId, sha1s, isoNow(ctx));
        return markReceived(ctx, trx, deployId, "file", sha1s);
      }),
    );
    receipts.set(ctx, batches);
  }
  return batches;
}

function checkUploading(deploy: UploadTarget): void {
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
  deploy: UploadTarget,
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
  deploy: UploadTarget,
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
  // Staged while the deploy takes uploads: written without a sync each, and made durable all
  // together before the deploy's manifest exists (`completeDeploy`), so no deploy is ready
  // before its content is on disk. A late retry of a finished deploy's file is stored at once.
  const staging = UPLOADING_STATES.includes(deploy.state) ? deploy.id : undefined;
  let size: number;
  try {
    ({ size } = await storeVerified(services.blobs, declared.sha1, body, MAX_FILE_BYTES, staging));
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
  const finished = await receiptsOf(ctx).receive(deploy.id, site.account_id, declared.sha1);
  if (finished) {
    // In the store before the last upload is acknowledged, finished here or by the job: from
    // then on the deploy's content spares the account's next deploys an upload.
    await services.blobs.commitStaged(deploy.id).catch((error: unknown) => {
      ctx.log.error({ err: error, deployId: deploy.id }, "storing a deploy's uploads failed");
    });
    await finishAfterCommit(ctx, services, deploy.id);
  }
  return { path, sha1: declared.sha1, size };
}

/** One function zip of a digest deploy: stored (by SHA-1) and recorded, not served. */
export async function acceptFunctionUpload(
  ctx: PlatformContext,
  services: DeployServices,
  site: Site,
  deploy: UploadTarget,
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
  const sha1 = sha1Hex(data);
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
    return markReceived(ctx, trx, deploy.id, "function", [sha256]);
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
