import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ReceiptBatches } from "./upload-receipts.ts";

/** A commit that waits until released, recording each batch it was given. */
function gatedCommits(outcome: (sha1s: string[]) => boolean | Error) {
  const batches: string[][] = [];
  const gates: (() => void)[] = [];
  const commit = async (_deployId: string, _accountId: string, sha1s: string[]) => {
    batches.push([...sha1s]);
    await new Promise<void>((resolve) => gates.push(resolve));
    const result = outcome(sha1s);
    if (result instanceof Error) throw result;
    return result;
  };
  const releaseAll = async () => {
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gates.splice(0).forEach((open) => open());
    }
  };
  return { batches, commit, releaseAll };
}

describe("receipts of a digest deploy's uploads, committed in groups", () => {
  it("puts the uploads that arrive during a transaction into the next one, and finishes once", async () => {
    const { batches, commit, releaseAll } = gatedCommits((sha1s) => sha1s.includes("e"));
    const receipts = new ReceiptBatches(commit);
    const first = receipts.receive("d1", "acct", "a");
    await new Promise((resolve) => setImmediate(resolve));
    const rest = ["b", "c", "d", "e"].map((sha1) => receipts.receive("d1", "acct", sha1));
    const other = receipts.receive("d2", "acct", "z");
    await releaseAll();
    const results = await Promise.all([first, ...rest, other]);
    assert.deepEqual(batches, [["a"], ["z"], ["b", "c", "d", "e"]]);
    assert.deepEqual(results, [false, false, false, false, true, false], "one caller finishes");
  });

  it("fails every upload of a failed transaction, and the next ones still commit", async () => {
    let calls = 0;
    const { batches, commit, releaseAll } = gatedCommits(() =>
      ++calls === 1 ? new Error("disk I/O error") : true,
    );
    const receipts = new ReceiptBatches(commit);
    const failed = receipts.receive("d1", "acct", "a");
    await new Promise((resolve) => setImmediate(resolve));
    const later = receipts.receive("d1", "acct", "b");
    const outcome = Promise.allSettled([failed, later]);
    await releaseAll();
    const [a, b] = await outcome;
    assert.equal(a.status, "rejected");
    assert.deepEqual(b, { status: "fulfilled", value: true });
    assert.deepEqual(batches, [["a"], ["b"]]);
  });
});
