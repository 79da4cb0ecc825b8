import type { ForgeContext } from "../../context.ts";
import type { Key, User } from "../../db/schema.ts";

/**
 * GitLab's `Entities::SSHKey`. Its `key` is `publishable_key`: the stored comment (often an
 * e-mail address) is replaced with `<user's name> (<host>)`.
 */
export function presentUserKey(ctx: ForgeContext, key: Key, owner: User) {
  const [type, base64] = key.key.split(" ");
  const host = new URL(ctx.config.publicUrl).hostname;
  return {
    id: key.id,
    title: key.title,
    created_at: key.created_at,
    expires_at: key.expires_at,
    key: `${type} ${base64} ${owner.name} (${host})`,
    usage_type: "auth_and_signing",
  };
}
