import { EventEmitter } from "node:events";

/**
 * Within one process, a build's live-log readers wake as soon as its lines are stored instead
 * of at their next poll. Only a shortcut: readers still poll the database, which stays the
 * truth (the build may run in another process, and then the poll is what finds its lines).
 */
const written = new EventEmitter();
written.setMaxListeners(0);

export function announceLogWritten(buildId: string): void {
  written.emit(buildId);
}

/**
 * Resolves when lines of `buildId` are stored by this process (true), or after `ms` at the
 * latest (false).
 */
export function logWrittenOrTimeout(buildId: string, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (announced: boolean): void => {
      clearTimeout(timer);
      written.off(buildId, onWritten);
      resolve(announced);
    };
    const onWritten = (): void => done(true);
    const timer = setTimeout(() => done(false), ms);
    written.once(buildId, onWritten);
  });
}
