import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { join } from "node:path";
import { readOrCreateSecretFile } from "../../lib/files.ts";
import { recordAudit } from "../audit/record.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { User } from "../db/schema.ts";
import { invalidField, notFound } from "../errors.ts";

/**
 * Dashboard passwords, hashed with scrypt and a random 16-byte salt per user. The stored form
 * carries its parameters (`scrypt$N$r$p$<salt>$<hash>`), so they can be raised later without
 * locking anyone out. Passwords themselves are never stored, logged or returned.
 */

const PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

function derive(password: string, salt: Buffer, params: { N: number; r: number; p: number }) {
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r };
  return new Promise<Buffer>((resolve, reject) =>
    scrypt(password.normalize("NFC"), salt, KEY_LENGTH, options, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMS);
  return [
    "scrypt",
    PARAMS.N,
    PARAMS.r,
    PARAMS.p,
    salt.toString("base64url"),
    key.toString("base64url"),
  ].join("$");
}

/** A hash of nothing, compared against when the account does not exist (same time taken). */
let decoy: Promise<string> | undefined;

/** Whether `password` matches `stored` (constant-time); `stored` undefined never matches. */
export async function verifyPassword(
  password: string,
  stored: string | undefined,
): Promise<boolean> {
  const encoded = stored ?? (await (decoy ??= hashPassword(randomBytes(16).toString("hex"))));
  const [scheme, n, r, p, salt, hash] = encoded.split("$");
  if (scheme !== "scrypt" || !n || !r || !p || salt === undefined || hash === undefined) {
    return false;
  }
  const expected = Buffer.from(hash, "base64url");
  const key = await derive(password, Buffer.from(salt, "base64url"), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return key.length === expected.length && timingSafeEqual(key, expected) && stored !== undefined;
}

/** Refuses passwords that are too short or too long, naming the field. */
export function checkNewPassword(password: string, field = "password"): void {
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    throw invalidField(field, `must be at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    throw invalidField(field, `must be at most ${MAX_PASSWORD_LENGTH} characters`);
  }
}

export async function storedPasswordHash(
  ctx: PlatformContext,
  userId: string,
): Promise<string | undefined> {
  const row = await ctx.db
    .selectFrom("user_passwords")
    .select("password_hash")
    .where("user_id", "=", userId)
    .executeTakeFirst();
  return row?.password_hash;
}

/**
 * Sets (or replaces) a user's password and ends their other browser sessions: whoever knew the
 * old password is signed out. `keepSessionId` is the session that made the change.
 */
export async function setPassword(
  ctx: PlatformContext,
  userId: string,
  password: string,
  options: { keepSessionId?: string | undefined } = {},
): Promise<void> {
  checkNewPassword(password);
  const user = await ctx.db
    .selectFrom("users")
    .select("id")
    .where("id", "=", userId)
    .executeTakeFirst();
  if (!user) throw notFound("User");
  const hash = await hashPassword(password);
  const now = isoNow(ctx);
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .insertInto("user_passwords")
      .values({ user_id: userId, password_hash: hash, updated_at: now })
      .onConflict((oc) =>
        oc.column("user_id").doUpdateSet({ password_hash: hash, updated_at: now }),
      )
      .execute();
    let ending = trx.deleteFrom("sessions").where("user_id", "=", userId);
    if (options.keepSessionId !== undefined)
      ending = ending.where("id", "!=", options.keepSessionId);
    await ending.execute();
    await recordAudit(trx, {
      action: "user.set_password",
      accountId: null,
      userId,
      target: { type: "user", id: userId },
      fields: ["password"],
    });
  });
}

export interface GeneratedAdminPassword {
  email: string;
  password: string;
  /** Where it is also kept (0600), for a start whose output scrolled away. */
  file: string;
}

/**
 * The first start's way into the dashboard: while no user has a password yet, the oldest
 * administrator gets a generated one, written to `<data>/admin-password` (0600) and returned
 * so that `slipway start` prints it with the sign-in address. Later starts return undefined.
 */
export async function bootstrapAdminPassword(
  ctx: PlatformContext,
): Promise<GeneratedAdminPassword | undefined> {
  const any = await ctx.db
    .selectFrom("user_passwords")
    .select("user_id")
    .limit(1)
    .executeTakeFirst();
  if (any) return undefined;
  const admin = await ctx.db
    .selectFrom("users")
    .select(["id", "email"])
    .where("is_admin", "=", 1)
    .orderBy("created_at")
    .limit(1)
    .executeTakeFirst();
  if (!admin) return undefined;
  const file = join(ctx.config.dataDir, "admin-password");
  const { value } = readOrCreateSecretFile(file, () => randomBytes(18).toString("base64url"));
  await setPassword(ctx, admin.id, value);
  return { email: admin.email, password: value, file };
}

/** Every user, oldest first, and whether each has a password (the administrator's list). */
export async function listUsersWithPasswords(
  ctx: PlatformContext,
): Promise<Array<{ user: User; hasPassword: boolean }>> {
  const rows = await ctx.db
    .selectFrom("users as u")
    .leftJoin("user_passwords as p", "p.user_id", "u.id")
    .selectAll("u")
    .select("p.user_id as password_user")
    .orderBy("u.created_at")
    .execute();
  return rows.map(({ password_user, ...user }) => ({ user, hasPassword: password_user !== null }));
}
