import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DomainError, HTTP_STATUS, kindOfStatus } from "./errors.ts";

describe("error kinds", () => {
  it("maps every kind to its status and back", () => {
    for (const [kind, status] of Object.entries(HTTP_STATUS)) {
      assert.equal(kindOfStatus(status), kind);
      assert.equal(new DomainError(kindOfStatus(status), "x").statusCode, status);
    }
  });

  it("turns a status the table does not name into the nearest kind of its class", () => {
    assert.equal(kindOfStatus(431), "bad_request");
    assert.equal(kindOfStatus(408), "bad_request");
    assert.equal(kindOfStatus(504), "unavailable");
  });
});
