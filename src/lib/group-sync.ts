/**
 * Group commit for acknowledgements: many callers, each of which has just committed, wait for
 * one sync that covers all of their commits. A caller that arrives while a sync is running
 * waits for the next one — the running sync may have started before its commit — and every
 * caller that arrives meanwhile shares that next one. So each caller's commit is on disk when
 * its promise resolves, and a burst of N callers costs about two syncs instead of N.
 */
export class GroupSync {
  private running: Promise<void> | undefined;
  private waiting: Promise<void> | undefined;

  /** `syncOnce` makes every commit made before it was called durable. */
  constructor(private readonly syncOnce: () => Promise<void>) {}

  /** Resolves once every commit made before this call is durable; rejects if the sync failed. */
  sync(): Promise<void> {
    if (this.waiting !== undefined) return this.waiting;
    if (this.running === undefined) return this.begin();
    this.waiting = this.running
      .catch(() => undefined)
      .then(() => {
        this.waiting = undefined;
        return this.begin();
      });
    return this.waiting;
  }

  private begin(): Promise<void> {
    const run: Promise<void> = this.syncOnce().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }
}
