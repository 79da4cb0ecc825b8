/**
 * Undo actions (stop a server, remove a temp dir, delete a user), run in reverse order of
 * registration. A benchmark runs `cleanup.run()` in `finally`; `run.ts` also runs every active
 * cleanup on SIGINT/SIGTERM so that an interrupted benchmark leaves nothing behind.
 */
export class Cleanup {
  private readonly steps: { what: string; undo: () => Promise<void> | void }[] = [];
  private running: Promise<void> | undefined;

  constructor() {
    active.add(this);
  }

  defer(what: string, undo: () => Promise<void> | void): void {
    this.steps.push({ what, undo });
    // Registered while (or after) cleaning up, e.g. a server that finished starting after
    // SIGINT: undo it right away.
    if (this.running) this.running = this.running.then(() => this.drain());
  }

  /** Runs every step once; later calls wait for the same run (and for steps added meanwhile). */
  async run(): Promise<void> {
    active.delete(this);
    this.running ??= this.drain();
    let current: Promise<void>;
    do {
      current = this.running;
      await current;
    } while (current !== this.running);
  }

  private async drain(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop();
      if (!step) break;
      try {
        await step.undo();
      } catch (error) {
        console.error(`cleanup: ${step.what} failed: ${(error as Error).message}`);
      }
    }
  }
}

const active = new Set<Cleanup>();

/** On SIGINT/SIGTERM: run every active cleanup, then exit (130/143). */
export function installSignalCleanup(): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${signal}: cleaning up…`);
    void Promise.allSettled([...active].map((cleanup) => cleanup.run())).then(() =>
      process.exit(signal === "SIGINT" ? 130 : 143),
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}
