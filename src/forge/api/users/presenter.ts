import type { ForgeContext } from "../../context.ts";
import type { User } from "../../db/schema.ts";

/** GitLab's UserBasic entity. */
export function presentUserBasic(ctx: ForgeContext, user: User) {
  return {
    id: user.id,
    username: user.username,
    name: user.name,
    state: user.state,
    locked: false,
    avatar_url: null,
    web_url: `${ctx.config.publicUrl}/${user.username}`,
  };
}

/** The full User entity, as `GET /user` and admins see it. */
export function presentUser(ctx: ForgeContext, user: User) {
  return {
    ...presentUserBasic(ctx, user),
    created_at: user.created_at,
    email: user.email,
    public_email: null,
    is_admin: user.is_admin === 1,
    bot: false,
  };
}
