import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hasControlCharacters, hasControlOrSpace, withoutControlCharacters } from "./text.ts";

describe("control characters", () => {
  it("finds NUL, the C0 range and DEL, not spaces or other Unicode", () => {
    for (const value of ["a\u0000b", "tab\t", "new\nline", "esc\u001b", "del\u007f"]) {
      assert.equal(hasControlCharacters(value), true, JSON.stringify(value));
    }
    for (const value of ["", "plain text", "é ü", "\u00a0", "\u0080"]) {
      assert.equal(hasControlCharacters(value), false, JSON.stringify(value));
    }
  });

  it("hasControlOrSpace also finds a plain space", () => {
    assert.equal(hasControlOrSpace("https://example.com/a b"), true);
    assert.equal(hasControlOrSpace("https://example.com/\r"), true);
    assert.equal(hasControlOrSpace("https://example.com/a%20b"), false);
  });

  it("replaces each control character with a space, or each run with collapse", () => {
    assert.equal(withoutControlCharacters("a\t\tb\u007fc"), "a  b c");
    assert.equal(withoutControlCharacters("a\t\tb\u007fc", { collapse: true }), "a b c");
    assert.equal(withoutControlCharacters("a \tb", { collapse: true }), "a  b");
    assert.equal(withoutControlCharacters("unchanged"), "unchanged");
  });
});
