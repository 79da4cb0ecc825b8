import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** How often the background connection checkpoints the WAL into the database file. */
export const CHECKPOINT_INTERVAL_MS = 250;
/**
 * A WAL holding this many frames is started over (SQLite's own `wal_autocheckpoint`, 4 MiB of
 * pages): see `WalCheckpointer`.
 */
export const RESTART_FRAMES = 1000;
/** The longest writes stay paused for a restart, should the worker not answer. */
const PAUSE_LIMIT_MS = 1000;
/** The longest a close waits for the worker's connection to close. */
const STOP_WAIT_MS = 5000;
/** A WAL larger than this is checkpointed and truncated (waiting for the writer) in the background. */
const WAL_TRUNCATE_BYTES = 64 * 1024 * 1024;

// Runs in the worker: its own connection, so a checkpoint (copying pages, then one fsync of
// the database file) blocks neither the event loop nor the writer (PASSIVE does not wait).
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { statSync } = require("node:fs");
const SQLite = require(workerData.module);
const db = new SQLite(workerData.path);
db.pragma("busy_timeout = 5000");
let restarting = false;
const checkpoint = () => {
  if (restarting) return;
  let size = 0;
  try { size = statSync(workerData.path + "-wal").size; } catch {}
  if (size > workerData.truncateBytes) {
    db.pragma("wal_checkpoint(TRUNCATE)");
    return;
  }
  const [{ log }] = db.pragma("wal_checkpoint(PASSIVE)");
  if (log >= workerData.restartFrames) {
    restarting = true;
    parentPort.postMessage("pause");
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on("message", (message) => {
  if (message === "paused") {
    try {
      db.pragma("wal_checkpoint(PASSIVE)");
    } finally {
      restarting = false;
      parentPort.postMessage("resume");
    }
    return;
  }
  clearInterval(timer);
  db.close();
  Atomics.store(workerData.closed, 0, 1);
  Atomics.notify(workerData.closed, 0);
  parentPort.close();
});
`;

/**
 * WAL checkpoints off the request path: SQLite's automatic checkpoint runs inside the commit
 * that crosses 1,000 WAL pages, on the event loop, copying those pages and syncing the
 * database file while every request waits. Here the writer's automatic checkpoint is off and a
 * worker thread checkpoints every `CHECKPOINT_INTERVAL_MS` on its own connection. Durability
 * is unchanged: a checkpoint syncs the WAL before copying and the database file before the WAL
 * may be reused. If the worker fails, the writer checkpoints itself again (`onFailure`).
 *
 * The WAL starts over from its beginning only at a write that begins after a checkpoint has
 * copied every frame, which a busy writer seldom leaves time for: under the webhook bench the
 * WAL held up to ~12,700 frames (50 MiB) at a checkpoint, and a sync of appended blocks costs
 * several times one of blocks already written (~4 ms against ~0.4 ms for 64 KiB on this
 * disk). So once it holds `RESTART_FRAMES`, the worker asks for a pause: writes wait
 * (`writesPaused`; Kysely's connection is not handed out meanwhile, see `openSqlite`) while it
 * copies the few last frames, and the next write starts the WAL over.
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  /** Set to 1 by the worker once its connection is closed. */
  private readonly closed = new Int32Array(new SharedArrayBuffer(4));
  private stopped = false;
  private failed = false;
  private pause: { done: Promise<void>; end: () => void } | undefined;

  constructor(path: string, onFailure: (error: Error) => void) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        path,
        module: createRequire(import.meta.url).resolve("better-sqlite3"),
        intervalMs: CHECKPOINT_INTERVAL_MS,
        restartFrames: RESTART_FRAMES,
        truncateBytes: WAL_TRUNCATE_BYTES,
        closed: this.closed,
      },
    });
    this.worker.unref();
    this.worker.on("message", (message) => {
      if (message === "pause") this.beginPause();
      else if (message === "resume") this.pause?.end();
    });
    this.worker.on("error", (error) => {
      this.failed = true;
      this.pause?.end();
      if (!this.stopped) onFailure(error);
    });
  }

  /** Resolves when writes may go on, while a restart is under way; else undefined. */
  get writesPaused(): Promise<void> | undefined {
    return this.pause?.done;
  }

  private beginPause(): void {
    if (this.stopped || this.pause !== undefined) return;
    let end = (): void => undefined;
    const done = new Promise<void>((resolve) => {
      const limit = setTimeout(() => end(), PAUSE_LIMIT_MS);
      limit.unref();
      end = () => {
        clearTimeout(limit);
        this.pause = undefined;
        resolve();
      };
    });
    this.pause = { done, end };
    // Between two turns of the event loop: no synchronous write is under way.
    this.worker.postMessage("paused");
  }

  /**
   * Closes the worker's connection and waits for it (a few milliseconds at most, a checkpoint
   * in progress), so that the writer closes last: the last connection checkpoints and removes
   * the WAL, and nothing touches the files once the database is closed.
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.pause?.end();
    if (this.failed) return;
    this.worker.postMessage("stop");
    Atomics.wait(this.closed, 0, 0, STOP_WAIT_MS);
  }
}
