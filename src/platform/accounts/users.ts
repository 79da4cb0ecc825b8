import { objectId } from "../../lib/ids.ts";
import { createAccessToken, type Actor } from "./tokens.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { Account, User } from "../db/schema.ts";
import { invalidField } from "../errors.ts";
import { visibleAccountIds } from "./policies.ts";
import { createAccount } from "./accounts.ts";

const EMAIL = /^[^@\s]+@[^@\s]+$/;

export interface CreatedUser {
  user: User;
  account: Account;
  /** The new user's first access token, shown once. */
  token: string;
}

/** A new user: the e-mail is the sign-in name; the personal account is named after the user. */
export interface NewUser {
  email: string;
  full_name?: string;
  account_name?: string;
  account_slug?: string;
  admin?: boolean;
}

/**
 * Creates a user, their personal account (which becomes their default) and a first access
 * token. Used by `POST /api/v1/admin/users` and by the first start's bootstrap.
 */
export async function createUser(
  ctx: PlatformContext,
  input: NewUser,
  token?: string,
): Promise<CreatedUser> {
  const email = input.email.trim().toLowerCase();
  if (!EMAIL.test(email)) throw invalidField("email", "is not an e-mail address");
  const fullName = input.full_name?.trim() || email.replace(/@.*$/, "");
  const now = isoNow(ctx);
  const { user, account } = await ctx.db.transaction().execute(async (trx) => {
    const taken = await trx
      .selectFrom("users")
      .select("id")
      .where("email", "=", email)
      .executeTakeFirst();
    if (taken) throw invalidField("email", `a user with the e-mail ${email} already exists`);
    const user: User = {
      id: objectId(),
      email,
      full_name: fullName,
      is_admin: input.admin === true ? 1 : 0,
      created_at: now,
      updated_at: now,
      last_login: null,
    };
    await trx.insertInto("users").values(user).execute();
    const account = await createAccount(trx, ctx, {
      name: input.account_name ?? fullName,
      slug: input.account_slug,
      ownerId: user.id,
      type: "personal",
      isDefault: true,
    });
    return { user, account };
  });
  const created = await createAccessToken(ctx, { userId: user.id, name: "first token" }, token);
  return { user, account, token: created.token };
}

/** How many sites the actor can see (Netlify's `user.site_count`). */
export async function countVisibleSites(ctx: PlatformContext, actor: Actor): Promise<number> {
  const ids = visibleAccountIds(actor);
  if (ids.length === 0) return 0;
  const row = await ctx.db
    .selectFrom("sites")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("account_id", "in", ids)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
