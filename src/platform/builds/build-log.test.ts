import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { memoryContext, type MemoryContext } from "../../../test/helpers/memory-ctx.ts";
import { BuildLog, MAX_LINE_CHARS, MAX_LINES, MAX_OWN_LINES } from "./build-log.ts";
import { requestBuild } from "./service.ts";

describe("a build's log", () => {
  let m: MemoryContext;
  before(async () => {
    m = await memoryContext();
  });
  after(() => m.close());

  const newBuild = async () => {
    const site = await m.createSite();
    const { build } = await requestBuild(m.ctx, {
      siteId: site.id,
      branch: "main",
      trigger: "link",
    });
    return build.id;
  };
  const stored = (buildId: string) =>
    m.ctx.db
      .selectFrom("build_log_lines")
      .select(["seq", "section", "message", "error"])
      .where("build_id", "=", buildId)
      .orderBy("seq")
      .execute();

  it(`keeps ${MAX_LINES.toLocaleString("en")} lines of output beside Slipway's own, then notes what it dropped`, async () => {
    const buildId = await newBuild();
    const log = await BuildLog.open(m.ctx.db, buildId);
    log.write("initializing", "Build ready to start");
    for (let i = 1; i <= MAX_LINES + 5; i++) log.output("building", `line ${i}`);
    log.write("cleanup", "Site is live");
    await log.close();
    const lines = await stored(buildId);
    assert.equal(lines.length, MAX_LINES + 3);
    assert.deepEqual(
      lines.map((l) => l.seq),
      lines.map((_, i) => i),
      "in order, no gaps",
    );
    assert.equal(lines[1]!.message, "line 1");
    assert.equal(lines[MAX_LINES]!.message, `line ${MAX_LINES}`, "the last line kept");
    assert.equal(lines.at(-2)!.message, "Site is live", "Slipway's own lines still kept");
    assert.equal(
      lines.at(-1)!.message,
      `(5 more log lines were dropped: a build keeps at most ${MAX_LINES} lines of its command's output)`,
    );
  });

  it("caps Slipway's own lines and cuts long lines", async () => {
    const buildId = await newBuild();
    const log = await BuildLog.open(m.ctx.db, buildId);
    log.write("preparing_repo", Array.from({ length: MAX_OWN_LINES + 1 }, () => "x").join("\n"));
    log.output("building", "y".repeat(MAX_LINE_CHARS + 10), true);
    await log.close();
    const lines = await stored(buildId);
    assert.equal(lines.length, MAX_OWN_LINES + 2);
    const output = lines.find((l) => l.section === "building")!;
    assert.equal(output.message, `${"y".repeat(MAX_LINE_CHARS)} …[cut]`);
    assert.equal(output.error, 1);
    assert.match(
      lines.at(-1)!.message,
      /^\(1 more log lines were dropped: a build keeps at most 2000 lines of Slipway's own\)$/,
    );
  });
});
