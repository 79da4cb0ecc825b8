import type { Kysely, SelectQueryBuilder } from "kysely";
import {
  characterCount,
  fingerprintSha256,
  KeyMessages,
  validatePublicKey,
  type ParsedPublicKey,
} from "../../lib/ssh-keys.ts";
import type { ForgeContext } from "../context.ts";
import type { Page, PageOf } from "../db/page.ts";
import type { ForgeDatabase, Key, KeysTable } from "../db/schema.ts";
import { invalidRecord } from "../errors.ts";

/** The Key model's `title` length limit. */
export const MAX_TITLE_LENGTH = 255;

/** `expired?` in GitLab: an expiry date that is now or past. */
export function isKeyExpired(key: Pick<Key, "expires_at">, now: Date): boolean {
  return key.expires_at !== null && Date.parse(key.expires_at) <= now.getTime();
}

/**
 * The key row an SSH client authenticates with, found by its public key blob (the bytes the
 * client offers during `publickey` authentication), or `undefined` when the key is unknown or
 * grants nothing: an expired key, or a user key whose user no longer exists.
 */
export async function findKeyByBlob(
  ctx: Pick<ForgeContext, "db" | "now">,
  blob: Buffer,
): Promise<Key | undefined> {
  const key = await ctx.db
    .selectFrom("keys")
    .selectAll()
    .where("fingerprint_sha256", "=", fingerprintSha256(blob))
    .executeTakeFirst();
  if (!key) return undefined;
  // The stored key is `type base64 [comment]`; insist on the very same blob, not only its hash.
  if (key.key.split(" ")[1] !== blob.toString("base64")) return undefined;
  if (isKeyExpired(key, ctx.now())) return undefined;
  if (key.kind === "user" && key.user_id === null) return undefined;
  return key;
}

/** Rows of `keys` matched by `query`: one page in id order, and how many there are in all. */
export async function pageOfKeys(
  query: SelectQueryBuilder<ForgeDatabase, "keys", object>,
  page: Page,
): Promise<PageOf<Key>> {
  const { total } = await query
    .select((eb) => eb.fn.countAll<number>().as("total"))
    .executeTakeFirstOrThrow();
  const items = await query
    .selectAll()
    .orderBy("id")
    .limit(page.perPage)
    .offset(page.offset)
    .execute();
  return { total: Number(total), items };
}

/** The Key model's `title` validations: presence (whitespace is blank), at most 255 characters. */
export function titleErrors(title: string): string[] {
  const errors: string[] = [];
  if (title.trim() === "") errors.push(KeyMessages.blank);
  if (characterCount(title) > MAX_TITLE_LENGTH) errors.push(KeyMessages.tooLong(MAX_TITLE_LENGTH));
  return errors;
}

export interface NewKey {
  kind: KeysTable["kind"];
  userId: number | null;
  title: string;
  /** The key text as the client sent it; it is validated and stored sanitized. */
  key: string;
  /** ISO-8601 (already parsed from the request), or null. */
  expiresAt: string | null;
  public: boolean;
}

/** Records a key change time; `updated_at` feeds `If-Unmodified-Since`. */
const now = (ctx: Pick<ForgeContext, "now">): string => ctx.now().toISOString();

/**
 * Saves a new key the way the Key model does: all validations run and their messages are
 * collected (title, key, fingerprint_sha256, in Rails' order), the fingerprint must be unique
 * across every key in the system (user keys and deploy keys alike), and a key that has already
 * expired cannot be created. On failure throws 400 `{"message":{...}}`, each attribute
 * prefixed with `errorPrefix` (`deploy_key.` when the key is saved through a project, as
 * GitLab's nested attributes do).
 *
 * Call it inside a transaction (`db` is then the transaction) so that the uniqueness check
 * and the insert cannot interleave with another request.
 */
export async function createKeyRecord(
  ctx: Pick<ForgeContext, "now">,
  db: Kysely<ForgeDatabase>,
  input: NewKey,
  errorPrefix = "",
): Promise<{ key: Key; parsed: ParsedPublicKey }> {
  const validation = validatePublicKey(input.key);
  const { parsed } = validation;
  const errors = {
    title: titleErrors(input.title),
    key: [...validation.errors.key],
    fingerprint_sha256: [...validation.errors.fingerprint_sha256],
  };
  if (parsed && (await fingerprintTaken(db, parsed.fingerprintSha256))) {
    errors.fingerprint_sha256.push(KeyMessages.taken);
  }
  if (input.expiresAt !== null && isKeyExpired({ expires_at: input.expiresAt }, ctx.now())) {
    errors.key.push(KeyMessages.expired);
  }
  const failed = Object.entries(errors).filter(([, messages]) => messages.length > 0);
  if (failed.length > 0 || !parsed) {
    throw invalidRecord(Object.fromEntries(failed.map(([f, m]) => [errorPrefix + f, m])));
  }
  const at = now(ctx);
  try {
    const key = await db
      .insertInto("keys")
      .values({
        kind: input.kind,
        user_id: input.userId,
        title: input.title,
        key: validation.sanitized,
        key_type: parsed.type,
        bits: parsed.bits,
        fingerprint: parsed.fingerprint,
        fingerprint_sha256: parsed.fingerprintSha256,
        public: input.public ? 1 : 0,
        expires_at: input.expiresAt,
        created_at: at,
        updated_at: at,
        last_used_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { key, parsed };
  } catch (error) {
    // The unique index is the backstop if two requests raced past the check above.
    if (isUniqueViolation(error)) {
      throw invalidRecord({ [`${errorPrefix}fingerprint_sha256`]: [KeyMessages.taken] });
    }
    throw error;
  }
}

async function fingerprintTaken(db: Kysely<ForgeDatabase>, fingerprint: string): Promise<boolean> {
  const row = await db
    .selectFrom("keys")
    .select("id")
    .where("fingerprint_sha256", "=", fingerprint)
    .executeTakeFirst();
  return row !== undefined;
}

/** SQLite's and Postgres' codes for a unique constraint violation. */
function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== "object" || error === null || !("code" in error)) return false;
  return error.code === "SQLITE_CONSTRAINT_UNIQUE" || error.code === "23505";
}
