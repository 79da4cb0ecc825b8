import assert from "node:assert/strict";
import { it } from "node:test";
import { isRecord } from "./json.ts";

it("isRecord: objects only, not null, arrays or primitives", () => {
  assert.equal(isRecord({}), true);
  assert.equal(isRecord({ a: 1 }), true);
  assert.equal(isRecord(Object.create(null)), true);
  for (const value of [null, undefined, [], [1], "{}", 1, true]) {
    assert.equal(isRecord(value), false, JSON.stringify(value));
  }
});
