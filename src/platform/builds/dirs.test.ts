import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { tmpdir } from "node:os";
import { describe, it } from "node:test";
import { memoryContext } from "../../../test/helpers/memory-ctx.ts";
import { attemptWorkDir, removeEarlierAttempts, sweepWorkDirs } from "./dirs.ts";
import { requestBuild } from "./service.ts";

/** Each build attempt's own checkout, and who removes the ones left behind. */
describe("attempt work directories", () => {
  it("are never shared, and earlier or finished attempts' ones are removed", async () => {
    const m = await memoryContext();
    const root = await mkdtemp(join(tmpdir(), "slipway-work-"));
    try {
      const site = await m.createSite();
      const running = await requestBuild(m.ctx, {
        siteId: site.id,
        branch: "main",
        trigger: "link",
      });
      const other = await requestBuild(m.ctx, { siteId: site.id, branch: "dev", trigger: "link" });
      const id = running.build.id;
      await m.ctx.db
        .updateTable("builds")
        .set({ state: "building", attempts: 2 })
        .where("id", "=", id)
        .execute();
      const first = attemptWorkDir(root, id, 1);
      const second = attemptWorkDir(root, id, 2);
      assert.notEqual(attemptWorkDir(root, id, 2), second, "a token tells two runs apart");
      const finished = attemptWorkDir(root, other.build.id, 1);
      const legacy = join(root, id);
      // What an attempt keeps beside its checkout (the package store set aside) goes with it.
      const dirs = [first, second, finished, legacy, `${first}.store`, `${second}.store`];
      for (const dir of dirs) await mkdir(dir);

      // A start keeps only the running attempt's checkout (its build is not running: `other`).
      assert.equal(await sweepWorkDirs(m.ctx.db, root), 4);
      assert.deepEqual((await readdir(root)).sort(), [
        basename(second),
        `${basename(second)}.store`,
      ]);

      // The re-run (attempt 3) removes attempt 2's, which a worker that lost its lease may hold.
      const third = attemptWorkDir(root, id, 3);
      await mkdir(third);
      assert.equal(await removeEarlierAttempts(root, id, 3), 2);
      assert.deepEqual(await readdir(root), [basename(third)]);
    } finally {
      await rm(root, { recursive: true, force: true });
      await m.close();
    }
  });
});
