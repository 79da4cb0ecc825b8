import type { Invite, User } from "../../db/schema.ts";

/** An invite link: shown to the administrator who made it, once (only its digest is kept). */
export function presentInvite(invite: Invite, url: string, user: User) {
  return {
    id: invite.id,
    user_id: invite.user_id,
    email: user.email,
    url,
    created_at: invite.created_at,
    expires_at: invite.expires_at,
  };
}

/** What an invite link's page shows before the password is chosen: whose account it is. */
export function presentOpenInvite(invite: Invite, user: User) {
  return { email: user.email, full_name: user.full_name, expires_at: invite.expires_at };
}

/** A user in the administrator's list, and whether they can sign in with a password yet. */
export function presentAdminUser(user: User, hasPassword: boolean) {
  return {
    id: user.id,
    email: user.email,
    full_name: user.full_name,
    admin: user.is_admin === 1,
    has_password: hasPassword,
    created_at: user.created_at,
    last_login: user.last_login,
  };
}

/** A user in `GET /admin/users`. */
export type AdminUserJson = ReturnType<typeof presentAdminUser>;
