import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { processesOfUid } from "./process.ts";
import {
  buildEnvironment,
  buildFirewallRuleset,
  describeSandboxFailure,
  runSandboxed,
  SandboxConfigError,
  SandboxUnavailableError,
  sweepOrphanedBuilds,
  type OutputLine,
  type SandboxOptions,
} from "./sandbox.ts";

const bwrapMissing = !existsSync("/usr/bin/bwrap") && !existsSync("/usr/local/bin/bwrap");
const notRoot = process.getuid?.() !== 0;
const skip = bwrapMissing
  ? "bubblewrap is not installed (apt-get install bubblewrap)"
  : notRoot
    ? "the sandbox tests check per-build uids and need root"
    : false;

let root: string;
let counter = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "slipway-sandbox-test-"));
  await chmod(root, 0o711); // the build uid must be able to reach its checkout
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function newWorkDir(): Promise<string> {
  const dir = join(root, `work-${++counter}`);
  await mkdir(dir);
  return dir;
}

/** A build uid of the test's own choosing, so the test can look for its processes. */
const testUid = (): number => 2_100_000_000 + Math.floor(Math.random() * 1_000_000);

/** slirp4netns processes this test process started (they run as the platform's user). */
async function slirpProcesses(): Promise<number[]> {
  const found: number[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
    if (
      /^Name:\s+slirp4netns$/m.test(status) &&
      /^PPid:\s+(\d+)$/m.exec(status)?.[1] === String(process.pid)
    ) {
      if (!/^State:\s+Z/m.test(status)) found.push(Number(pid));
    }
  }
  return found;
}

async function build(options: Partial<SandboxOptions> & { command: string }) {
  const lines: OutputLine[] = [];
  const workDir = options.workDir ?? (await newWorkDir());
  const result = await runSandboxed({
    timeoutMs: 20_000,
    killGraceMs: 1000,
    ...options,
    workDir,
    onLine: (line) => lines.push(line),
  });
  const text = lines.map((l) => l.line).join("\n");
  return { result, lines, text, workDir };
}

