/**
 * What `slipway deploy` tells the person waiting, on stderr (stdout is for the result). On a
 * terminal, one line is rewritten in place as counts move ("uploaded 12 of 40 files"); anywhere
 * else (CI logs, pipes) each step is one plain line and counts are not repeated.
 */

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export class Progress {
  private live = false;
  private lastDraw = 0;

  constructor(
    private readonly stream: ProgressStream,
    private readonly tty = stream.isTTY === true,
    /** Minimum time between redraws of the live line. */
    private readonly redrawMs = 80,
  ) {}

  /** A step that completed or started: a line of its own. */
  line(message: string): void {
    this.write(message, true);
  }

  /** A count that moves (terminal only; elsewhere the next `line` says how it ended). */
  status(message: string, force = false): void {
    if (!this.tty) return;
    const now = performance.now();
    if (!force && now - this.lastDraw < this.redrawMs) return;
    this.lastDraw = now;
    this.write(message, false);
  }

  private write(message: string, final: boolean): void {
    if (this.tty) {
      // Carriage return and erase-line: the live line is replaced, not appended to.
      this.stream.write(`\r\x1b[2K${message}${final ? "\n" : ""}`);
      this.live = !final;
    } else {
      this.stream.write(`${message}\n`);
    }
  }

  /** Ends a live line so that whatever comes next starts on a fresh one. */
  close(): void {
    if (this.live) this.stream.write("\n");
    this.live = false;
  }
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
