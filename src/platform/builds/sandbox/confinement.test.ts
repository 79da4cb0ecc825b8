import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, utimes } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { killAllOfUid, processesOfUid } from "../../../lib/process.ts";
import { waitUntil } from "../../../../test/helpers/wait.ts";
import { sandboxSkip, sandboxTestbed, testUid } from "../../../../test/helpers/sandbox-testbed.ts";
import { cgroupSupport, sweepLeftoverCgroups } from "./cgroups.ts";
import { buildLimitsWarning } from "./confinement.ts";
import { describeSandboxFailure } from "./run.ts";

/**
 * A build's memory (its tmpfs included), processes and disk, on real bwrap builds: each limit
 * ends the build with the message that names its setting, and the platform's process is left
 * alone. Where no cgroup can be written (simulated with a missing cgroup root), RLIMIT_AS holds
 * memory and the build's log says so.
 */

const bed = sandboxTestbed();
const support = await cgroupSupport();
const skip =
  sandboxSkip || (support.kind === "none" ? `no writable cgroup here: ${support.reason}` : false);
const MiB = 1024 ** 2;

/** The build groups under this process's `slipway-builds` (memory hierarchy, or v2's). */
async function buildGroups(): Promise<string[]> {
  const parent =
    support.kind === "v2" ? support.parent : support.kind === "v1" ? support.parents.memory : "";
  return (await readdir(parent).catch(() => [] as string[])).filter((n) => n.startsWith("build-"));
}

describe("build confinement", { skip }, () => {
  it("stops a build that allocates 3 GiB under a 256M memory limit, naming the setting", async () => {
    const uid = testUid();
    const { result, lines } = await bed.build({
      command: `perl -e '$x = "a" x (3 * 1024 ** 3); print length($x), "\\n"'`,
      buildUid: uid,
      memoryBytes: 256 * MiB,
      network: false,
    });
    assert.equal(result.limit?.kind, "memory");
    const message = "the build used more than 256 MiB of memory (SLIPWAY_BUILD_MEMORY)";
    assert.ok(
      lines.some((l) => l.stream === "system" && l.line === message),
      lines.map((l) => l.line).join("\n"),
    );
    assert.match(describeSandboxFailure(result) ?? "", /^the build used more than 256 MiB/);
    assert.deepEqual(await processesOfUid(uid), []);
    // Only this build's: other test files' builds may be running beside it under one parent.
    assert.ok(!(await buildGroups()).includes(`build-${uid}`), "the build's cgroup is removed");
  });

  it("counts what the build writes to its tmpfs as its memory", async () => {
    const { result, text } = await bed.build({
      command: "head -c 1000000000 /dev/zero > /tmp/fill; echo wrote $?",
      memoryBytes: 128 * MiB,
      tmpSizeBytes: 2 * 1024 * MiB,
      network: false,
    });
    assert.equal(result.limit?.kind, "memory", text);
    assert.doesNotMatch(text, /wrote 0/);
  });

  it("ends a fork bomb at pids.max with a clear message, long before the time limit", async () => {
    const uid = testUid();
    const { result, text } = await bed.build({
      command: "bash -c ':(){ :|:& };:'; sleep 1000",
      buildUid: uid,
      maxProcesses: 64,
      timeoutMs: 60_000,
      network: false,
    });
    assert.equal(result.timedOut, false);
    assert.equal(result.limit?.kind, "processes", text);
    assert.match(
      text,
      /the build started more than 64 processes and threads at once \(SLIPWAY_BUILD_PIDS\)/,
    );
    assert.deepEqual(await processesOfUid(uid), []);
  });

  it("stops a build that writes more than its disk budget to the checkout", async () => {
    const { result, text, workDir } = await bed.build({
      command: "head -c 40000000 /dev/zero > big; echo wrote; sleep 30",
      diskBytes: 16 * MiB,
      network: false,
    });
    assert.equal(result.limit?.kind, "disk", text);
    assert.match(text, /the build wrote more than 16 MiB \(SLIPWAY_BUILD_DISK\)/);
    assert.ok(existsSync(join(workDir, "big")));
  });

  it("fails a build that ends over its disk budget, even between two checks", async () => {
    const { result } = await bed.build({
      // Done in milliseconds, long before the watch's first tick: only the last check sees it.
      command: "fallocate -l 40M big",
      diskBytes: 16 * MiB,
      network: false,
    });
    assert.equal(result.exitCode, 0);
    assert.equal(result.limit?.kind, "disk");
  });

  it("stops a build when its disk has less free space than the floor", async () => {
    const { result, text } = await bed.build({
      command: "sleep 30",
      minFreeDiskBytes: 1024 ** 5, // more than this disk has: full, as far as builds go
      network: false,
    });
    assert.equal(result.limit?.kind, "disk-full");
    assert.match(text, /^the disk is full: less than 1024 TiB is free/m);
  });

  it("removes build cgroups a crash left behind, but not new or busy ones", async () => {
    const parents =
      support.kind === "v2"
        ? [support.parent]
        : Object.values(support.kind === "v1" ? support.parents : {});
    const name = `build-leftover-${process.pid}`;
    for (const parent of parents) await mkdir(join(parent, name));
    // Too new: another process's build may be about to join it.
    await sweepLeftoverCgroups(undefined, 60_000);
    for (const parent of parents) assert.ok(existsSync(join(parent, name)));
    // A busy one stays (the kernel refuses anyway); an old empty one goes.
    const uid = testUid();
    const sleeping = bed.build({ command: "sleep 30", buildUid: uid, network: false });
    await waitUntil(
      async () => (await buildGroups()).includes(`build-${uid}`),
      "the build's group",
    );
    await waitUntil(async () => (await processesOfUid(uid)).length > 0, "the build to run");
    // Aged by hand rather than swept with age 0, which would also take other test files'
    // fresh groups that their builds are about to join.
    const old = new Date(Date.now() - 3_600_000);
    for (const parent of parents) {
      await utimes(join(parent, name), old, old);
      await utimes(join(parent, `build-${uid}`), old, old); // kept for being busy, not new
    }
    await sweepLeftoverCgroups();
    for (const parent of parents) assert.equal(existsSync(join(parent, name)), false);
    assert.ok((await buildGroups()).includes(`build-${uid}`));
    await killAllOfUid(uid);
    await sleeping;
  });

  it("falls back to RLIMIT_AS where no cgroup can be written, and says why in the log", async () => {
    const { result, lines } = await bed.build({
      command: `perl -e '$x = "a" x (3 * 1024 ** 3); print "allocated\\n"'`,
      memoryBytes: 256 * MiB,
      cgroupRoot: "/nonexistent-cgroup-root",
      network: false,
    });
    const warning = lines.find((l) => l.stream === "system")?.line ?? "";
    assert.match(warning, /^Warning: builds' memory is capped by RLIMIT_AS only .*no cgroup v2/);
    assert.match(warning, /nonexistent-cgroup-root/);
    assert.notEqual(result.exitCode, 0);
    assert.ok(!lines.some((l) => l.line === "allocated"));
    // The same line is what the platform logs at start.
    assert.equal(await buildLimitsWarning("/nonexistent-cgroup-root"), warning);
    assert.equal(await buildLimitsWarning(), undefined);
  });
});
