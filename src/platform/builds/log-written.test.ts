import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { memoryContext, type MemoryContext } from "../../../test/helpers/memory-ctx.ts";
import { BuildLog } from "./build-log.ts";
import { announceLogWritten, logWrittenOrTimeout } from "./log-written.ts";
import { requestBuild } from "./service.ts";

describe("live log wake-ups", () => {
  let m: MemoryContext;
  before(async () => {
    m = await memoryContext();
  });
  after(() => m.close());

  it("wakes a reader of the build whose lines were announced, and only that one", async () => {
    const own = logWrittenOrTimeout("build-a", 10_000);
    const other = logWrittenOrTimeout("build-b", 50);
    announceLogWritten("build-a");
    assert.equal(await own, true);
    assert.equal(await other, false, "another build's lines do not wake it");
  });

  it("a stored batch of a build's log wakes its readers in this process", async () => {
    const site = await m.createSite();
    const { build } = await requestBuild(m.ctx, {
      siteId: site.id,
      branch: "main",
      trigger: "link",
    });
    const log = await BuildLog.open(m.ctx.db, build.id);
    const woken = logWrittenOrTimeout(build.id, 10_000);
    log.write("building", "hello");
    assert.equal(await woken, true);
    const lines = await m.ctx.db
      .selectFrom("build_log_lines")
      .select("message")
      .where("build_id", "=", build.id)
      .execute();
    assert.deepEqual(
      lines.map((l) => l.message),
      ["hello"],
      "the lines are stored before readers wake",
    );
    await log.close();
  });
});
