import assert from "node:assert/strict";
import fs from "node:fs";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it, mock } from "node:test";
import { readOrCreateSecretFile } from "./files.ts";

describe("readOrCreateSecretFile", () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "slipway-files-"));
  });
  afterEach(() => mock.restoreAll());
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes a temporary file, fsyncs it, links it into place, then fsyncs the directory", async () => {
    const keyDir = join(dir, "data");
    const path = join(keyDir, "master.key");
    const steps: string[] = [];
    const pathOfFd = new Map<number, string>();
    const describeName = (name: string): string =>
      name === path ? "key" : name === keyDir ? "dir" : name.endsWith(".tmp") ? "temp" : name;
    const realOpen = fs.openSync;
    mock.method(fs, "openSync", (name: string, ...rest: [string, number?]) => {
      const fd = realOpen(name, ...rest);
      pathOfFd.set(fd, describeName(name));
      steps.push(`open ${describeName(name)}`);
      return fd;
    });
    const realFsync = fs.fsyncSync;
    mock.method(fs, "fsyncSync", (fd: number) => {
      steps.push(`fsync ${pathOfFd.get(fd) ?? "?"}`);
      realFsync(fd);
    });
    const realLink = fs.linkSync;
    mock.method(fs, "linkSync", (from: string, to: string) => {
      steps.push(`link ${describeName(from)} ${describeName(to)}`);
      realLink(from, to);
    });
    const realUnlink = fs.unlinkSync;
    mock.method(fs, "unlinkSync", (name: string) => {
      steps.push(`unlink ${describeName(name)}`);
      realUnlink(name);
    });

    const made = readOrCreateSecretFile(path, () => "s3cret");
    assert.deepEqual(made, { value: "s3cret", created: true });
    assert.deepEqual(steps, [
      "open temp",
      "fsync temp",
      "link temp key",
      "unlink temp",
      "open dir",
      "fsync dir",
    ]);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(keyDir), ["master.key"]);
    mock.restoreAll();
    assert.deepEqual(
      readOrCreateSecretFile(path, () => "other"),
      {
        value: "s3cret",
        created: false,
      },
    );
  });

  it("never replaces a file another process created meanwhile: that one is read back", () => {
    const path = join(dir, "raced.key");
    const result = readOrCreateSecretFile(path, () => {
      fs.writeFileSync(path, "first\n", { mode: 0o600 });
      return "second";
    });
    assert.deepEqual(result, { value: "first", created: false });
    assert.equal(fs.readFileSync(path, "utf8"), "first\n");
    assert.deepEqual(
      fs.readdirSync(dir).filter((name) => name.endsWith(".tmp")),
      [],
    );
  });
});
