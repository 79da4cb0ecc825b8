import type { Kysely } from "kysely";
import { hasControlCharacters } from "../../lib/text.ts";
import { hashPassword, MAX_PASSWORD_LENGTH } from "../accounts/passwords.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { PlatformDatabase, SitePasswordsTable } from "../db/schema.ts";
import { invalidField } from "../errors.ts";

/**
 * A site's visitor password (Netlify's site `password`, write-only) and which deploys it protects
 * (`password_context`, Slipway's: `all`, or `non_production` — deploy previews, branch deploys
 * and deploy permalinks — so production stays public). Stored as a scrypt hash sealed for the
 * site; the API shows only `has_password`. The edge checks it (`edge/protection.ts`).
 */

export type PasswordContext = SitePasswordsTable["context"];
export const PASSWORD_CONTEXTS: readonly PasswordContext[] = ["all", "non_production"];

export interface ProtectionInput {
  /** A new password; `null` or `""` removes the protection. */
  password?: string | null | undefined;
  password_context?: PasswordContext | undefined;
}

/** What a site's update does to its protection, checked and hashed before any transaction. */
export type ProtectionChange =
  { kind: "set"; hash: string | undefined; context: PasswordContext } | { kind: "remove" };

export const passwordSealContext = (siteId: string): string => `site_password:${siteId}`;

/** Checks `password` and `password_context`; undefined when neither is sent. */
export async function checkProtectionInput(
  ctx: PlatformContext,
  siteId: string | null,
  body: ProtectionInput,
): Promise<ProtectionChange | undefined> {
  const { password, password_context: context } = body;
  if (password === undefined && context === undefined) return undefined;
  if (password === null || password === "") return { kind: "remove" };
  if (password !== undefined) {
    if (password.length > MAX_PASSWORD_LENGTH) {
      throw invalidField("password", `must be at most ${MAX_PASSWORD_LENGTH} characters`);
    }
    if (hasControlCharacters(password)) {
      throw invalidField("password", "must not contain control characters");
    }
  }
  const current = siteId === null ? undefined : await readSitePassword(ctx.db, siteId);
  if (password === undefined && current === undefined) {
    throw invalidField(
      "password_context",
      "the site has no password; send `password` with `password_context` to protect it",
    );
  }
  return {
    kind: "set",
    hash: password === undefined ? undefined : await hashPassword(password),
    context: context ?? current?.context ?? "all",
  };
}

/** Stores a checked change, in the transaction that stores the site. */
export async function applyProtectionChange(
  ctx: PlatformContext,
  trx: Kysely<PlatformDatabase>,
  siteId: string,
  change: ProtectionChange,
): Promise<void> {
  if (change.kind === "remove") {
    await trx.deleteFrom("site_passwords").where("site_id", "=", siteId).execute();
    return;
  }
  const now = isoNow(ctx);
  if (change.hash === undefined) {
    await trx
      .updateTable("site_passwords")
      .set({ context: change.context, updated_at: now })
      .where("site_id", "=", siteId)
      .execute();
    return;
  }
  const sealed = ctx.secrets.seal(change.hash, passwordSealContext(siteId));
  await trx
    .insertInto("site_passwords")
    .values({
      site_id: siteId,
      password_hash_sealed: sealed,
      context: change.context,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc
        .column("site_id")
        .doUpdateSet({ password_hash_sealed: sealed, context: change.context, updated_at: now }),
    )
    .execute();
}

export async function readSitePassword(
  db: Kysely<PlatformDatabase>,
  siteId: string,
): Promise<Pick<SitePasswordsTable, "password_hash_sealed" | "context"> | undefined> {
  return db
    .selectFrom("site_passwords")
    .select(["password_hash_sealed", "context"])
    .where("site_id", "=", siteId)
    .executeTakeFirst();
}

/** Which of `siteIds` have a password, and for which deploys (for the presenter). */
export async function passwordContexts(
  db: Kysely<PlatformDatabase>,
  siteIds: readonly string[],
): Promise<Map<string, PasswordContext>> {
  if (siteIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("site_passwords")
    .select(["site_id", "context"])
    .where("site_id", "in", siteIds)
    .execute();
  return new Map(rows.map((r) => [r.site_id, r.context]));
}
