import { Type, type Static } from "typebox";
import { PaginationQuery } from "../../http/pagination.ts";

/**
 * Title and key lengths are not limited here: GitLab checks them in the Key model, so an
 * over-long value is a `{"message":{"title":["is too long ..."]}}` validation error, not a
 * Grape parameter error. The 1 MiB body limit bounds them anyway.
 */
export const CreateDeployKeyBody = Type.Object({
  key: Type.String(),
  title: Type.String(),
  can_push: Type.Optional(Type.Boolean()),
  expires_at: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});
export type CreateDeployKeyBody = Static<typeof CreateDeployKeyBody>;

/** `POST /deploy_keys` (admin): an instance-wide public key; there is no `can_push` here. */
export const CreateInstanceDeployKeyBody = Type.Object({
  key: Type.String(),
  title: Type.String(),
  expires_at: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});
export type CreateInstanceDeployKeyBody = Static<typeof CreateInstanceDeployKeyBody>;

/** `at_least_one_of :title, :can_push` is checked by the service, after the project lookup. */
export const UpdateDeployKeyBody = Type.Object({
  title: Type.Optional(Type.String()),
  can_push: Type.Optional(Type.Boolean()),
});
export type UpdateDeployKeyBody = Static<typeof UpdateDeployKeyBody>;

export const DeployKeyParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 500 }),
  key_id: Type.Integer(),
});

export const ListDeployKeysQuery = Type.Intersect([
  PaginationQuery,
  Type.Object({ public: Type.Optional(Type.Boolean()) }),
]);

/** `:user_id` is an id or a username, as GitLab's `find_user` accepts both. */
export const UserDeployKeysParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 255 }),
});
