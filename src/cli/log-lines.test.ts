import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatLogLine } from "./log-lines.ts";

describe("readable log lines for a terminal", () => {
  it("turns a pino record into time, level, message and fields", () => {
    const time = new Date(2026, 0, 2, 12, 4, 5).getTime();
    const line = formatLogLine(
      JSON.stringify({
        level: 30,
        time,
        pid: 1,
        hostname: "h",
        name: "slipway",
        server: "platform",
        msg: "platform ready",
        url: "http://127.0.0.1:8080",
        note: "two words",
      }),
    );
    assert.equal(
      line,
      '12:04:05 INFO  platform ready  server=platform url=http://127.0.0.1:8080 note="two words"',
    );
  });

  it("shows errors by type and message, and leaves non-JSON text alone", () => {
    const line = formatLogLine(
      JSON.stringify({ level: 50, time: 0, msg: "boom", err: { type: "Error", message: "bad" } }),
    );
    assert.match(line, /ERROR boom {2}err="Error: bad"$/);
    assert.equal(formatLogLine("plain text\n"), "plain text");
  });
});
