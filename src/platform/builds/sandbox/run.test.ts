import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { processesOfUid } from "../../../lib/process.ts";
import { waitUntil } from "../../../../test/helpers/wait.ts";
import { SandboxConfigError, SandboxUnavailableError } from "./errors.ts";
import { describeSandboxFailure, runSandboxed, sweepOrphanedBuilds } from "./run.ts";
import {
  sandboxSkip as skip,
  sandboxTestbed,
  testUid,
} from "../../../../test/helpers/sandbox-testbed.ts";

const bed = sandboxTestbed();
const realBwrap = existsSync("/usr/bin/bwrap") ? "/usr/bin/bwrap" : "/usr/local/bin/bwrap";

describe("runSandboxed", { skip }, () => {
  it("runs a normal build that writes dist/ in the checkout, streaming timestamped lines", async () => {
    const workDir = await bed.newWorkDir();
    await writeFile(join(workDir, "src.txt"), "hello from the repo\n");
    const before = Date.now();
    const { result, lines } = await bed.build({
      workDir,
      command:
        'mkdir -p dist && { cat src.txt; echo "built $COMMIT_REF on $BRANCH"; } > dist/index.html && echo done && echo warn >&2',
      netlify: { commitRef: "abc123", branch: "main", context: "production" },
    });
    assert.equal(result.exitCode, 0);
    assert.equal(result.timedOut, false);
    assert.equal(result.sandboxed, true);
    assert.equal(result.strayProcessesKilled, 0);
    assert.equal(
      await readFile(join(workDir, "dist/index.html"), "utf8"),
      "hello from the repo\nbuilt abc123 on main\n",
    );
    const done = lines.find((l) => l.line === "done");
    assert.equal(done?.stream, "stdout");
    assert.ok(done.time >= before && done.time <= Date.now());
    assert.equal(lines.find((l) => l.line === "warn")?.stream, "stderr");
    assert.deepEqual(result.lastLines.sort(), ["done", "warn"]);
    assert.equal(describeSandboxFailure(result), undefined);
  });

  it("starts the sandbox again when bwrap's own loopback set-up fails before the command", async () => {
    // A bwrap that fails its first start the way gVisor-like kernels do under load.
    const flags = join(bed.root, "flags");
    await mkdir(flags, { mode: 0o777 });
    await chmod(flags, 0o777);
    const flaky = join(bed.root, "flaky-bwrap");
    await writeFile(
      flaky,
      `#!/bin/sh\nif mkdir ${flags}/failed 2>/dev/null; then\n  echo "bwrap: loopback: Failed RTM_NEWADDR: No child processes" >&2\n  exit 1\nfi\nexec ${realBwrap} "$@"\n`,
      { mode: 0o755 },
    );
    const { result, text } = await bed.build({
      command: "echo built",
      bwrapPath: flaky,
      network: false,
    });
    assert.equal(result.exitCode, 0, text);
    assert.match(text, /built/);
    assert.ok(existsSync(join(flags, "failed")), "the first start failed");
  });

  it("hides the platform's data dir, keys and environment; passes only the build's env", async () => {
    const dataDir = join(bed.root, "data");
    await mkdir(join(dataDir, "keys"), { recursive: true });
    await writeFile(join(dataDir, "keys", "deploy-key"), "-----BEGIN OPENSSH PRIVATE KEY-----\n", {
      mode: 0o600,
    });
    await writeFile(join(dataDir, "platform.db"), "TOP-SECRET-DATABASE");
    process.env.SLIPWAY_TEST_PARENT_SECRET = "parent-secret-value";
    try {
      const { result, text } = await bed.build({
        command: [
          `cat ${dataDir}/platform.db ${dataDir}/keys/deploy-key`,
          `ls -la ${dataDir} /root /home /var/lib /work`,
          "env",
          "cat /proc/*/environ | tr '\\0' '\\n'",
          "cat /proc/*/cmdline | tr '\\0' ' '",
          "echo end-of-probe",
        ].join("; "),
        env: { SITE_TOKEN: "site-token-value" },
        netlify: { context: "production", branch: "main", deployId: "d-1", buildId: "b-1" },
      });
      assert.equal(result.exitCode, 0, text);
      assert.match(text, /end-of-probe/);
      assert.match(text, /No such file or directory/);
      assert.doesNotMatch(text, /TOP-SECRET-DATABASE|BEGIN OPENSSH PRIVATE KEY/);
      assert.doesNotMatch(text, /parent-secret-value|SLIPWAY_TEST_PARENT_SECRET/);
      assert.doesNotMatch(text, /NODE_EXTRA_CA_CERTS|NODE_OPTIONS/);
      for (const expected of [
        "SITE_TOKEN=site-token-value",
        "CI=true",
        "NETLIFY=true",
        "CONTEXT=production",
        "BRANCH=main",
        "DEPLOY_ID=d-1",
        "HOME=/home/build",
      ]) {
        assert.ok(text.includes(expected), `${expected} missing from the build's environment`);
      }
    } finally {
      delete process.env.SLIPWAY_TEST_PARENT_SECRET;
    }
  });

  it("never puts the site's env values in a process's arguments", async () => {
    const secret = `argv-secret-${Date.now()}`;
    const running = bed.build({ command: "sleep 1", env: { API_TOKEN: secret } });
    await new Promise((r) => setTimeout(r, 500));
    const hits: string[] = [];
    for (const pid of await readdir("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      if (cmdline.includes(secret)) hits.push(cmdline.replaceAll("\0", " "));
    }
    const { result } = await running;
    assert.equal(result.exitCode, 0);
    assert.deepEqual(hits, []);
  });

  it("covers hidden paths that lie under a tree bound into the sandbox", async () => {
    const toolchain = join(bed.root, "toolchain");
    await mkdir(join(toolchain, "bin"), { recursive: true });
    await mkdir(join(toolchain, "slipway-data"), { recursive: true });
    await writeFile(join(toolchain, "bin", "tool"), "tool-is-visible\n");
    await writeFile(join(toolchain, "slipway-data", "secret"), "HIDDEN-SECRET\n");
    await writeFile(join(toolchain, "master.key"), "HIDDEN-KEY\n");
    const { result, text } = await bed.build({
      command: `cat ${toolchain}/bin/tool; ls -A ${toolchain}/slipway-data; cat ${toolchain}/slipway-data/secret ${toolchain}/master.key; touch ${toolchain}/slipway-data/x; echo end`,
      extraReadOnlyPaths: [toolchain],
      hidePaths: [join(toolchain, "slipway-data"), join(toolchain, "master.key")],
    });
    assert.match(text, /tool-is-visible/);
    assert.match(text, /end/);
    assert.doesNotMatch(text, /HIDDEN-SECRET|HIDDEN-KEY/);
    assert.match(text, /Read-only file system/);
    assert.equal(result.exitCode, 0);
  });

  it("refuses to hide a path the sandbox itself needs", async () => {
    await assert.rejects(
      bed.build({ command: "true", hidePaths: ["/"] }),
      (e: unknown) => e instanceof SandboxConfigError && /the sandbox needs/.test(e.message),
    );
  });

  it("cannot write outside the checkout, gain privileges or nest namespaces", async () => {
    const marker = `slipway-escape-${process.pid}-${Date.now()}`;
    const { result, text, workDir } = await bed.build({
      command: [
        `for p in /usr/${marker} /etc/${marker} /${marker} /home/${marker} /var/${marker} /build/../${marker}; do touch $p 2>/dev/null && echo "WROTE $p"; done`,
        `echo tmp > /tmp/${marker} && echo tmp-ok`,
        `touch /dev/${marker} 2>/dev/null && echo "WROTE /dev"`,
        "echo shm > /dev/shm/x && echo shm-ok",
        "echo inside > inside.txt",
        "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status",
        "unshare -U true 2>/dev/null && echo USERNS-ALLOWED",
        "mount -t tmpfs x /tmp 2>/dev/null && echo MOUNT-ALLOWED",
        "id -u",
      ].join("; "),
    });
    assert.equal(result.exitCode, 0, text);
    assert.doesNotMatch(text, /WROTE|USERNS-ALLOWED|MOUNT-ALLOWED/);
    assert.match(text, /CapEff:\s+0+\n/);
    assert.match(text, /NoNewPrivs:\s+1/);
    assert.match(text, /^1000$/m);
    assert.match(text, /tmp-ok/);
    assert.match(text, /shm-ok/);
    for (const dir of ["/usr", "/etc", "/", "/home", "/var", bed.root, tmpdir()]) {
      assert.equal(existsSync(join(dir, marker)), false, `${dir}/${marker} exists on the host`);
    }
    assert.equal(await readFile(join(workDir, "inside.txt"), "utf8"), "inside\n");
  });

  it("contains a fork bomb within RLIMIT_NPROC without cgroups and ends it at the time limit", async () => {
    const uid = testUid();
    let peak = 0;
    const sampler = setInterval(() => {
      void processesOfUid(uid).then((p) => (peak = Math.max(peak, p.length)));
    }, 50);
    const started = Date.now();
    const { result } = await bed.build({
      // `exec`: once the bomb holds every process the limit allows, a forked `sleep` fails and
      // the build would end at once instead of at the time limit.
      command: "bash -c ':(){ :|:& };:'; exec sleep 1000",
      buildUid: uid,
      maxProcesses: 64,
      timeoutMs: 2000,
      killGraceMs: 500,
      // The fallback: with a cgroup, pids.max ends it at once (confinement.test.ts).
      cgroupRoot: "/nonexistent-cgroup-root",
    });
    clearInterval(sampler);
    const elapsed = Date.now() - started;
    assert.equal(result.timedOut, true);
    assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
    assert.ok(peak > 5, `the bomb never ran (peak ${peak})`);
    assert.ok(peak <= 64, `${peak} processes despite a limit of 64`);
    assert.deepEqual(await processesOfUid(uid), []);
    assert.match(describeSandboxFailure(result) ?? "", /time limit/);
  });

  it("takes the build down with it when the platform process is killed (kill -9)", async () => {
    const uid = testUid();
    const workDir = await bed.newWorkDir();
    const script =
      `import { runSandboxed } from ${JSON.stringify(new URL("./run.ts", import.meta.url).pathname)};` +
      `await runSandboxed({ command: "sleep 1000", workDir: ${JSON.stringify(workDir)}, buildUid: ${uid} });`;
    const platform = spawn(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      {
        stdio: "ignore",
        env: { ...process.env, NODE_EXTRA_CA_CERTS: "" },
      },
    );
    try {
      await waitUntil(
        async () => (await processesOfUid(uid)).length >= 3,
        "the build to start",
        30_000,
        50,
      );
    } finally {
      platform.kill("SIGKILL");
    }
    const deadline = Date.now() + 10_000;
    while ((await processesOfUid(uid)).length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const left = await processesOfUid(uid);
    const describe = await Promise.all(
      left.map((pid) => readFile(`/proc/${pid}/status`, "utf8").catch(() => `${pid} gone`)),
    );
    assert.deepEqual(left, [], describe.join("\n---\n"));
  });

  it("sweeps builds orphaned by a dead platform, and leaves live ones alone", async () => {
    const first = 2_130_000_000 + Math.floor(Math.random() * 1_000_000);
    const [live, orphan, running] = [first, first + 1, first + 2];
    const drop = (uid: number) => [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--"];
    // Still attached to its parent (this process): a live build's monitor looks like this.
    const attached = spawn("setpriv", [...drop(live), "sleep", "1000"], { stdio: "ignore" });
    // Re-parented to pid 1: what is left when the platform died.
    spawn("setpriv", [...drop(orphan), "setsid", "--fork", "sleep", "1000"], { stdio: "ignore" });
    // A build of this very process.
    const controller = new AbortController();
    const build_ = bed.build({
      command: "sleep 1000",
      buildUid: running,
      signal: controller.signal,
    });
    try {
      await waitUntil(
        async () =>
          (await processesOfUid(live)).length > 0 &&
          (await processesOfUid(orphan)).length > 0 &&
          (await processesOfUid(running)).length >= 3,
        "the processes to start",
        20_000,
        50,
      );
      const killed = await sweepOrphanedBuilds({ first, count: 3 });
      assert.equal(killed, 1);
      assert.deepEqual(await processesOfUid(orphan), []);
      assert.equal((await processesOfUid(live)).length, 1);
      assert.ok((await processesOfUid(running)).length >= 3);
    } finally {
      attached.kill("SIGKILL");
      controller.abort();
      await build_;
    }
  });

  it("kills `sleep 1000` at a 2 s limit, with nothing left behind", async () => {
    const uid = testUid();
    const started = Date.now();
    const { result } = await bed.build({ command: "sleep 1000", buildUid: uid, timeoutMs: 2000 });
    const elapsed = Date.now() - started;
    assert.equal(result.timedOut, true);
    assert.notEqual(result.exitCode, 0);
    assert.ok(elapsed >= 2000 && elapsed < 6000, `took ${elapsed} ms`);
    assert.deepEqual(await processesOfUid(uid), []);
  });

  it("kills processes that ignore SIGTERM or daemonize", async () => {
    const uid = testUid();
    const started = Date.now();
    const { result } = await bed.build({
      command: "setsid sh -c 'sleep 1000' & (trap '' TERM; while :; do sleep 1; done)",
      buildUid: uid,
      timeoutMs: 1500,
      killGraceMs: 1000,
    });
    const elapsed = Date.now() - started;
    assert.equal(result.timedOut, true);
    assert.ok(elapsed < 6000, `took ${elapsed} ms`);
    assert.deepEqual(await processesOfUid(uid), []);
  });

  it("cuts `yes` (which would write gigabytes) at the output cap, quickly", async () => {
    const uid = testUid();
    const started = Date.now();
    const cap = 2 * 1024 * 1024;
    const { result, lines } = await bed.build({
      command: "yes",
      buildUid: uid,
      maxOutputBytes: cap,
    });
    const elapsed = Date.now() - started;
    assert.equal(result.outputTruncated, true);
    assert.equal(result.timedOut, false);
    assert.equal(result.outputBytes, cap);
    assert.ok(elapsed < 15_000, `took ${elapsed} ms`);
    assert.match(lines.at(-1)?.line ?? "", /Output exceeded the limit/);
    assert.equal(lines.at(-1)?.stream, "system");
    assert.deepEqual(await processesOfUid(uid), []);
    assert.match(describeSandboxFailure(result) ?? "", /more output than allowed/);
  });

  it("returns a failing command's exit code and its last lines", async () => {
    const { result } = await bed.build({
      command: 'for i in $(seq 1 50); do echo "line $i"; done; echo "Error: boom" >&2; exit 3',
    });
    assert.equal(result.exitCode, 3);
    assert.equal(result.lastLines.length, 30);
    assert.equal(result.lastLines[0], "line 22");
    assert.equal(result.lastLines.at(-1), "Error: boom");
    const message = describeSandboxFailure(result) ?? "";
    assert.match(message, /exit code 3/);
    assert.match(message, /line 50\nError: boom$/);
  });

  it("enforces the file size limit", async () => {
    const { result, workDir } = await bed.build({
      command: "head -c 3000000 /dev/zero > big.bin",
      maxFileSizeBytes: 1024 * 1024,
    });
    assert.equal(result.exitCode, 128 + 25); // SIGXFSZ
    assert.ok((await stat(join(workDir, "big.bin"))).size <= 1024 * 1024);
    assert.match(describeSandboxFailure(result) ?? "", /file size limit/);
  });

  it("stops a cancelled build", async () => {
    const uid = testUid();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    const started = Date.now();
    const { result } = await bed.build({
      command: "sleep 1000",
      buildUid: uid,
      signal: controller.signal,
    });
    assert.equal(result.cancelled, true);
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(await processesOfUid(uid), []);
    assert.equal(describeSandboxFailure(result), "The build was cancelled.");
  });

  it("says how to fix a checkout the build user cannot reach", async () => {
    const closed = join(bed.root, "closed");
    await mkdir(join(closed, "work"), { recursive: true, mode: 0o700 });
    await chmod(closed, 0o700);
    await assert.rejects(
      runSandboxed({ command: "true", workDir: join(closed, "work") }),
      (e: unknown) => e instanceof SandboxConfigError && /0711/.test(e.message),
    );
  });
});

describe("without bubblewrap", () => {
  it("refuses to build and says how to install it", async () => {
    const workDir = await bed.newWorkDir();
    await assert.rejects(
      runSandboxed({ command: "true", workDir, bwrapPath: "/nonexistent/bwrap" }),
      (e: unknown) =>
        e instanceof SandboxUnavailableError &&
        e.message.includes("apt-get install bubblewrap") &&
        e.message.includes("SLIPWAY_UNSAFE_NO_SANDBOX=true"),
    );
  });

  it("runs unsandboxed only when explicitly allowed, still with a clean environment", async () => {
    const workDir = await bed.newWorkDir();
    process.env.SLIPWAY_TEST_PARENT_SECRET = "parent-secret-value";
    try {
      const lines: string[] = [];
      const result = await runSandboxed({
        command: "env; echo ok > out.txt; exit 4",
        workDir,
        bwrapPath: "/nonexistent/bwrap",
        unsafeNoSandbox: true,
        env: { SITE_VAR: "1" },
        onLine: (l) => lines.push(l.line),
      });
      assert.equal(result.sandboxed, false);
      assert.equal(result.exitCode, 4);
      assert.ok(lines.includes("SITE_VAR=1"));
      assert.ok(!lines.some((l) => l.includes("parent-secret-value")));
      assert.equal(await readFile(join(workDir, "out.txt"), "utf8"), "ok\n");
    } finally {
      delete process.env.SLIPWAY_TEST_PARENT_SECRET;
    }
  });

  it("kills an unsandboxed command at the time limit", async () => {
    const workDir = await bed.newWorkDir();
    const started = Date.now();
    const result = await runSandboxed({
      command: "sleep 1000",
      workDir,
      unsafeNoSandbox: true,
      timeoutMs: 1000,
      killGraceMs: 500,
    });
    assert.equal(result.timedOut, true);
    assert.ok(Date.now() - started < 5000);
  });
});
