import { objectId } from "../../lib/ids.ts";
import { digestToken, generateToken } from "../../lib/tokens.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { Invite, User } from "../db/schema.ts";
import { PlatformError, notFound } from "../errors.ts";
import { checkNewPassword, setPassword } from "./passwords.ts";
import { openSessionFor, type ClientInfo, type OpenedSession } from "./sessions.ts";

/**
 * Invite links: an administrator makes a one-time link (`<public URL>/invite/<token>`) for a
 * user, who opens it, chooses a password and is signed in. A new link replaces the user's
 * unused ones; links expire after `INVITE_TTL_MS`. Only the token's digest is stored.
 */

export const INVITE_TTL_MS = 7 * 24 * 3600_000;
const INVITE_PREFIX = "sli_";

export interface CreatedInvite {
  invite: Invite;
  token: string;
  url: string;
}

export async function createInvite(
  ctx: PlatformContext,
  userId: string,
  createdBy: string,
): Promise<CreatedInvite> {
  const user = await ctx.db
    .selectFrom("users")
    .select("id")
    .where("id", "=", userId)
    .executeTakeFirst();
  if (!user) throw notFound("User");
  const token = generateToken(INVITE_PREFIX, 32);
  const now = ctx.now();
  const invite: Invite = {
    id: objectId(),
    user_id: userId,
    token_digest: digestToken(token),
    created_by: createdBy,
    created_at: now.toISOString(),
    expires_at: new Date(now.getTime() + INVITE_TTL_MS).toISOString(),
    used_at: null,
  };
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .deleteFrom("invites")
      .where("user_id", "=", userId)
      .where("used_at", "is", null)
      .execute();
    await trx.insertInto("invites").values(invite).execute();
  });
  return { invite, token, url: `${ctx.config.publicUrl}/invite/${token}` };
}

const gone = (): PlatformError =>
  new PlatformError(
    "gone",
    "This invite link has expired or was already used; ask an administrator for a new one",
  );

/** The user an unused, unexpired invite is for; a 410 for a used or expired one. */
export async function findInvite(
  ctx: PlatformContext,
  token: string,
): Promise<{ invite: Invite; user: User }> {
  const invite = await ctx.db
    .selectFrom("invites")
    .selectAll()
    .where("token_digest", "=", digestToken(token))
    .executeTakeFirst();
  if (!invite) throw gone();
  if (invite.used_at !== null || invite.expires_at <= isoNow(ctx)) throw gone();
  const user = await ctx.db
    .selectFrom("users")
    .selectAll()
    .where("id", "=", invite.user_id)
    .executeTakeFirst();
  if (!user) throw gone();
  return { invite, user };
}

/** Sets the invited user's password, uses up the link, and signs them in. */
export async function acceptInvite(
  ctx: PlatformContext,
  token: string,
  password: string,
  client: ClientInfo,
): Promise<OpenedSession> {
  checkNewPassword(password);
  const { invite, user } = await findInvite(ctx, token);
  const used = await ctx.db
    .updateTable("invites")
    .set({ used_at: isoNow(ctx) })
    .where("id", "=", invite.id)
    .where("used_at", "is", null)
    .executeTakeFirst();
  if (Number(used.numUpdatedRows) !== 1) throw gone();
  await setPassword(ctx, user.id, password);
  return openSessionFor(ctx, user, "invite", client);
}
