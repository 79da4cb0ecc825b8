import type { Session, User } from "../../db/schema.ts";
import { presentUser } from "../users/presenter.ts";

/**
 * The signed-in browser: who, how, until when, and the CSRF token its state-changing requests
 * must carry in `X-CSRF-Token`. For a bearer-token caller `session` is null (no CSRF needed).
 */
export function presentSession(
  user: User,
  siteCount: number,
  session: Session | undefined,
  csrfToken: string | null,
) {
  return {
    user: presentUser(user, siteCount),
    session: session
      ? {
          id: session.id,
          method: session.method,
          created_at: session.created_at,
          expires_at: session.expires_at,
        }
      : null,
    csrf_token: csrfToken,
  };
}

/** The session's JSON (`GET /session`). */
export type SessionJson = ReturnType<typeof presentSession>;
