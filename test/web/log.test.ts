import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAnsi, stripAnsi } from "../../web/src/lib/ansi.ts";
import { LogStore } from "../../web/src/lib/log-store.ts";
import type { LogLine } from "../../web/src/lib/types.ts";

/** The dashboard's log logic, without a browser: ANSI colours, and lines kept once, in order. */

describe("ANSI colours in build logs", () => {
  it("turns SGR codes into styled runs and drops other escapes", () => {
    const { runs } = parseAnsi(
      "\u001b[32mok\u001b[0m plain \u001b[1;31mbad\u001b[22m red\u001b[39m",
    );
    assert.deepEqual(
      runs.map((r) => [r.text, r.style]),
      [
        ["ok", { fg: "var(--ansi-green)" }],
        [" plain ", {}],
        ["bad", { bold: true, fg: "var(--ansi-red)" }],
        [" red", { fg: "var(--ansi-red)" }],
      ],
    );
    assert.deepEqual(parseAnsi("\u001b[2K\u001b[1Gprogress 50%\u001b]0;title\u0007").runs, [
      { text: "progress 50%", style: {} },
    ]);
  });

  it("reads 256-colour and 24-bit colours, bright colours and backgrounds", () => {
    const [a, b, c, d] = parseAnsi(
      "\u001b[38;5;196ma\u001b[0m\u001b[38;2;1;2;3mb\u001b[0m\u001b[94mc\u001b[0m\u001b[41md",
    ).runs;
    assert.equal(a?.style.fg, "rgb(255, 0, 0)");
    assert.equal(b?.style.fg, "rgb(1, 2, 3)");
    assert.equal(c?.style.fg, "var(--ansi-bright-blue)");
    assert.equal(d?.style.bg, "var(--ansi-red)");
  });

  it("never turns text into markup, and strips escapes for copying", () => {
    assert.deepEqual(parseAnsi("<b>x</b>").runs, [{ text: "<b>x</b>", style: {} }]);
    assert.equal(stripAnsi("\u001b[31mred\u001b[0m text"), "red text");
  });
});

const line = (seq: number, section = "building", error = false): LogLine => ({
  seq,
  time: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, seq)).toISOString(),
  section,
  message: `line ${seq}`,
  error,
});

describe("the log store", () => {
  it("keeps each line once, in order, when a resumed stream repeats lines", () => {
    const store = new LogStore();
    assert.equal(store.append([line(0), line(1), line(2)]), 3);
    assert.equal(store.append([line(1), line(2), line(3)]), 1);
    assert.equal(store.append([line(3)]), 0);
    assert.deepEqual(
      store.lines.map((l) => l.seq),
      [0, 1, 2, 3],
    );
  });

  it("groups lines by section with each section's time and errors", () => {
    const store = new LogStore();
    store.append([line(0, "initializing"), line(5, "initializing"), line(10, "building")]);
    store.append([line(30, "building", true), line(40, "deploying"), line(41, "cleanup")]);
    assert.deepEqual(
      store.sections.map((s) => [s.name, s.start, s.lines, s.errors]),
      [
        ["initializing", 0, 2, 0],
        ["building", 2, 2, 1],
        ["deploying", 4, 1, 0],
        ["cleanup", 5, 1, 0],
      ],
    );
    assert.equal(store.sectionDuration(0), 10);
    assert.equal(store.sectionDuration(1), 30);
    assert.equal(store.errorLines, 1);
  });

  it("takes 100,000 lines, appended to one array, never copied", () => {
    const store = new LogStore();
    const lines = store.lines;
    for (let batch = 0; batch < 100; batch++) {
      store.append(Array.from({ length: 1000 }, (_, i) => line(batch * 1000 + i)));
    }
    assert.equal(store.lines, lines, "the same array all along");
    assert.equal(store.lines.length, 100_000);
    assert.equal(store.lines[99_999]?.seq, 99_999);
  });
});
