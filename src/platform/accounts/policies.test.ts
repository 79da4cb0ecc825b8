import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Actor } from "./tokens.ts";
import type { AccountRole } from "../db/schema.ts";
import { PlatformError } from "../errors.ts";
import {
  accountIdsByOwnership,
  assertPlatformAdmin,
  authorize,
  can,
  defaultAccountId,
  visibleAccountIds,
} from "./policies.ts";

function actor(memberships: Array<[string, AccountRole, boolean?]>, admin = false): Actor {
  return {
    user: {
      id: "u1",
      email: "u@example.test",
      full_name: "U",
      is_admin: admin ? 1 : 0,
      created_at: "",
      updated_at: "",
      last_login: null,
    },
    tokenId: "t1",
    memberships: memberships.map(([accountId, role, isDefault = false]) => ({
      accountId,
      role,
      isDefault,
    })),
  };
}

const statusOf = (fn: () => void): number | undefined => {
  try {
    fn();
    return undefined;
  } catch (error) {
    assert.ok(error instanceof PlatformError);
    return error.statusCode;
  }
};

describe("policies", () => {
  const owner = actor([
    ["a1", "Owner", true],
    ["a2", "Developer"],
  ]);

  it("lets members act on their accounts' objects by role", () => {
    assert.equal(can(owner, "read", { account_id: "a1" }), true);
    assert.equal(can(owner, "delete", { account_id: "a1" }), true);
    assert.equal(can(owner, "update", { account_id: "a2" }), true);
    assert.equal(can(owner, "delete", { account_id: "a2" }), false);
  });

  it("hides other accounts' objects (404), even from platform admins, and forbids by role (403)", () => {
    assert.equal(
      statusOf(() => authorize(owner, "read", { account_id: "other" }, "Site")),
      404,
    );
    const admin = actor([["mine", "Owner", true]], true);
    assert.equal(
      statusOf(() => authorize(admin, "delete", { account_id: "other" }, "Site")),
      404,
    );
    assert.equal(
      statusOf(() => authorize(owner, "delete", { account_id: "a2" }, "Site")),
      403,
    );
    assert.equal(
      statusOf(() => authorize(owner, "update", { account_id: "a1" }, "Site")),
      undefined,
    );
  });

  it("lists accounts, splits owned from guest accounts, and picks the default", () => {
    assert.deepEqual(visibleAccountIds(owner), ["a1", "a2"]);
    assert.deepEqual(accountIdsByOwnership(owner, true), ["a1"]);
    assert.deepEqual(accountIdsByOwnership(owner, false), ["a2"]);
    assert.equal(defaultAccountId(owner), "a1");
    assert.equal(defaultAccountId(actor([["x", "Developer"]])), "x");
    assert.equal(
      statusOf(() => defaultAccountId(actor([]))),
      403,
    );
  });

  it("keeps user creation to platform admins", () => {
    assert.equal(
      statusOf(() => assertPlatformAdmin(owner)),
      403,
    );
    assert.equal(
      statusOf(() => assertPlatformAdmin(actor([], true))),
      undefined,
    );
  });
});
