import { StringDecoder } from "node:string_decoder";

/**
 * Splits a byte stream into text lines (UTF-8, `\n` or `\r\n`; a lone `\r` — progress bars —
 * also ends a line). A line longer than `maxLineLength` characters is cut into pieces of that
 * size, so one endless line cannot exhaust memory.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private pending = "";
  private lastWasCr = false;

  constructor(private readonly maxLineLength = 64 * 1024) {}

  /** The complete lines found in `chunk` (without their line terminators). */
  push(chunk: Buffer): string[] {
    return this.split(this.decoder.write(chunk));
  }

  /** Whatever is left after the stream ended, as a last line (if any). */
  end(): string[] {
    const lines = this.split(this.decoder.end());
    if (this.pending.length > 0) lines.push(this.pending);
    this.pending = "";
    return lines;
  }

  private split(input: string): string[] {
    let text = input;
    if (this.lastWasCr && text.startsWith("\n")) text = text.slice(1); // \r\n across chunks
    if (text.length === 0) return [];
    this.lastWasCr = text.endsWith("\r");
    const parts = text.includes("\r") ? text.split(/\r\n|\r|\n/) : text.split("\n");
    const rest = parts.pop() ?? "";
    const lines: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      const line = i === 0 ? this.pending + parts[i] : parts[i]!;
      if (line.length > this.maxLineLength) this.cut(line, lines, true);
      else lines.push(line);
    }
    if (parts.length > 0) this.pending = "";
    this.pending += rest;
    if (this.pending.length > this.maxLineLength) this.cut(this.pending, lines, false);
    return lines;
  }

  /** Pushes `line` in pieces of maxLineLength; an incomplete remainder stays pending. */
  private cut(line: string, lines: string[], complete: boolean): void {
    let rest = line;
    while (rest.length > this.maxLineLength) {
      lines.push(rest.slice(0, this.maxLineLength));
      rest = rest.slice(this.maxLineLength);
    }
    if (complete) lines.push(rest);
    else this.pending = rest;
  }
}

/** Keeps the last `size` items pushed (a ring buffer), for "the last lines of the output". */
export class Tail<T> {
  private readonly items: T[] = [];
  private next = 0;

  constructor(private readonly size: number) {}

  push(item: T): void {
    if (this.size <= 0) return;
    if (this.items.length < this.size) {
      this.items.push(item);
    } else {
      this.items[this.next] = item;
      this.next = (this.next + 1) % this.size;
    }
  }

  toArray(): T[] {
    return [...this.items.slice(this.next), ...this.items.slice(0, this.next)];
  }
}
