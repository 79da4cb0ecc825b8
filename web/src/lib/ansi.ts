/**
 * ANSI SGR colours in build logs (`\x1b[31m`, `\x1b[1;32m`, 256 colours, 24-bit), turned into
 * styled runs of text. Other escape sequences (cursor moves, erase line, OSC titles) are
 * dropped; the text is never interpreted as HTML.
 */

export interface AnsiStyle {
  fg?: string;
  bg?: string;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
}

export interface AnsiRun {
  text: string;
  style: AnsiStyle;
}

/** The 16 basic colours as CSS variables (the stylesheet picks values for light and dark). */
const BASIC = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"].map(
  (name) => `var(--ansi-${name})`,
);
const BRIGHT = BASIC.map((v) => v.replace("--ansi-", "--ansi-bright-"));

function color256(n: number): string | undefined {
  if (n < 0 || n > 255 || !Number.isInteger(n)) return undefined;
  if (n < 8) return BASIC[n];
  if (n < 16) return BRIGHT[n - 8];
  if (n < 232) {
    const i = n - 16;
    const level = (v: number) => (v === 0 ? 0 : 55 + v * 40);
    return `rgb(${level(Math.floor(i / 36))}, ${level(Math.floor(i / 6) % 6)}, ${level(i % 6)})`;
  }
  const grey = 8 + (n - 232) * 10;
  return `rgb(${grey}, ${grey}, ${grey})`;
}

function applyCodes(style: AnsiStyle, codes: number[]): AnsiStyle {
  const next: AnsiStyle = { ...style };
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i] ?? 0;
    if (code === 0) {
      for (const key of Object.keys(next)) delete next[key as keyof AnsiStyle];
    } else if (code === 1) next.bold = true;
    else if (code === 2) next.dim = true;
    else if (code === 3) next.italic = true;
    else if (code === 4) next.underline = true;
    else if (code === 22) {
      delete next.bold;
      delete next.dim;
    } else if (code === 23) delete next.italic;
    else if (code === 24) delete next.underline;
    else if (code >= 30 && code <= 37) next.fg = BASIC[code - 30];
    else if (code === 39) delete next.fg;
    else if (code >= 40 && code <= 47) next.bg = BASIC[code - 40];
    else if (code === 49) delete next.bg;
    else if (code >= 90 && code <= 97) next.fg = BRIGHT[code - 90];
    else if (code >= 100 && code <= 107) next.bg = BRIGHT[code - 100];
    else if (code === 38 || code === 48) {
      const target = code === 38 ? "fg" : "bg";
      const mode = codes[i + 1];
      if (mode === 5) {
        const value = color256(codes[i + 2] ?? -1);
        if (value) next[target] = value;
        i += 2;
      } else if (mode === 2) {
        const [r, g, b] = [codes[i + 2], codes[i + 3], codes[i + 4]].map((v) =>
          Math.max(0, Math.min(255, v ?? 0)),
        );
        next[target] = `rgb(${r}, ${g}, ${b})`;
        i += 4;
      }
    }
  }
  return next;
}

// CSI sequences (ESC [ params final), OSC (ESC ] ... BEL or ESC \), and lone ESC + one char.
const ESCAPE =
  // eslint-disable-next-line no-control-regex
  /\u001b\[([0-9;?]*)([@-~])|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-Z\\-_]?/g;

/** Splits a line into runs of equally styled text; `carry` is the style from earlier lines. */
export function parseAnsi(
  line: string,
  carry: AnsiStyle = {},
): { runs: AnsiRun[]; end: AnsiStyle } {
  const runs: AnsiRun[] = [];
  let style = carry;
  let last = 0;
  const push = (text: string) => {
    if (text === "") return;
    const previous = runs[runs.length - 1];
    if (previous && previous.style === style) previous.text += text;
    else runs.push({ text, style });
  };
  if (!line.includes("\u001b")) {
    push(line);
    return { runs, end: style };
  }
  ESCAPE.lastIndex = 0;
  for (let match = ESCAPE.exec(line); match !== null; match = ESCAPE.exec(line)) {
    push(line.slice(last, match.index));
    last = match.index + match[0].length;
    if (match[2] === "m") {
      const codes = (match[1] ?? "")
        .split(";")
        .map((part) => (part === "" ? 0 : Number(part)))
        .filter((n) => Number.isFinite(n));
      style = applyCodes(style, codes.length === 0 ? [0] : codes);
    }
  }
  push(line.slice(last));
  return { runs, end: style };
}

/** The text without any escape sequences (for copying and searching). */
export function stripAnsi(line: string): string {
  return line.includes("\u001b") ? line.replace(ESCAPE, "") : line;
}