describe("runSandboxed", { skip }, () => {
  it("runs a normal build that writes dist/ in the checkout, streaming timestamped lines", async () => {
    const workDir = await newWorkDir();
    await writeFile(join(workDir, "src.txt"), "hello from the repo\n");
    const before = Date.now();
    const { result, lines } = await build({
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

  it("hides the platform's data dir, keys and environment; passes only the build's env", async () => {
    const dataDir = join(root, "data");
    await mkdir(join(dataDir, "keys"), { recursive: true });
    await writeFile(join(dataDir, "keys", "deploy-key"), "-----BEGIN OPENSSH PRIVATE KEY-----\n", {
      mode: 0o600,
    });
    await writeFile(join(dataDir, "platform.db"), "TOP-SECRET-DATABASE");
    process.env.SLIPWAY_TEST_PARENT_SECRET = "parent-secret-value";
    try {
      const { result, text } = await build({
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
    const running = build({ command: "sleep 1", env: { API_TOKEN: secret } });
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
    const toolchain = join(root, "toolchain");
    await mkdir(join(toolchain, "bin"), { recursive: true });
    await mkdir(join(toolchain, "slipway-data"), { recursive: true });
    await writeFile(join(toolchain, "bin", "tool"), "tool-is-visible\n");
    await writeFile(join(toolchain, "slipway-data", "secret"), "HIDDEN-SECRET\n");
    await writeFile(join(toolchain, "master.key"), "HIDDEN-KEY\n");
    const { result, text } = await build({
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
      build({ command: "true", hidePaths: ["/"] }),
      (e: unknown) => e instanceof SandboxConfigError && /the sandbox needs/.test(e.message),
    );
  });

  it("cannot write outside the checkout, gain privileges or nest namespaces", async () => {
    const marker = `slipway-escape-${process.pid}-${Date.now()}`;
    const { result, text, workDir } = await build({
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
    for (const dir of ["/usr", "/etc", "/", "/home", "/var", root, tmpdir()]) {
      assert.equal(existsSync(join(dir, marker)), false, `${dir}/${marker} exists on the host`);
    }
    assert.equal(await readFile(join(workDir, "inside.txt"), "utf8"), "inside\n");
  });

  it("contains a fork bomb within the process limit and ends it at the time limit", async () => {
    const uid = testUid();
    let peak = 0;
    const sampler = setInterval(() => {
      void processesOfUid(uid).then((p) => (peak = Math.max(peak, p.length)));
    }, 50);
    const started = Date.now();
    const { result } = await build({
      command: "bash -c ':(){ :|:& };:'; sleep 1000",
      buildUid: uid,
      maxProcesses: 64,
      timeoutMs: 2000,
      killGraceMs: 500,
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
    const workDir = await newWorkDir();
    const script =
      `import { runSandboxed } from ${JSON.stringify(new URL("./sandbox.ts", import.meta.url).pathname)};` +
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
      const deadline = Date.now() + 30_000;
      while ((await processesOfUid(uid)).length < 3) {
        assert.ok(Date.now() < deadline, "the build never started");
        await new Promise((r) => setTimeout(r, 50));
      }
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
    const build_ = build({ command: "sleep 1000", buildUid: running, signal: controller.signal });
    try {
      const deadline = Date.now() + 20_000;
      while (
        (await processesOfUid(live)).length === 0 ||
        (await processesOfUid(orphan)).length === 0 ||
        (await processesOfUid(running)).length < 3
      ) {
        assert.ok(Date.now() < deadline, "the processes never started");
        await new Promise((r) => setTimeout(r, 50));
      }
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
    const { result } = await build({ command: "sleep 1000", buildUid: uid, timeoutMs: 2000 });
    const elapsed = Date.now() - started;
    assert.equal(result.timedOut, true);
    assert.notEqual(result.exitCode, 0);
    assert.ok(elapsed >= 2000 && elapsed < 6000, `took ${elapsed} ms`);
    assert.deepEqual(await processesOfUid(uid), []);
  });

  it("kills processes that ignore SIGTERM or daemonize", async () => {
    const uid = testUid();
    const started = Date.now();
    const { result } = await build({
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
    const { result, lines } = await build({ command: "yes", buildUid: uid, maxOutputBytes: cap });
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
    const { result } = await build({
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
    const { result, workDir } = await build({
      command: "head -c 3000000 /dev/zero > big.bin",
      maxFileSizeBytes: 1024 * 1024,
    });
    assert.equal(result.exitCode, 128 + 25); // SIGXFSZ
    assert.ok((await stat(join(workDir, "big.bin"))).size <= 1024 * 1024);
    assert.match(describeSandboxFailure(result) ?? "", /file size limit/);
  });

  it("gives the build a network of its own: the host's loopback and services stay out of reach", async () => {
    const server: Server = createServer((socket) => socket.end("hello-from-host\n"));
    await new Promise<void>((r) => server.listen(0, "0.0.0.0", r));
    const port = (server.address() as { port: number }).port;
    const connect = (host: string): string =>
      `timeout 5 bash -c 'exec 3<>/dev/tcp/${host}/${port} && cat <&3' 2>/dev/null || echo "no ${host}"`;
    const probe = [
      "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
      "cat /etc/resolv.conf",
      connect("127.0.0.1"),
      connect("10.0.2.2"),
      // The build's own loopback works: a listener and a client inside.
      `node -e 'const s=require("net").createServer(c=>c.end("inner-ok")).listen(0,"127.0.0.1",()=>require("net").connect(s.address().port,"127.0.0.1").on("data",d=>{console.log(String(d));process.exit(0)}))'`,
    ].join("; ");
    try {
      const online = await build({ command: probe });
      assert.equal(online.result.exitCode, 0, online.text);
      assert.match(online.text, /^tap0$/m);
      assert.match(online.text, /^nameserver 10\.0\.2\.3$/m);
      assert.match(online.text, /^no 127\.0\.0\.1$/m);
      assert.match(online.text, /^no 10\.0\.2\.2$/m);
      assert.match(online.text, /^inner-ok$/m);
      assert.doesNotMatch(online.text, /hello-from-host/);
      assert.deepEqual(await slirpProcesses(), []);

      const offline = await build({ command: probe, network: false });
      assert.equal(offline.result.exitCode, 0, offline.text);
      assert.deepEqual(
        offline.text.split("\n").filter((l) => /^[a-z0-9]+$/.test(l)),
        ["lo"],
        offline.text,
      );
      assert.match(offline.text, /^inner-ok$/m);
      assert.doesNotMatch(offline.text, /hello-from-host/);
    } finally {
      server.close();
    }
  });

  it("firewalls the build's network: host addresses, 10.0.2.0/24, metadata and private networks refuse at once; DNS and lo work", async () => {
    const hostAddress = Object.values(networkInterfaces())
      .flat()
      .find((a) => a !== undefined && a.family === "IPv4" && !a.internal)?.address;
    let accepted = 0;
    const server: Server = createServer((socket) => {
      accepted++;
      socket.end("hello-from-host\n");
    });
    await new Promise<void>((r) => server.listen(0, "0.0.0.0", r));
    const port = (server.address() as { port: number }).port;
    const targets = [
      ...(hostAddress !== undefined ? [`${hostAddress}:${port}`] : []),
      `10.0.2.2:${port}`,
      "10.0.2.3:80", // slirp's DNS address, but not its DNS port
      "169.254.169.254:80",
      "192.168.77.1:80",
      "172.16.0.1:443",
      "100.64.0.1:80",
    ];
    const workDir = await newWorkDir();
    await writeFile(join(workDir, "probe.cjs"), NETWORK_PROBE);
    const probe = `node probe.cjs ${targets.join(" ")}`;
    // What a build might try against its firewall: all of it needs CAP_NET_ADMIN.
    const tamper = [
      "nft flush ruleset 2>&1 || echo 'tamper nft failed'",
      "ip link set tap0 down 2>&1 || echo 'tamper ip failed'",
      "ip route del default 2>&1 || echo 'tamper route failed'",
    ].join("; ");
    const haveTools = existsSync("/usr/sbin/nft") && existsSync("/usr/sbin/ip");
    try {
      const { result, text } = await build({
        command: haveTools ? `${probe}; ${tamper}; ${probe}` : probe,
        workDir,
      });
      assert.equal(result.exitCode, 0, text);
      assert.equal(result.timedOut, false, text);
      const runs = haveTools ? 2 : 1;
      for (const target of targets) {
        // Refused by our rules: a TCP reset before any answer, never a time-out or data.
        const outcomes = text.match(
          new RegExp(`^tcp ${target.replace(/\./g, "\\.")} (\\S+)$`, "gm"),
        );
        assert.deepEqual(
          outcomes,
          Array.from({ length: runs }, () => `tcp ${target} ECONNREFUSED`),
          text,
        );
      }
      // UDP has no reset: the kernel refuses the send itself (EPERM from the netfilter hook),
      // except DNS to slirp's forwarder.
      assert.match(text, /^udp 10\.0\.2\.3:53 sent$/m);
      assert.match(text, /^udp 10\.0\.2\.2:53 EPERM$/m);
      assert.match(text, /^udp 169\.254\.169\.254:53 EPERM$/m);
      assert.match(text, /^loopback ok$/m);
      assert.doesNotMatch(text, /hello-from-host/);
      assert.equal(accepted, 0);
      if (haveTools) {
        for (const tool of ["nft", "ip", "route"]) {
          assert.match(text, new RegExp(`^tamper ${tool} failed$`, "m"), text);
        }
        assert.match(text, /Operation not permitted/);
      }
    } finally {
      server.close();
    }
  });

  it("refuses a build with network when slirp4netns or nft is missing, and says how to fix it", async () => {
    const workDir = await newWorkDir();
    await assert.rejects(
      runSandboxed({ command: "true", workDir, slirp4netnsPath: "/nonexistent/slirp4netns" }),
      (e: unknown) =>
        e instanceof SandboxUnavailableError &&
        e.message.includes("apt-get install slirp4netns") &&
        e.message.includes("turn the site's build network off"),
    );
    await assert.rejects(
      runSandboxed({ command: "true", workDir, nftPath: "/nonexistent/nft" }),
      (e: unknown) =>
        e instanceof SandboxUnavailableError &&
        e.message.includes("apt-get install nftables") &&
        e.message.includes("turn the site's build network off"),
    );
    // Without network neither is needed.
    const offline = await runSandboxed({
      command: "true",
      workDir,
      network: false,
      slirp4netnsPath: "/nonexistent/slirp4netns",
      nftPath: "/nonexistent/nft",
    });
    assert.equal(offline.exitCode, 0);
  });

  it("never starts the command when its firewall cannot be installed", async () => {
    const { workDir } = await build({ command: "true", network: false });
    await assert.rejects(
      runSandboxed({ command: "touch started", workDir, nftPath: "/bin/false", timeoutMs: 20_000 }),
      (e: unknown) => e instanceof SandboxUnavailableError && /firewall/.test(e.message),
    );
    assert.equal(existsSync(join(workDir, "started")), false);
    assert.deepEqual(await slirpProcesses(), []);
  });

  it("stops slirp4netns with the build on every path: failure, time limit, cancel", async () => {
    const failed = await build({ command: "exit 7" });
    assert.equal(failed.result.exitCode, 7);
    assert.deepEqual(await slirpProcesses(), []);
    const timedOut = await build({ command: "sleep 1000", timeoutMs: 1500, killGraceMs: 500 });
    assert.equal(timedOut.result.timedOut, true);
    assert.deepEqual(await slirpProcesses(), []);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    const cancelled = await build({ command: "sleep 1000", signal: controller.signal });
    assert.equal(cancelled.result.cancelled, true);
    assert.deepEqual(await slirpProcesses(), []);
  });

  it("stops a cancelled build", async () => {
    const uid = testUid();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    const started = Date.now();
    const { result } = await build({
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
    const closed = join(root, "closed");
    await mkdir(join(closed, "work"), { recursive: true, mode: 0o700 });
    await chmod(closed, 0o700);
    await assert.rejects(
      runSandboxed({ command: "true", workDir: join(closed, "work") }),
      (e: unknown) => e instanceof SandboxConfigError && /0711/.test(e.message),
    );
  });
});

/**
 * Run inside a build: `node probe.cjs host:port…`. For each target, a TCP connect (its error
 * code, DATA, or TIMEOUT after 5 s); then UDP sends; then a server and client on the build's own
 * loopback.
 */
const NETWORK_PROBE = `
const net = require("net");
const dgram = require("dgram");
const tcp = (target) => new Promise((resolve) => {
  const [host, port] = target.split(":");
  const socket = net.connect(Number(port), host);
  const timer = setTimeout(() => { socket.destroy(); resolve("TIMEOUT"); }, 5000);
  socket.on("data", (d) => { clearTimeout(timer); socket.destroy(); resolve("DATA:" + String(d).trim()); });
  socket.on("connect", () => setTimeout(() => { clearTimeout(timer); socket.destroy(); resolve("CONNECTED"); }, 500));
  socket.on("error", (e) => { clearTimeout(timer); resolve(e.code); });
});
const udp = (host) => new Promise((resolve) => {
  const socket = dgram.createSocket("udp4");
  socket.send(Buffer.from("probe"), 53, host, (e) => { socket.close(); resolve(e ? e.code : "sent"); });
});
(async () => {
  for (const target of process.argv.slice(2)) console.log("tcp " + target + " " + (await tcp(target)));
  for (const host of ["10.0.2.3", "10.0.2.2", "169.254.169.254"]) console.log("udp " + host + ":53 " + (await udp(host)));
  const server = net.createServer((c) => c.end("ok")).listen(0, "127.0.0.1", () => {
    net.connect(server.address().port, "127.0.0.1").on("data", (d) => { console.log("loopback " + d); server.close(); process.exit(0); });
  });
})();
`;

describe("without bubblewrap", () => {
  it("refuses to build and says how to install it", async () => {
    const workDir = await newWorkDir();
    await assert.rejects(
      runSandboxed({ command: "true", workDir, bwrapPath: "/nonexistent/bwrap" }),
      (e: unknown) =>
        e instanceof SandboxUnavailableError &&
        e.message.includes("apt-get install bubblewrap") &&
        e.message.includes("SLIPWAY_UNSAFE_NO_SANDBOX=true"),
    );
  });

  it("runs unsandboxed only when explicitly allowed, still with a clean environment", async () => {
    const workDir = await newWorkDir();
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
    const workDir = await newWorkDir();
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

describe("buildFirewallRuleset", () => {
  it("blocks the host's own addresses, public ones included, next to the private ranges", () => {
    const ruleset = buildFirewallRuleset({ ipv4: ["8.8.4.4"], ipv6: ["2001:4860::8844"] });
    const ipv4 = /set blocked_ipv4 \{[^}]*elements = \{ ([^}]*) \}/.exec(ruleset)?.[1] ?? "";
    const ipv6 = /set blocked_ipv6 \{[^}]*elements = \{ ([^}]*) \}/.exec(ruleset)?.[1] ?? "";
    for (const range of [
      "8.8.4.4",
      "10.0.2.0/24",
      "10.0.0.0/8",
      "169.254.0.0/16",
      "172.16.0.0/12",
    ]) {
      assert.ok(ipv4.split(", ").includes(range), `${range} in ${ipv4}`);
    }
    for (const range of [
      "192.168.0.0/16",
      "100.64.0.0/10",
      "0.0.0.0/8",
      "224.0.0.0/4",
      "240.0.0.0/4",
    ]) {
      assert.ok(ipv4.split(", ").includes(range), `${range} in ${ipv4}`);
    }
    for (const range of ["2001:4860::8844", "::1/128", "fc00::/7", "fe80::/10"]) {
      assert.ok(ipv6.split(", ").includes(range), `${range} in ${ipv6}`);
    }
    assert.match(ruleset, /^\s*oifname "lo" accept$/m);
    assert.match(
      ruleset,
      /^\s*ip daddr 10\.0\.2\.3 meta l4proto \{ tcp, udp \} th dport 53 accept$/m,
    );
  });

  it("refuses anything but addresses (nothing can be smuggled into the ruleset)", () => {
    assert.throws(() => buildFirewallRuleset({ ipv4: ["1.2.3.4 } flush ruleset"], ipv6: [] }));
  });
});

describe("buildEnvironment", () => {
  it("starts from nothing and adds Netlify's variables and the site's own", () => {
    const env = buildEnvironment({
      env: { NODE_VERSION: "20" },
      netlify: { context: "deploy-preview", branch: "feat/x", commitRef: "f00", pullRequest: true },
    });
    assert.equal(env.CI, "true");
    assert.equal(env.NETLIFY, "true");
    assert.equal(env.CONTEXT, "deploy-preview");
    assert.equal(env.BRANCH, "feat/x");
    assert.equal(env.HEAD, "feat/x");
    assert.equal(env.COMMIT_REF, "f00");
    assert.equal(env.PULL_REQUEST, "true");
    assert.equal(env.NODE_VERSION, "20");
    assert.equal(env.NODE_EXTRA_CA_CERTS, undefined);
    assert.equal(env.DEPLOY_ID, undefined);
  });

  it("rejects invalid names and NUL bytes (which could smuggle sandbox options)", () => {
    assert.throws(() => buildEnvironment({ env: { "A=B": "x" } }), SandboxConfigError);
    assert.throws(() => buildEnvironment({ env: { "1X": "x" } }), SandboxConfigError);
    assert.throws(() => buildEnvironment({ env: { X: "a\0--bind\0/\0/" } }), SandboxConfigError);
  });
});
