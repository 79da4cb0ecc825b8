import type { User } from "../../db/schema.ts";

/** Netlify's `user`, plus `admin` (a Slipway platform administrator). */
export function presentUser(user: User, siteCount: number) {
  return {
    id: user.id,
    uid: user.id,
    full_name: user.full_name,
    avatar_url: null,
    email: user.email,
    affiliate_id: "",
    site_count: siteCount,
    created_at: user.created_at,
    last_login: user.last_login,
    login_providers: ["email"],
    onboarding_progress: {},
    admin: user.is_admin === 1,
  };
}

/** The user's JSON (`GET /user`). */
export type UserJson = ReturnType<typeof presentUser>;
