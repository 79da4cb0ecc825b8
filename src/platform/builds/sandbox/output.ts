import { LineSplitter, Tail } from "../lines.ts";
import type { OutputLine } from "./run.ts";

/**
 * A build's stdout and stderr, cut into timestamped lines for its log, with the last lines kept
 * for error messages. Past `maxBytes` the rest is dropped and `onLimit` asks for the build to be
 * stopped. A failing log sink never breaks the build.
 */
export class OutputCapture {
  bytes = 0;
  truncated = false;
  private readonly tail: Tail<string>;
  private readonly splitters = { stdout: new LineSplitter(), stderr: new LineSplitter() };

  constructor(
    private readonly settings: {
      maxBytes: number;
      lastLines: number;
      onLine?: ((line: OutputLine) => void) | undefined;
      onLimit: () => void;
    },
  ) {
    this.tail = new Tail<string>(settings.lastLines);
  }

  write(stream: "stdout" | "stderr", chunk: Buffer): void {
    if (this.truncated) return;
    const { maxBytes } = this.settings;
    let data = chunk;
    if (this.bytes + chunk.length > maxBytes) {
      data = chunk.subarray(0, Math.max(0, maxBytes - this.bytes));
      this.truncated = true;
    }
    this.bytes += data.length;
    const time = Date.now(); // one clock read per chunk: a chunk can hold thousands of lines
    for (const line of this.splitters[stream].push(data)) this.emit(stream, line, time);
    if (this.truncated) {
      for (const line of this.splitters[stream].end()) this.emit(stream, line);
      this.note(
        `Output exceeded the limit of ${maxBytes} bytes: the rest was dropped and the build was stopped.`,
      );
      this.settings.onLimit();
    }
  }

  /** A line of the sandbox's own (a limit hit, processes killed). */
  note(line: string): void {
    this.emit("system", line);
  }

  /** The streams ended: their unfinished last lines (unless the rest was dropped). */
  end(): void {
    if (this.truncated) return;
    for (const line of this.splitters.stdout.end()) this.emit("stdout", line);
    for (const line of this.splitters.stderr.end()) this.emit("stderr", line);
  }

  lastLines(): string[] {
    return this.tail.toArray();
  }

  private emit(stream: OutputLine["stream"], line: string, time = Date.now()): void {
    this.tail.push(line);
    if (!this.settings.onLine) return;
    try {
      this.settings.onLine({ time, stream, line });
    } catch {
      /* a failing log sink must not break the build */
    }
  }
}
