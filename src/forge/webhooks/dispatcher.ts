import type { Transaction } from "kysely";
import type { ForgeDatabase } from "../db/schema.ts";
import type { MergeRequestPayload } from "./payload.ts";

/** One ref moved by a push, as git's post-receive hook reports it. */
export interface RefUpdate {
  before: string;
  after: string;
  ref: string;
}

/** An accepted push: who pushed what to which project. */
export interface PushEvent {
  projectId: number;
  userId: number;
  updates: readonly RefUpdate[];
}

/** A merge request was opened, updated, closed, reopened or merged. */
export interface MergeRequestEvent {
  projectId: number;
  payload: MergeRequestPayload;
}

/**
 * Turns repository events into durable hook deliveries and sends them. `recordPush` returns only
 * once every delivery is stored, so a push is acknowledged after its webhooks are safe.
 */
export interface HookDispatcher {
  recordPush(event: PushEvent): Promise<void>;
  /**
   * Stores the deliveries of a merge request event for the project's hooks with
   * `merge_requests_events`, inside the caller's transaction, so they commit (or not) with the
   * change they describe; the worker sends them once the transaction is committed.
   */
  recordMergeRequest(trx: Transaction<ForgeDatabase>, event: MergeRequestEvent): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}
