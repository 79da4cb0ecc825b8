import type { Actor } from "./tokens.ts";
import type { ForgeContext } from "../context.ts";
import { isoNow } from "../context.ts";
import type { User } from "../db/schema.ts";
import { forbidden, notFound, withMessage } from "../errors.ts";

/** What `createUser` is given (`POST /users` and the first start's `root`). */
export interface NewUser {
  username: string;
  name: string;
  email: string;
  admin?: boolean;
}

export function assertAdmin(actor: Actor): void {
  if (actor.user.is_admin !== 1) throw forbidden();
}

/** Creates a user and the personal namespace its projects live in (`username/project`). */
export async function createUser(ctx: ForgeContext, input: NewUser): Promise<User> {
  const now = isoNow(ctx);
  return ctx.db.transaction().execute(async (trx) => {
    const taken = await trx
      .selectFrom("namespaces")
      .select("id")
      .where("path", "=", input.username.toLowerCase())
      .executeTakeFirst();
    if (taken) throw withMessage("conflict", "Username has already been taken");
    const user = await trx
      .insertInto("users")
      .values({
        username: input.username,
        name: input.name,
        email: input.email,
        is_admin: input.admin === true ? 1 : 0,
        state: "active",
        created_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await trx
      .insertInto("namespaces")
      .values({
        path: input.username.toLowerCase(),
        name: input.username,
        kind: "user",
        owner_id: user.id,
        created_at: now,
      })
      .execute();
    return user;
  });
}

export async function findUser(ctx: ForgeContext, id: number): Promise<User> {
  const user = await ctx.db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
  if (!user) throw notFound("User");
  return user;
}

/** GitLab's `find_user`: an integer id, or else a username; `404 User Not Found` otherwise. */
export async function findUserByIdOrUsername(
  ctx: ForgeContext,
  idOrUsername: string,
): Promise<User> {
  const query = ctx.db.selectFrom("users").selectAll();
  const id = /^\d+$/.test(idOrUsername) ? Number(idOrUsername) : undefined;
  const user =
    id === undefined
      ? await query.where("username", "=", idOrUsername).executeTakeFirst()
      : Number.isSafeInteger(id)
        ? await query.where("id", "=", id).executeTakeFirst()
        : undefined;
  if (!user) throw notFound("User");
  return user;
}

export async function listUsers(ctx: ForgeContext, username: string | undefined): Promise<User[]> {
  let query = ctx.db.selectFrom("users").selectAll().orderBy("id");
  if (username !== undefined) query = query.where("username", "=", username);
  return query.execute();
}
