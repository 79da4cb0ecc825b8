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

/** `GET /users/:id/keys`: `:id` is a user's id or username, as GitLab's `find_user` reads it. */
export const OtherUserParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 255 }) });

/** `POST /users/:id/keys` (admin) takes the user's integer id only. */
export const UserIdParams = Type.Object({ id: Type.Integer() });

/** `GET` and `DELETE /users/:id/keys/:key_id`: integer ids only. */
export const UserIdKeyParams = Type.Object({ id: Type.Integer(), key_id: Type.Integer() });
