import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, it } from "node:test";
import { createArchive, extractArchive } from "./archive.ts";

/**
 * Archives with the real tar (and zstd when the host has it). tar stops reading at the end of
 * the archive, so whatever still feeds it (zstd's last frame, the rest of a blob's stream) can
 * find the pipe closed: a complete extraction must not be reported as a failure.
 */
describe("cache archives", () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "slipway-archive-"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("round-trips a tree, leaving out the excluded paths", async () => {
    const source = join(root, "source");
    await mkdir(join(source, "node_modules/dep"), { recursive: true });
    await mkdir(join(source, "node_modules/.cache"), { recursive: true });
    await writeFile(join(source, "node_modules/dep/index.js"), "module.exports = 1;\n");
    await writeFile(join(source, "node_modules/.cache/x"), "cache");
    const file = join(root, "a.tar");
    const written = await createArchive(source, ["node_modules"], file, ["node_modules/.cache"]);
    assert.match(written.sha1, /^[0-9a-f]{40}$/);
    const target = join(root, "target");
    await mkdir(target);
    await extractArchive(createReadStream(file), written.format, target);
    assert.equal(
      await readFile(join(target, "node_modules/dep/index.js"), "utf8"),
      "module.exports = 1;\n",
    );
    await assert.rejects(readFile(join(target, "node_modules/.cache/x")));
  });

  it("succeeds when tar has read the whole archive before its input ended", async () => {
    const source = join(root, "source2");
    await mkdir(join(source, "d"), { recursive: true });
    await writeFile(join(source, "d/f"), "content\n");
    // A plain tar followed by much more than a pipe holds: tar exits at its end marker.
    const input = new PassThrough();
    input.write(execFileSync("tar", ["--create", "--file=-", `--directory=${source}`, "d"]));
    input.end(Buffer.alloc(16 * 1024 * 1024));
    const target = join(root, "target2");
    await mkdir(target);
    await extractArchive(input, "tar", target);
    assert.equal(await readFile(join(target, "d/f"), "utf8"), "content\n");
  });
});
