import type { Kysely } from "kysely";
import { isoNow, type PlatformContext } from "../context.ts";
import type { DeployState, PlatformDatabase } from "../db/schema.ts";
import { PlatformError } from "../errors.ts";
import type { BlobStore } from "./blob-store.ts";
import type { ManifestStore } from "./manifest.ts";
import type { SummarizeRules } from "./summary.ts";

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
 *
 * Its steps, one file each: `digest-maps.ts` (reading the declared maps), `digest-declare.ts`,
 * `digest-uploads.ts`, `digest-finish.ts` (with the durable job) and `digest-sweep.ts`
 * (abandoned deploys). This file holds what they share: the services, the states, failing.
 */

export interface DeployServices {
  blobs: BlobStore;
  manifests: ManifestStore;
  /** Where zip uploads are spooled before extraction (on the data volume). */
  uploadDir: string;
  /** Called after a deploy became ready (the edge's host cache). */
  onPublished?: (siteName: string) => void;
  /**
   * Parses a finished deploy's redirect and header rules for its summary (the edge's parser;
   * the deploys domain sits below the edge, so the composition root hands it over).
   */
  summarizeRules?: SummarizeRules;
  /**
   * Finish a deploy in the request that completed it (default). False leaves finishing to the
   * job queue and the start-up re-run (tests of crash safety).
   */
  finishInline?: boolean;
}

/** States in which a direct deploy takes a (new) declaration of its files. */
export const DECLARABLE_STATES: readonly DeployState[] = [
  "new",
  "preparing",
  "prepared",
  "uploading",
];
/** States in which a direct deploy takes uploads. */
export const UPLOADING_STATES: readonly DeployState[] = ["prepared", "uploading"];

export function refused(message: string): PlatformError {
  return new PlatformError("unprocessable", message);
}

export async function clearUploadState(
  db: Kysely<PlatformDatabase>,
  deployId: string,
): Promise<void> {
  await db.deleteFrom("deploy_files").where("deploy_id", "=", deployId).execute();
  await db.deleteFrom("deploy_uploads").where("deploy_id", "=", deployId).execute();
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
