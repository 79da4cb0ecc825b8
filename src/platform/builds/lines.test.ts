import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LineSplitter, Tail } from "./lines.ts";

const feed = (splitter: LineSplitter, ...chunks: (string | Buffer)[]): string[] => [
  ...chunks.flatMap((c) => splitter.push(Buffer.isBuffer(c) ? c : Buffer.from(c))),
  ...splitter.end(),
];

describe("LineSplitter", () => {
  it("splits on \\n, \\r\\n and lone \\r, across chunk boundaries", () => {
    assert.deepEqual(feed(new LineSplitter(), "a\nb", "c\r\nd\r", "\ne\rf"), [
      "a",
      "bc",
      "d",
      "e",
      "f",
    ]);
  });

  it("keeps empty lines and drops nothing at the end", () => {
    assert.deepEqual(feed(new LineSplitter(), "\n\nx\n"), ["", "", "x"]);
    assert.deepEqual(feed(new LineSplitter(), "no newline"), ["no newline"]);
    assert.deepEqual(feed(new LineSplitter(), ""), []);
  });

  it("decodes UTF-8 split between chunks", () => {
    const bytes = Buffer.from("héllo → wörld\n");
    const chunks = [...bytes].map((b) => Buffer.from([b]));
    assert.deepEqual(feed(new LineSplitter(), ...chunks), ["héllo → wörld"]);
  });

  it("cuts an endless line into pieces of the maximum length", () => {
    const splitter = new LineSplitter(4);
    assert.deepEqual(splitter.push(Buffer.from("abcdefghij")), ["abcd", "efgh"]);
    assert.deepEqual(feed(splitter, "k\nxy"), ["ijk", "xy"]);
  });
});

describe("Tail", () => {
  it("keeps the last n items in order", () => {
    const tail = new Tail<number>(3);
    for (let i = 1; i <= 7; i++) tail.push(i);
    assert.deepEqual(tail.toArray(), [5, 6, 7]);
    const short = new Tail<number>(3);
    short.push(1);
    assert.deepEqual(short.toArray(), [1]);
  });
});
