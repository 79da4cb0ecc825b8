import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import yazl from "yazl";
import { sha1 } from "../../../test/helpers/digests.ts";
import { LocalBlobStore } from "./local-blob-store.ts";
import { extractZip, ZipError, type ZipLimits } from "./zip.ts";

async function zipOf(
  files: Record<string, Buffer | string>,
  options: { compress?: boolean; dirs?: string[] } = {},
): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const dir of options.dirs ?? []) zip.addEmptyDirectory(dir);
  for (const [path, data] of Object.entries(files)) {
    zip.addBuffer(Buffer.from(data), path, { compress: options.compress ?? true });
  }
  zip.end();
  const parts: Buffer[] = [];
  for await (const chunk of zip.outputStream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe("extractZip", () => {
  let work: string;
  let blobs: LocalBlobStore;
  let spool: string;
  let n = 0;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "slipway-zip-"));
    blobs = await LocalBlobStore.open(join(work, "store"));
    spool = join(work, "store", "tmp");
  });
  after(() => rm(work, { recursive: true, force: true }));

  const extract = async (zip: Buffer, limits?: Partial<ZipLimits>) => {
    const path = join(work, `upload-${n++}.zip`);
    await writeFile(path, zip);
    return extractZip(path, { blobs, tmpDir: spool, ...(limits ? { limits } : {}) });
  };

  const refusal = async (zip: Buffer, limits?: Partial<ZipLimits>): Promise<ZipError> => {
    try {
      await extract(zip, limits);
    } catch (error) {
      assert.ok(error instanceof ZipError, String(error));
      return error;
    }
    assert.fail("the zip was accepted");
  };

  it("stores every file by content and returns the manifest (directories skipped)", async () => {
    const big = randomBytes(9 * 1024 * 1024); // over the in-memory limit: goes through a temp file
    const result = await extract(
      await zipOf(
        { "index.html": "<h1>hi</h1>", "a/b/c.txt": "deep", "same.txt": "deep", "big.bin": big },
        { dirs: ["empty/"] },
      ),
    );
    assert.deepEqual([...result.manifest.files.keys()].sort(), [
      "a/b/c.txt",
      "big.bin",
      "index.html",
      "same.txt",
    ]);
    assert.deepEqual(result.manifest.files.get("big.bin"), { sha1: sha1(big), size: big.length });
    assert.equal(result.manifest.files.get("same.txt")!.sha1, sha1("deep"));
    assert.equal(result.stats.files, 4);
    assert.equal(result.stats.newBlobs, 3, "identical contents are stored once");
    assert.deepEqual(await blobs.get(sha1(big)), big);
    assert.deepEqual(await readdir(spool), [], "no temp file is left behind");
  });

  it("refuses archives over the limits before inflating them", async () => {
    const three = await zipOf({ "a.txt": "1", "b.txt": "2", "c.txt": "3" });
    assert.equal((await refusal(three, { maxFiles: 2 })).code, "too_many_files");
    assert.equal((await refusal(three, { maxEntries: 2 })).code, "too_many_files");
    const large = await zipOf({ "big.txt": "x".repeat(5000) }, { compress: false });
    const tooLarge = await refusal(large, { maxFileBytes: 4096 });
    assert.equal(tooLarge.code, "file_too_large");
    assert.equal(tooLarge.path, "big.txt");
    const total = await zipOf({ "a.txt": "x".repeat(3000), "b.txt": "y".repeat(3000) });
    assert.equal((await refusal(total, { maxTotalBytes: 5000 })).code, "total_too_large");
    const bomb = await zipOf({ "zeros.bin": Buffer.alloc(4 * 1024 * 1024) });
    const refused = await refusal(bomb);
    assert.equal(refused.code, "zip_bomb");
    assert.match(refused.message, /expands \d+:1/);
    assert.equal(await blobs.has(sha1(Buffer.alloc(4 * 1024 * 1024))), false);
  });

  it("refuses symlinks, unsafe names and corrupt archives with a reason", async () => {
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from("/etc/shadow"), "link", { mode: 0o120777 });
    zip.end();
    const parts: Buffer[] = [];
    for await (const chunk of zip.outputStream) parts.push(chunk as Buffer);
    assert.equal((await refusal(Buffer.concat(parts))).code, "symlink");

    const good = await zipOf({ "index.html": "x".repeat(2000) });
    assert.equal((await refusal(good.subarray(0, good.length - 10))).code, "corrupt");
    assert.equal((await refusal(Buffer.from("not a zip at all"))).code, "corrupt");
    // Damaged compressed data: the archive's structure is fine, inflating is not.
    const damaged = Buffer.from(good);
    damaged.fill(0xff, 40, 60);
    assert.equal((await refusal(damaged)).code, "corrupt");
    const control = await zipOf({ "bad\u0001name.txt": "x" });
    const refused = await refusal(control);
    assert.equal(refused.code, "invalid_path");
    assert.match(refused.message, /control character/);
    assert.equal((await refusal(await zipOf({}, { dirs: ["only/"] }))).code, "corrupt");
  });
});
