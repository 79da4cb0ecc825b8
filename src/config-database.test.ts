import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "./config.ts";

describe("loadConfig: the platform's database", () => {
  it("keeps SQLite unless SLIPWAY_DATABASE_URL is set", () => {
    assert.equal("databaseUrl" in loadConfig({}).platform, false);
    assert.equal("databaseUrl" in loadConfig({ SLIPWAY_DATABASE_URL: "" }).platform, false);
  });

  it("takes a postgres:// or postgresql:// URL as given", () => {
    for (const url of [
      "postgres://slipway:s3cret@db.internal:5432/slipway",
      "postgresql://slipway@10.0.0.5/slipway?sslmode=require",
    ]) {
      assert.equal(loadConfig({ SLIPWAY_DATABASE_URL: url }).platform.databaseUrl, url);
    }
  });

  it("refuses anything else without repeating the URL (it holds a password)", () => {
    for (const url of ["mysql://root:hunter2@db/slipway", "hunter2", "/var/lib/slipway.db"]) {
      assert.throws(
        () => loadConfig({ SLIPWAY_DATABASE_URL: url }),
        (error: unknown) =>
          error instanceof ConfigError &&
          /SLIPWAY_DATABASE_URL must be a postgres:\/\/ URL/.test(error.message) &&
          !error.message.includes("hunter2"),
      );
    }
  });
});
