import type { Kysely } from "kysely";
import type { LogSection, PlatformDatabase } from "../db/schema.ts";
import { announceLogWritten } from "./log-written.ts";

/**
 * A build's log, written to `build_log_lines` in small batches (every `flushMs`, or sooner
 * when many lines are waiting), so that readers polling the table — the log API, the SSE
 * stream, another process — see the build progress within a fraction of a second (readers in
 * this process are woken at once: `log-written.ts`). Each line
 * keeps the time it was produced. One writer per build at a time (the build's job lease).
 */

/** Longest line kept; longer lines are cut and marked. */
export const MAX_LINE_CHARS = 4000;
/** Lines of the build command's output kept per build; one note says how many more were dropped. */
export const MAX_LINES = 100_000;
/** Slipway's own lines kept per build (stages, the fetch, diagnoses), beside the output. */
export const MAX_OWN_LINES = 2_000;
/** The most lines one build's log holds: both kinds and their notes (a re-run appends within it). */
export const MAX_STORED_LINES = MAX_LINES + MAX_OWN_LINES + 2;

/** The runner's last line of every build log (after publishing and saving the cache). */
export function finalLogLine(startedMs: number): string {
  return `${FINAL_LINE_PREFIX}${((Date.now() - startedMs) / 1000).toFixed(3)}s`;
}
const FINAL_LINE_PREFIX = "Finished processing build request in ";

/** Whether a stored line is `finalLogLine`'s: nothing follows it, a live stream may end. */
export function isFinalLogLine(line: { section: string; message: string }): boolean {
  return line.section === "cleanup" && line.message.startsWith(FINAL_LINE_PREFIX);
}

interface PendingLine {
  seq: number;
  time: string;
  section: LogSection;
  error: number;
  message: string;
}

export class BuildLog {
  private pending: PendingLine[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private kept = { output: 0, own: 0 };
  private dropped = { output: 0, own: 0 };
  private failure: unknown;

  private constructor(
    private readonly db: Kysely<PlatformDatabase>,
    readonly buildId: string,
    private nextSeq: number,
    private readonly flushMs: number,
  ) {}

  /** Opens the log of a build, appending after its existing lines (a re-run keeps the first). */
  static async open(
    db: Kysely<PlatformDatabase>,
    buildId: string,
    flushMs = 50,
  ): Promise<BuildLog> {
    const last = await db
      .selectFrom("build_log_lines")
      .select((eb) => eb.fn.max("seq").as("seq"))
      .where("build_id", "=", buildId)
      .executeTakeFirst();
    const next = last?.seq === null || last?.seq === undefined ? 0 : Number(last.seq) + 1;
    return new BuildLog(db, buildId, next, flushMs);
  }

  /** Slipway's own lines (each line of `message`). */
  write(section: LogSection, message: string, error = false): void {
    this.append("own", section, message, error);
  }

  /** Lines of the build command's output. */
  output(section: LogSection, message: string, error = false): void {
    this.append("output", section, message, error);
  }

  private append(
    kind: "output" | "own",
    section: LogSection,
    message: string,
    error: boolean,
  ): void {
    const limit = kind === "output" ? MAX_LINES : MAX_OWN_LINES;
    for (const part of message.split("\n")) {
      if (this.kept[kind] >= limit || this.nextSeq >= MAX_STORED_LINES - 2) {
        this.dropped[kind]++;
        continue;
      }
      this.kept[kind]++;
      const text = part.length > MAX_LINE_CHARS ? `${part.slice(0, MAX_LINE_CHARS)} …[cut]` : part;
      this.pending.push({
        seq: this.nextSeq++,
        time: new Date().toISOString(),
        section,
        error: error ? 1 : 0,
        message: text,
      });
    }
    if (this.pending.length >= 200) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
  }

  /** Writes what is pending; resolves when everything written so far is stored. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.pending;
    this.pending = [];
    if (batch.length > 0) {
      this.writing = this.writing.then(() =>
        this.db
          .insertInto("build_log_lines")
          .values(batch.map((line) => ({ build_id: this.buildId, ...line })))
          // A retried flush after a lost acknowledgement must not fail on its own lines.
          .onConflict((oc) => oc.doNothing())
          .execute()
          .then(
            () => {
              this.failure = undefined;
              announceLogWritten(this.buildId);
            },
            (error: unknown) => {
              // Written again with the next batch: a full disk that was freed, a busy database.
              this.failure = error;
              this.pending = [...batch, ...this.pending];
            },
          ),
      );
    }
    return this.writing;
  }

  /** Flushes, noting how many lines were dropped past the limits. */
  async close(): Promise<void> {
    const notes = {
      output: `a build keeps at most ${MAX_LINES} lines of its command's output`,
      own: `a build keeps at most ${MAX_OWN_LINES} lines of Slipway's own`,
    };
    for (const kind of ["output", "own"] as const) {
      const dropped = this.dropped[kind];
      if (dropped === 0) continue;
      this.dropped[kind] = 0;
      this.pending.push({
        seq: this.nextSeq++,
        time: new Date().toISOString(),
        section: "cleanup",
        error: 0,
        message: `(${dropped} more log lines were dropped: ${notes[kind]})`,
      });
    }
    await this.flush();
    if (this.failure !== undefined) throw this.failure;
  }
}
