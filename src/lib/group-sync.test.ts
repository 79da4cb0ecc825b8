import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GroupSync } from "./group-sync.ts";

/** A sync whose runs the test finishes by hand; each run covers the commits made before it began. */
function manualSync() {
  let commits = 0;
  let durable = 0;
  const runs: Array<{ covers: number; finish: (error?: Error) => void }> = [];
  const group = new GroupSync(
    () =>
      new Promise<void>((resolve, reject) => {
        const covers = commits;
        runs.push({
          covers,
          finish: (error) => {
            if (error) return reject(error);
            durable = Math.max(durable, covers);
            resolve();
          },
        });
      }),
  );
  /** A caller: commits, then waits; resolves with whether its commit was durable by then. */
  const acknowledge = async (): Promise<boolean> => {
    const mine = ++commits;
    await group.sync();
    return durable >= mine;
  };
  return { runs, acknowledge };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("GroupSync", () => {
  it("answers a burst of callers with two syncs, each caller only after its commit is durable", async () => {
    const { runs, acknowledge } = manualSync();
    const first = acknowledge();
    const burst = Array.from({ length: 10 }, () => acknowledge());
    await tick();
    assert.equal(runs.length, 1, "the burst waits for the running sync to end");
    runs[0]!.finish();
    assert.equal(await first, true);
    await tick();
    assert.equal(runs.length, 2, "one more sync for the whole burst");
    runs[1]!.finish();
    assert.deepEqual(await Promise.all(burst), Array<boolean>(10).fill(true));
  });

  it("does not let a caller that arrived during a sync ride on it", async () => {
    const { runs, acknowledge } = manualSync();
    void acknowledge();
    await tick();
    let lateDone = false;
    const late = acknowledge().then((durable) => {
      lateDone = true;
      return durable;
    });
    runs[0]!.finish();
    await tick();
    assert.equal(lateDone, false, "the running sync began before the late commit");
    runs[1]!.finish();
    assert.equal(await late, true);
  });

  it("rejects the callers of a failed sync and starts afresh for the next ones", async () => {
    const { runs, acknowledge } = manualSync();
    const failed = acknowledge();
    await tick();
    runs[0]!.finish(new Error("EIO"));
    await assert.rejects(failed, /EIO/);
    const next = acknowledge();
    await tick();
    runs[1]!.finish();
    assert.equal(await next, true);
  });
});
