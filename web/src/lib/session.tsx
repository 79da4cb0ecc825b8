import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, type ReactNode } from "react";
import { ApiError, apiCall, onSignedOut, setCsrfToken } from "./api.ts";
import type { SessionInfo } from "./types.ts";

/** Who is signed in (`GET /session`); null when nobody is. */
export const SESSION_KEY = ["session"] as const;

async function loadSession(): Promise<SessionInfo | null> {
  try {
    const { body } = await apiCall<SessionInfo>("GET", "/session", undefined, { quiet401: true });
    setCsrfToken(body.csrf_token);
    return body;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      setCsrfToken(null);
      return null;
    }
    throw error;
  }
}

const SessionContext = createContext<SessionInfo | null>(null);

export function useSession(): SessionInfo {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in page");
  return session;
}

export function useSessionQuery() {
  return useQuery({ queryKey: SESSION_KEY, queryFn: loadSession, staleTime: 60_000, retry: 1 });
}

/** Keeps the session in the query cache; a 401 anywhere means "signed out": ask again. */
export function SessionWatcher({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  useEffect(
    () =>
      onSignedOut(() => {
        setCsrfToken(null);
        client.setQueryData(SESSION_KEY, null);
      }),
    [client],
  );
  return <>{children}</>;
}

export function SessionProvider({
  session,
  children,
}: {
  session: SessionInfo;
  children: ReactNode;
}) {
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

/** After signing in or out: the new session, and nothing cached from the previous user. */
export function useSessionChanged() {
  const client = useQueryClient();
  return (session: SessionInfo | null) => {
    setCsrfToken(session?.csrf_token ?? null);
    client.removeQueries({ predicate: (q) => q.queryKey[0] !== SESSION_KEY[0] });
    client.setQueryData(SESSION_KEY, session);
  };
}
