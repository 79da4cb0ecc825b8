/**
 * Group commit of a digest deploy's file receipts. Each upload is acknowledged only after its
 * receipt (ownership row, upload row gone) committed, as before; but uploads of one deploy that
 * arrive while its previous receipt transaction runs share the next transaction, so thousands
 * of uploads in flight a few at a time cost far fewer transactions than uploads.
 */

/** Commits the receipts of `sha1s` for a deploy; true when they completed it. */
export type CommitReceipts = (
  deployId: string,
  accountId: string,
  sha1s: string[],
) => Promise<boolean>;

interface Batch {
  accountId: string;
  sha1s: string[];
  done: Promise<boolean>;
}

export class ReceiptBatches {
  /** By deploy: the transaction running now, and the batch gathering to run after it. */
  private readonly running = new Map<string, Promise<boolean>>();
  private readonly gathering = new Map<string, Batch>();

  constructor(private readonly commit: CommitReceipts) {}

  /**
   * Resolves once the receipt of `sha1` committed: true for exactly one caller, the last of the
   * transaction that received the deploy's last upload (it finishes the deploy).
   */
  receive(deployId: string, accountId: string, sha1: string): Promise<boolean> {
    let batch = this.gathering.get(deployId);
    // One deploy belongs to one account; a different one (never, in practice) waits its turn.
    if (batch !== undefined && batch.accountId !== accountId) {
      return batch.done.then(() => this.receive(deployId, accountId, sha1));
    }
    if (batch === undefined) batch = this.gather(deployId, accountId);
    const index = batch.sha1s.push(sha1) - 1;
    const sha1s = batch.sha1s;
    return batch.done.then((finished) => finished && index === sha1s.length - 1);
  }

  private gather(deployId: string, accountId: string): Batch {
    const sha1s: string[] = [];
    const previous = this.running.get(deployId) ?? Promise.resolve(false);
    const done = previous
      .catch(() => false)
      .then(() => {
        // From here on, new receipts gather for the next transaction.
        this.gathering.delete(deployId);
        const run = this.commit(deployId, accountId, sha1s);
        this.running.set(deployId, run);
        const forget = (): void => {
          if (this.running.get(deployId) === run) this.running.delete(deployId);
        };
        run.then(forget, forget);
        return run;
      });
    const batch = { accountId, sha1s, done };
    this.gathering.set(deployId, batch);
    return batch;
  }
}
