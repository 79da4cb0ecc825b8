import type { LogLine } from "./types.ts";

/**
 * A build log as it arrives: lines in order, each exactly once (a resumed stream may repeat the
 * last lines it sent; their `seq` tells), and the sections (initializing, building, deploying,
 * cleanup) with where each starts and how long it took. Mutable on purpose: a 100,000-line log
 * is appended to, never copied.
 */

export interface LogSection {
  name: string;
  /** Index of its first line. */
  start: number;
  lines: number;
  errors: number;
  firstTime: string;
  lastTime: string;
}

export class LogStore {
  readonly lines: LogLine[] = [];
  readonly sections: LogSection[] = [];
  lastSeq = -1;
  errorLines = 0;

  /** Appends the lines not seen yet; returns how many were new. */
  append(incoming: readonly LogLine[]): number {
    let added = 0;
    for (const line of incoming) {
      if (line.seq <= this.lastSeq) continue;
      this.lastSeq = line.seq;
      const index = this.lines.length;
      this.lines.push(line);
      added++;
      let section = this.sections[this.sections.length - 1];
      if (!section || section.name !== line.section) {
        section = {
          name: line.section,
          start: index,
          lines: 0,
          errors: 0,
          firstTime: line.time,
          lastTime: line.time,
        };
        this.sections.push(section);
      }
      section.lines++;
      section.lastTime = line.time;
      if (line.error) {
        section.errors++;
        this.errorLines++;
      }
    }
    return added;
  }

  /** How long a section took: from its first line to the next section's first line (or its last). */
  sectionDuration(index: number): number {
    const section = this.sections[index];
    if (!section) return 0;
    const next = this.sections[index + 1];
    const end = next ? next.firstTime : section.lastTime;
    return Math.max(0, Date.parse(end) - Date.parse(section.firstTime));
  }
}
