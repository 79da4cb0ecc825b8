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

/**
 * Turns repository events into durable hook deliveries and sends them. `recordPush` returns only
 * once every delivery is stored, so a push is acknowledged after its webhooks are safe.
 */
export interface HookDispatcher {
  recordPush(event: PushEvent): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}
