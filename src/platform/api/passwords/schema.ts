import { Type, type Static } from "typebox";

/** `PUT /user/password`: the current password is required when the user has one. */
export const ChangePasswordBody = Type.Object({
  current_password: Type.Optional(Type.String({ maxLength: 1024 })),
  password: Type.String({ minLength: 1, maxLength: 1024 }),
});
export type ChangePasswordBody = Static<typeof ChangePasswordBody>;

/** `PUT /admin/users/:user_id/password`: an administrator sets a user's password. */
export const SetPasswordBody = Type.Object({
  password: Type.String({ minLength: 1, maxLength: 1024 }),
});
export type SetPasswordBody = Static<typeof SetPasswordBody>;

export const UserParams = Type.Object({ user_id: Type.String({ maxLength: 100 }) });
export type UserParams = Static<typeof UserParams>;

export const InviteParams = Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) });
export type InviteParams = Static<typeof InviteParams>;

export const AcceptInviteBody = Type.Object({
  password: Type.String({ minLength: 1, maxLength: 1024 }),
});
export type AcceptInviteBody = Static<typeof AcceptInviteBody>;
