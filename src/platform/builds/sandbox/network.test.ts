import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { describe, it } from "node:test";
import { SandboxUnavailableError } from "./errors.ts";
import { runSandboxed } from "./run.ts";
import {
  sandboxSkip as skip,
  sandboxTestbed,
  slirpProcesses,
} from "../../../../test/helpers/sandbox-testbed.ts";

const bed = sandboxTestbed();

describe("the build's network", { skip }, () => {
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
      const online = await bed.build({ command: probe });
      assert.equal(online.result.exitCode, 0, online.text);
      assert.match(online.text, /^tap0$/m);
      assert.match(online.text, /^nameserver 10\.0\.2\.3$/m);
      assert.match(online.text, /^no 127\.0\.0\.1$/m);
      assert.match(online.text, /^no 10\.0\.2\.2$/m);
      assert.match(online.text, /^inner-ok$/m);
      assert.doesNotMatch(online.text, /hello-from-host/);
      assert.deepEqual(await slirpProcesses(), []);

      const offline = await bed.build({ command: probe, network: false });
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

  it("refuses a build with network when slirp4netns or nft is missing, and says how to fix it", async () => {
    const workDir = await bed.newWorkDir();
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

  it("stops slirp4netns with the build on every path: failure, time limit, cancel", async () => {
    const failed = await bed.build({ command: "exit 7" });
    assert.equal(failed.result.exitCode, 7);
    assert.deepEqual(await slirpProcesses(), []);
    const timedOut = await bed.build({ command: "sleep 1000", timeoutMs: 1500, killGraceMs: 500 });
    assert.equal(timedOut.result.timedOut, true);
    assert.deepEqual(await slirpProcesses(), []);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    const cancelled = await bed.build({ command: "sleep 1000", signal: controller.signal });
    assert.equal(cancelled.result.cancelled, true);
    assert.deepEqual(await slirpProcesses(), []);
  });
});
