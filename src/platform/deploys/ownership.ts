import type { Kysely } from "kysely";
import type { PlatformDatabase } from "../db/schema.ts";
import type { BlobStore } from "./blob-store.ts";
import type { DeployManifest } from "./manifest.ts";

/**
 * Per-account blob ownership. The blob store is shared (a content is stored once), but an
 * account is only spared an upload for content it provided itself — uploaded in one of its
 * deploys, or published by one of its builds. Otherwise a digest deploy would tell account B
 * that account A has a file (by its hash) and let B serve A's content without ever having it.
 */

/** Rows per statement: well under every SQL engine's parameter limit. */
const CHUNK = 400;

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Records that `accountId` provided these blobs (idempotent). */
export async function recordBlobOwnership(
  db: Kysely<PlatformDatabase>,
  accountId: string,
  sha1s: Iterable<string>,
  now: string,
): Promise<void> {
  const unique = [...new Set(sha1s)];
  for (const part of chunks(unique)) {
    await db
      .insertInto("account_blobs")
      .values(part.map((sha1) => ({ account_id: accountId, sha1, created_at: now })))
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}

/** Every distinct SHA-1 of a manifest. */
export function manifestBlobs(manifest: DeployManifest): Set<string> {
  const out = new Set<string>();
  for (const entry of manifest.files.values()) out.add(entry.sha1);
  return out;
}

/**
 * The SHA-1s of `sha1s` the account must still upload, in first-seen order without duplicates:
 * those it never provided, and those it did provide that are no longer in the store. `sizes`
 * holds the size of every other one (the store was asked anyway; the manifest needs them).
 */
export async function blobsToUpload(
  db: Kysely<PlatformDatabase>,
  blobs: BlobStore,
  accountId: string,
  sha1s: Iterable<string>,
): Promise<{ required: string[]; sizes: Map<string, number> }> {
  const unique = [...new Set(sha1s)];
  const owned = new Set<string>();
  for (const part of chunks(unique)) {
    const rows = await db
      .selectFrom("account_blobs")
      .select("sha1")
      .where("account_id", "=", accountId)
      .where("sha1", "in", part)
      .execute();
    for (const row of rows) owned.add(row.sha1);
  }
  const sizes = await blobs.sizes(owned);
  return { required: unique.filter((sha1) => !sizes.has(sha1)), sizes };
}
