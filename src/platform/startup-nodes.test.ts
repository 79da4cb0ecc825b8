import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { startTestPlatform, type TestPlatform } from "../../test/helpers/platform.ts";
import { startTestPostgres, type TestPostgres } from "../../test/helpers/postgres.ts";

/**
 * Several platform nodes starting at once on one empty Postgres database (docs/scale-out.md):
 * after the migrations, their first writes (the master key check, the administrator) take
 * turns too, so that none fails on the row another node just wrote.
 */
describe("platform nodes starting at once on one database", () => {
  let cluster: TestPostgres;
  const nodes: TestPlatform[] = [];

  before(async () => {
    cluster = await startTestPostgres();
  });
  after(async () => {
    for (const node of nodes) await node.stop();
    await cluster?.stop();
  });

  it("all start, and share one administrator", async () => {
    const databaseUrl = await cluster.createDatabase();
    const masterKey = randomBytes(32);
    const started = await Promise.allSettled(
      Array.from({ length: 4 }, () =>
        startTestPlatform({
          database: cluster,
          config: { databaseUrl, masterKey },
          platform: { buildWorkers: false },
        }),
      ),
    );
    for (const result of started) if (result.status === "fulfilled") nodes.push(result.value);
    for (const result of started) {
      assert.equal(result.status, "fulfilled", String((result as PromiseRejectedResult).reason));
    }
    for (const node of nodes) {
      const users = await node.api<{ email: string }[]>("GET", "/admin/users");
      assert.equal(users.status, 200, users.text);
      assert.deepEqual(
        users.body.map((u) => u.email),
        ["admin@localhost"],
      );
    }
  });
});
