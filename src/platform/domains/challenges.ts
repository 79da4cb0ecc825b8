import type { Kysely } from "kysely";
import type { PlatformDatabase } from "../db/schema.ts";

/**
 * http-01 answers, in the database so that whichever node the CA (or Slipway's own probe)
 * reaches answers: `GET /.well-known/acme-challenge/<token>` → the key authorization.
 */

export const CHALLENGE_PREFIX = "/.well-known/acme-challenge/";
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export async function putChallenge(
  db: Kysely<PlatformDatabase>,
  input: { token: string; keyAuthorization: string; domain: string; ttlMs: number; now: Date },
): Promise<void> {
  const expires = new Date(input.now.getTime() + input.ttlMs).toISOString();
  await db
    .insertInto("acme_challenges")
    .values({
      token: input.token,
      key_authorization: input.keyAuthorization,
      domain: input.domain,
      created_at: input.now.toISOString(),
      expires_at: expires,
    })
    .onConflict((oc) =>
      oc.column("token").doUpdateSet({
        key_authorization: input.keyAuthorization,
        domain: input.domain,
        expires_at: expires,
      }),
    )
    .execute();
}

export async function removeChallenge(db: Kysely<PlatformDatabase>, token: string): Promise<void> {
  await db.deleteFrom("acme_challenges").where("token", "=", token).execute();
}

/** The answer for a request path, or undefined when it is not a live challenge. */
export async function challengeAnswer(
  db: Kysely<PlatformDatabase>,
  path: string,
  now: Date,
): Promise<string | undefined> {
  const token = path.slice(CHALLENGE_PREFIX.length).split("?")[0] ?? "";
  if (!TOKEN.test(token)) return undefined;
  const row = await db
    .selectFrom("acme_challenges")
    .select(["key_authorization", "expires_at"])
    .where("token", "=", token)
    .executeTakeFirst();
  if (!row || row.expires_at <= now.toISOString()) return undefined;
  return row.key_authorization;
}

/** Forgets expired answers (a crash between create and remove leaves some behind). */
export async function sweepChallenges(db: Kysely<PlatformDatabase>, now: Date): Promise<void> {
  await db.deleteFrom("acme_challenges").where("expires_at", "<=", now.toISOString()).execute();
}
