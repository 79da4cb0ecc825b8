import { isoNow, type PlatformContext } from "../context.ts";
import type { Deploy, DeployState, Site } from "../db/schema.ts";
import type { BlobStore } from "./blob-store.ts";
import {
  createManifest,
  ManifestConflictError,
  type DeployManifest,
  type ManifestStore,
} from "./manifest.ts";
import { blobsToUpload } from "./ownership.ts";
import { clearUploadState, DECLARABLE_STATES, refused, type DeployServices } from "./digest.ts";
import { enqueueFinish, finishAfterCommit } from "./digest-finish.ts";

/**
 * Declaring a digest deploy's content: what it is made of, and what this account must still
 * upload. A new declaration replaces the previous one whole, in one transaction.
 */

export const FUNCTIONS_WARNING = "Functions are stored but not served: Slipway serves static files";

const CHUNK = 300;

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
