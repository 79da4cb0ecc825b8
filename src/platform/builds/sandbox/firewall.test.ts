import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { SandboxUnavailableError } from "./errors.ts";
import { buildFirewallRuleset } from "./firewall.ts";
import { runSandboxed } from "./run.ts";
import {
  sandboxSkip as skip,
  sandboxTestbed,
  slirpProcesses,
} from "../../../../test/helpers/sandbox-testbed.ts";

const bed = sandboxTestbed();

describe("the build's firewall", { skip }, () => {
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
    const workDir = await bed.newWorkDir();
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
      const { result, text } = await bed.build({
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

  it("never starts the command when its firewall cannot be installed", async () => {
    const { workDir } = await bed.build({ command: "true", network: false });
    await assert.rejects(
      runSandboxed({ command: "touch started", workDir, nftPath: "/bin/false", timeoutMs: 20_000 }),
      (e: unknown) => e instanceof SandboxUnavailableError && /firewall/.test(e.message),
    );
    assert.equal(existsSync(join(workDir, "started")), false);
    assert.deepEqual(await slirpProcesses(), []);
  });
});

describe("buildFirewallRuleset", () => {
  it("blocks the host's own addresses, public ones included, next to the private ranges", () => {
    const ruleset = buildFirewallRuleset({ ipv4: ["8.8.4.4"], ipv6: ["2001:4860::8844"] });
    const elements = (name: string): string[] =>
      (new RegExp(`set ${name} \\{[^}]*elements = \\{ ([^}]*) \\}`).exec(ruleset)?.[1] ?? "").split(
        ", ",
      );
    const expected: Record<string, string[]> = {
      platform_ipv4: ["8.8.4.4", "10.0.2.0/24", "127.0.0.0/8"],
      metadata_ipv4: ["169.254.0.0/16", "100.100.100.200/32"],
      private_ipv4: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"],
      reserved_ipv4: ["0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4", "203.0.113.0/24"],
      platform_ipv6: ["2001:4860::8844", "::1/128"],
      metadata_ipv6: ["fe80::/10"],
      private_ipv6: ["fc00::/7"],
    };
    for (const [set, ranges] of Object.entries(expected)) {
      for (const range of ranges) assert.ok(elements(set).includes(range), `${range} in ${set}`);
    }
    assert.match(ruleset, /^\s*oifname "lo" accept$/m);
    assert.match(
      ruleset,
      /^\s*ip daddr 10\.0\.2\.3 meta l4proto \{ tcp, udp \} th dport 53 accept$/m,
    );
    // The allowlist comes after the platform's and the metadata ranges, before the others.
    const order = ["@platform_ipv4", "@metadata_ipv4", "@allowed_ipv4", "@private_ipv4"].map(
      (name) => ruleset.indexOf(`ip daddr ${name}`),
    );
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      order,
    );
    assert.ok(!order.includes(-1), ruleset);
  });

  it("refuses anything but addresses (nothing can be smuggled into the ruleset)", () => {
    assert.throws(() => buildFirewallRuleset({ ipv4: ["1.2.3.4 } flush ruleset"], ipv6: [] }));
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
