import { createKeyRecord, pageOfKeys } from "./ssh-keys.ts";
import { checkUnmodifiedSince, parseExpiresAt } from "./key-times.ts";
import type { ForgeContext } from "../context.ts";
import type { Page, PageOf } from "../db/page.ts";
import type { Key, User } from "../db/schema.ts";
import { notFound } from "../errors.ts";

/** What `POST /user/keys` gives: the key text, its title, and an optional expiry date. */
export interface NewUserKey {
  key: string;
  title: string;
  expires_at?: string | null;
}

/** `GET /user/keys`: the caller's own SSH keys, oldest first. */
export async function listUserKeys(
  ctx: ForgeContext,
  user: User,
  page: Page,
): Promise<PageOf<Key>> {
  const base = ctx.db.selectFrom("keys").where("kind", "=", "user").where("user_id", "=", user.id);
  return pageOfKeys(base, page);
}

/** One of the caller's keys; anyone else's key (or a deploy key) is `404 Key Not Found`. */
export async function findUserKey(ctx: ForgeContext, user: User, keyId: number): Promise<Key> {
  const key = Number.isSafeInteger(keyId)
    ? await ctx.db
        .selectFrom("keys")
        .selectAll()
        .where("kind", "=", "user")
        .where("user_id", "=", user.id)
        .where("id", "=", keyId)
        .executeTakeFirst()
    : undefined;
  if (!key) throw notFound("Key");
  return key;
}

/**
 * `POST /user/keys`: the Key model's validations, without the `deploy_key.` prefix; the
 * fingerprint must be unused by every other key, deploy keys included:
 * 400 `{"message":{"fingerprint_sha256":["has already been taken"]}}`.
 */
export async function createUserKey(ctx: ForgeContext, user: User, body: NewUserKey): Promise<Key> {
  const expiresAt = parseExpiresAt(body.expires_at);
  return ctx.db.transaction().execute(async (trx) => {
    const { key } = await createKeyRecord(ctx, trx, {
      kind: "user",
      userId: user.id,
      title: body.title,
      key: body.key,
      expiresAt,
      public: false,
    });
    return key;
  });
}

/** `DELETE /user/keys/:key_id`, honouring `If-Unmodified-Since` like GitLab's `destroy_conditionally!`. */
export async function removeUserKey(
  ctx: ForgeContext,
  user: User,
  keyId: number,
  ifUnmodifiedSince: unknown,
): Promise<void> {
  const key = await findUserKey(ctx, user, keyId);
  checkUnmodifiedSince(ifUnmodifiedSince, key.updated_at);
  await ctx.db.deleteFrom("keys").where("id", "=", key.id).execute();
}
