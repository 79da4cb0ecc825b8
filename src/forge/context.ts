import type { Kysely, Transaction } from "kysely";
import type { ForgeConfig } from "../config.ts";
import type { Logger } from "../lib/logger.ts";
import type { SecretBox } from "../lib/secret-box.ts";
import type { ForgeDatabase } from "./db/schema.ts";

/**
 * What every forge service needs; built once in `server.ts`, the composition root. It names
 * only lower layers (the database, the config, `src/lib`): the repository store and the hook
 * dispatcher appear here as the interfaces the domain uses, implemented in `git/repositories.ts`
 * and `webhooks/deliveries.ts`.
 */
export interface ForgeContext {
  db: Kysely<ForgeDatabase>;
  config: ForgeConfig;
  log: Logger;
  secrets: SecretBox;
  repositories: Repositories;
  hooks: HookDispatcher;
  now: () => Date;
}

export const isoNow = (ctx: Pick<ForgeContext, "now">): string => ctx.now().toISOString();

/**
 * Bare repositories on local disk. A repository's path comes only from the project's integer
 * id, never from a name a user typed, so no request can point git at another directory.
 */
export interface Repositories {
  readonly root: string;
  pathFor(projectId: number): string;
  create(projectId: number, defaultBranch: string): Promise<void>;
  remove(projectId: number): Promise<void>;
}

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
  /**
   * The "Merge Request Hook" body (`webhooks/merge-request-payload.ts` builds it); the
   * dispatcher stores it as JSON, as it is.
   */
  payload: { readonly object_kind: "merge_request" };
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
