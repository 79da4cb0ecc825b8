import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** How often the background connection checkpoints the WAL into the database file. */
export const CHECKPOINT_INTERVAL_MS = 250;
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
const checkpoint = () => {
  let size = 0;
  try { size = statSync(workerData.path + "-wal").size; } catch {}
  db.pragma(size > workerData.truncateBytes ? "wal_checkpoint(TRUNCATE)" : "wal_checkpoint(PASSIVE)");
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on("message", () => {
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
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  /** Set to 1 by the worker once its connection is closed. */
  private readonly closed = new Int32Array(new SharedArrayBuffer(4));
  private stopped = false;
  private failed = false;

  constructor(path: string, onFailure: (error: Error) => void) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        path,
        module: createRequire(import.meta.url).resolve("better-sqlite3"),
        intervalMs: CHECKPOINT_INTERVAL_MS,
        truncateBytes: WAL_TRUNCATE_BYTES,
        closed: this.closed,
      },
    });
    this.worker.unref();
    this.worker.on("error", (error) => {
      this.failed = true;
      if (!this.stopped) onFailure(error);
    });
  }

  /**
   * Closes the worker's connection and waits for it (a few milliseconds at most, a checkpoint
   * in progress), so that the writer closes last: the last connection checkpoints and removes
   * the WAL, and nothing touches the files once the database is closed.
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.failed) return;
    this.worker.postMessage("stop");
    Atomics.wait(this.closed, 0, 0, STOP_WAIT_MS);
  }
}
