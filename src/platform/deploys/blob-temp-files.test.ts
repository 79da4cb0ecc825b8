import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sha1 } from "../../../test/helpers/digests.ts";
import { BlobBatch } from "./blob-store.ts";
import { BLOB_TEMP_MODE } from "./blob-temp-files.ts";
import { HashPool, type HashResult } from "./hash-pool.ts";
import { LocalBlobStore } from "./local-blob-store.ts";

/** A temp file's name without its two counters (the prefix's and the file's). */
const scheme = (temp: string): string => basename(temp).replace(/[^-]+-[^-]+$/, "");

describe("a blob's temp file, from put and from the hash pool's workers", () => {
  let work: string;
  let pool: HashPool;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "slipway-blob-temp-"));
    pool = new HashPool(1);
  });
  after(async () => {
    await pool.close();
    await rm(work, { recursive: true, force: true });
  });

  it("is made by the same rules: folder, mode and name", async () => {
    const root = join(work, "store");
    const store = await LocalBlobStore.open(root);
    const viaPut = Buffer.from("written by put");
    const small = Buffer.from("written by a worker in its one pass");
    const large = Buffer.alloc(2 * 1024 * 1024 + 3, 5); // written by a task with `expect`
    await writeFile(join(work, "small.txt"), small);
    await writeFile(join(work, "large.bin"), large);

    const putBatch = new BlobBatch();
    await store.put(sha1(viaPut), viaPut, { batch: putBatch });
    const putTemp = putBatch.pending.get(sha1(viaPut))!.temp;

    const workerBatch = new BlobBatch();
    const writer = store.directWriter(workerBatch);
    const results: HashResult[] = [];
    await pool.hash(
      [{ path: join(work, "small.txt") }, { path: join(work, "large.bin"), expect: sha1(large) }],
      16 * 1024 * 1024,
      (index, result) => (results[index] = result),
      { blobsDir: writer.blobsDir, temp: writer.tempFiles() },
    );
    const workerTemps = results.map((result) => {
      assert.ok(result.ok && result.blob?.kind === "written", JSON.stringify(result));
      return result.blob.temp;
    });

    const putMode = (await stat(putTemp)).mode & 0o7777;
    assert.equal(putMode & 0o222, 0, "read-only, as the blob it becomes");
    assert.equal(putMode & ~BLOB_TEMP_MODE, 0, "the shared rule's mode, less the umask");
    for (const temp of workerTemps) {
      assert.equal(dirname(temp), join(root, "tmp"), "in the store's tmp folder");
      assert.equal(dirname(temp), dirname(putTemp));
      assert.equal((await stat(temp)).mode & 0o7777, putMode, `${temp}: the mode of put's`);
      assert.equal(scheme(temp), scheme(putTemp), `${temp} named as ${putTemp}`);
    }

    assert.ok(writer.adopt(sha1(small), workerTemps[0]!, small.length));
    assert.ok(writer.adopt(sha1(large), workerTemps[1]!, large.length));
    await store.flush(putBatch);
    await store.flush(workerBatch);
    for (const content of [viaPut, small, large]) {
      assert.ok((await store.get(sha1(content))).equals(content));
    }
    assert.deepEqual(await readdir(join(root, "tmp")), []);
  });
});
