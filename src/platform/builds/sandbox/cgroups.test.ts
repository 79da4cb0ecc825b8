import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cgroupSupport, createBuildCgroup } from "./cgroups.ts";

/**
 * cgroup v2 is not offered with its controllers on the machines the tests run on (v1 is, and
 * `confinement.test.ts` runs real builds in it), so v2's files are checked on a directory laid
 * out like a v2 hierarchy: which file gets which value, and how its counters are read.
 */

const ownV2Path = (await readFile("/proc/self/cgroup", "utf8"))
  .split("\n")
  .find((line) => line.startsWith("0::"))
  ?.slice(3);

describe("cgroup v2 files", { skip: ownV2Path === undefined ? "no cgroup v2 line" : false }, () => {
  let root = "";
  let base = "";
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "slipway-fake-cgroup-"));
    base = join(root, ownV2Path!);
    await mkdir(base, { recursive: true });
    await writeFile(join(root, "cgroup.controllers"), "cpuset cpu io memory pids\n");
    await writeFile(join(base, "cgroup.controllers"), "cpuset cpu io memory pids\n");
  });
  after(() => rm(root, { recursive: true, force: true }));

  it("enables the controllers for the builds' parent and sets a build's limits", async () => {
    const support = await cgroupSupport(root);
    assert.equal(support.kind, "v2");
    if (support.kind !== "v2") return;
    assert.equal(support.parent, join(base, "slipway-builds"));
    assert.equal(
      await readFile(join(base, "cgroup.subtree_control"), "utf8"),
      "+memory +pids +cpu",
    );
    const group = await createBuildCgroup(support, "42", {
      memoryBytes: 256 * 1024 ** 2,
      maxProcesses: 64,
      cpuWeight: 50,
    });
    const dir = join(support.parent, "build-42");
    const read = (name: string): Promise<string> => readFile(join(dir, name), "utf8");
    assert.equal(await read("memory.max"), String(256 * 1024 ** 2));
    assert.equal(await read("memory.oom.group"), "1");
    assert.equal(await read("pids.max"), "64");
    assert.equal(await read("cpu.weight"), "50");
    assert.equal(existsSync(join(dir, "memory.swap.max")), false, "no swap file, none written");
    assert.deepEqual(group.procsFiles, [join(dir, "cgroup.procs")]);

    assert.deepEqual(await group.events(), { outOfMemory: false, processLimit: false });
    await writeFile(join(dir, "memory.events"), "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n");
    await writeFile(join(dir, "pids.events"), "max 3\n");
    assert.deepEqual(await group.events(), { outOfMemory: true, processLimit: true });

    // The end of a build's processes is watched in the group's own procs file.
    await writeFile(join(dir, "cgroup.procs"), "4242\n");
    assert.equal(await group.waitEmpty(30), false);
    await writeFile(join(dir, "cgroup.procs"), "");
    assert.equal(await group.waitEmpty(30), true);
  });
});
