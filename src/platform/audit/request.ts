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
// On Node 20 an enabled AsyncLocalStorage turns on async hooks for the whole process (every
// promise, tick and socket write then pays an init hook: ~1 µs per edge request), so the store
// is enabled only while a request that may change state is open, and disabled after the last.
const current = new AsyncLocalStorage<AuditRequest>();
const open = new Set<AuditRequest>();

/**
 * Runs `run` with `request` as the audit context, which stays open (for everything `run`
 * starts) until `endAuditRequest(request)`.
 */
export function runWithAuditRequest<T>(request: AuditRequest, run: () => T): T {
  open.add(request);
  return current.run(request, run);
}

/** The request was answered: once no request is open, async hooks are off again. */
export function endAuditRequest(request: AuditRequest): void {
  if (open.delete(request) && open.size === 0) current.disable();
}

/** How many requests hold the context now (none once every answer is sent). */
export function openAuditRequests(): number {
  return open.size;
}

/** The request being served, or undefined in background work (builds, renewals, jobs). */
export function currentAuditRequest(): AuditRequest | undefined {
  return current.getStore();
}
