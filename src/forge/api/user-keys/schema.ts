import { Type, type Static } from "typebox";

/**
 * `POST /user/keys`. GitLab also accepts `usage_type` `auth` or `signing`; this forge stores
 * every key as `auth_and_signing` (it verifies no commit signatures), so only that value is
 * accepted rather than silently widening what a "signing only" key may do.
 */
export const CreateUserKeyBody = Type.Object({
  key: Type.String(),
  title: Type.String(),
  expires_at: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  usage_type: Type.Optional(Type.Literal("auth_and_signing")),
});
export type CreateUserKeyBody = Static<typeof CreateUserKeyBody>;

export const UserKeyParams = Type.Object({ key_id: Type.Integer() });
