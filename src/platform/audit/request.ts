import { AsyncLocalStorage } from "node:async_hooks";

/** Who made a request, as the audit log names them. */
export interface AuditActor {
  id: string;
  name: string;
  email: string;
  via: "token" | "session";
  /** The bearer token's id; null for a dashboard session. */
  tokenId: string | null;
}

/**
 * What the audit log needs to know of the request being served: where it came from, who made
 * it (once authenticated), and whether an event was already recorded for it (so the catch-all
 * in `http/audit.ts` records only requests that no domain code described).
 */
export interface AuditRequest {
  sourceAddress: string | null;
  requestId: string | null;
  /** `PATCH /api/v1/sites/:site_id`: the route, never the URL (it may hold ids of capabilities). */
  route: string | null;
  actor?: AuditActor;
  /** The accounts the actor belongs to: a refused request on another's object is not theirs. */
  actorAccountIds?: readonly string[];
  recorded: number;
}

// The domain records events deep inside its transactions; threading the request through every
// call for that would touch every signature, so the request travels with the async context.
const current = new AsyncLocalStorage<AuditRequest>();

export function runWithAuditRequest<T>(request: AuditRequest, run: () => T): T {
  return current.run(request, run);
}

/** The request being served, or undefined in background work (builds, renewals, jobs). */
export function currentAuditRequest(): AuditRequest | undefined {
  return current.getStore();
}
