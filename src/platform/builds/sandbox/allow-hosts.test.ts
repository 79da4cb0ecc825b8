import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { before, describe, it } from "node:test";
import { neverReachedBy, parseAllowEntry, parseAllowHosts } from "../../../lib/allow-ranges.ts";
import { resolveAllowHosts } from "./allow-hosts.ts";
import { parseRefusals } from "./refusals.ts";
import { sandboxSkip as skip, sandboxTestbed } from "../../../../test/helpers/sandbox-testbed.ts";

const bed = sandboxTestbed();

/** One TCP connect per target, its outcome on a line: `tcp <target> <code|CONNECTED>`. */
const PROBE = `
const net = require("net");
(async () => {
  for (const target of process.argv.slice(1)) {
    const [host, port] = target.split(":");
    const outcome = await new Promise((resolve) => {
      const socket = net.connect(Number(port), host);
      const timer = setTimeout(() => { socket.destroy(); resolve("TIMEOUT"); }, 5000);
      socket.on("connect", () => { clearTimeout(timer); socket.destroy(); resolve("CONNECTED"); });
      socket.on("error", (e) => { clearTimeout(timer); resolve(e.code); });
    });
    console.log("tcp " + target + " " + outcome);
  }
})();
`;
const probe = (...targets: string[]): string =>
  `node -e '${PROBE.replace(/'/g, "'\\''")}' ${targets.join(" ")}`;

describe("the build firewall's refusals, in the build's log", { skip }, () => {
  it("says which address was refused, by which rule, and which setting allows it", async () => {
    const hostAddress = Object.values(networkInterfaces())
      .flat()
      .find((a) => a !== undefined && a.family === "IPv4" && !a.internal)?.address;
    const { result, text } = await bed.build({
      command: probe(
        "192.168.77.1:80",
        "198.51.100.7:443",
        "169.254.169.254:80",
        ...(hostAddress !== undefined ? [`${hostAddress}:22`] : []),
      ),
      // Listed, and still refused: the metadata ranges and the platform's own addresses.
      allowHosts: parseAllowHosts(`169.254.0.0/16 ${hostAddress ?? ""}`),
    });
    assert.equal(result.exitCode, 0, text);
    assert.match(text, /^tcp 192\.168\.77\.1:80 ECONNREFUSED$/m);
    assert.match(
      text,
      /^The build's firewall refused a connection to 192\.168\.77\.1:80: it is a private range, which builds may not reach unless the platform's operator lists it .* in SLIPWAY_BUILD_ALLOW_HOSTS/m,
    );
    assert.match(
      text,
      /^The build's firewall refused a connection to 198\.51\.100\.7:443: it is a documentation\/reserved range, .*SLIPWAY_BUILD_ALLOW_HOSTS/m,
    );
    assert.match(
      text,
      /^The build's firewall refused a connection to 169\.254\.169\.254:80: it is a cloud metadata \/ link-local range, which builds never reach\.$/m,
    );
    if (hostAddress !== undefined) {
      assert.match(
        text,
        new RegExp(
          `^The build's firewall refused a connection to ${hostAddress.replace(/\./g, "\\.")}:22: it is the platform's own address, which builds never reach\\.$`,
          "m",
        ),
      );
    }
  });

  it("lets an allowed range through (the connection is no longer refused by Slipway)", async () => {
    // 192.0.2.0/24 leads nowhere: let through, the connection times out or fails beyond us.
    const { text } = await bed.build({
      command: probe("192.0.2.10:81"),
      allowHosts: parseAllowHosts("192.0.2.0/24"),
    });
    assert.doesNotMatch(text, /firewall refused/, text);
    assert.doesNotMatch(text, /^tcp 192\.0\.2\.10:81 ECONNREFUSED$/m, text);
  });
});

const npmCli = "/usr/bin/npm";
let registryReachable: string | false = "npm is not installed";

describe("installing from the configured registry", { skip }, () => {
  before(async () => {
    if (!existsSync(npmCli)) return;
    // CI machines are like this one: the registry is reachable from the host (maybe through a
    // documentation range); elsewhere these cases are skipped.
    registryReachable = await promisify(execFile)(npmCli, ["view", "is-number", "version"], {
      timeout: 30_000,
    }).then(
      () => false,
      () => "the npm registry is not reachable from this machine",
    );
  });

  const registry = (): string => process.env.npm_config_registry ?? "https://registry.npmjs.org/";
  const install = "npm install --no-audit --no-fund --fetch-retries=0 is-number@7.0.0";

  it("installs a package with the registry's host in SLIPWAY_BUILD_ALLOW_HOSTS", async (t) => {
    if (registryReachable !== false) return t.skip(registryReachable);
    const { result, text, workDir } = await bed.build({
      command: install,
      timeoutMs: 120_000,
      allowHosts: parseAllowHosts(new URL(registry()).hostname),
      packages: { npmRegistry: registry(), caFile: process.env.NODE_EXTRA_CA_CERTS },
    });
    assert.equal(result.exitCode, 0, text);
    const installed = JSON.parse(
      await readFile(join(workDir, "node_modules/is-number/package.json"), "utf8"),
    ) as { version: string };
    assert.equal(installed.version, "7.0.0");
  });

  it("without it, a registry in a refused range fails the install with Slipway's message", async (t) => {
    if (registryReachable !== false) return t.skip(registryReachable);
    const host = new URL(registry()).hostname;
    const addresses = await resolveAllowHosts(parseAllowHosts(host));
    const inRefusedRange = [...addresses.ipv4].some((a) =>
      /^(10|127|192\.168|172\.(1[6-9]|2\d|3[01])|192\.0\.2|198\.51\.100|203\.0\.113|100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7]))\./.test(
        a,
      ),
    );
    if (!inRefusedRange) return t.skip(`${host} resolves to public addresses here`);
    const { result, text } = await bed.build({
      command: install,
      timeoutMs: 120_000,
      packages: { npmRegistry: registry(), caFile: process.env.NODE_EXTRA_CA_CERTS },
    });
    assert.notEqual(result.exitCode, 0, text);
    assert.match(
      text,
      new RegExp(
        `^The build's firewall refused a connection to ${addresses.ipv4[0]!.replace(/\./g, "\\.")}:443: it is (a private range|a documentation/reserved range).*SLIPWAY_BUILD_ALLOW_HOSTS`,
        "m",
      ),
    );
  });
});

describe("SLIPWAY_BUILD_ALLOW_HOSTS entries", () => {
  it("takes host names, addresses and CIDR ranges, and nothing else", () => {
    assert.deepEqual(parseAllowHosts("Registry.Example.com., 10.1.0.0/16 fd12::/64 10.2.3.4"), [
      { kind: "host", name: "registry.example.com" },
      { kind: "range", family: 4, text: "10.1.0.0/16" },
      { kind: "range", family: 6, text: "fd12::/64" },
      { kind: "range", family: 4, text: "10.2.3.4" },
    ]);
    for (const bad of ["10.0.0.0/33", "-bad.example", "a b}", "10.0.0.0/8/1", "http://x"]) {
      assert.throws(() => parseAllowEntry(bad), /neither a host name/, bad);
    }
  });

  it("knows which ranges can never be let through", () => {
    assert.equal(neverReachedBy("169.254.169.254", 4), "metadata");
    assert.equal(neverReachedBy("100.100.100.200", 4), "metadata");
    assert.equal(neverReachedBy("127.0.0.0/16", 4), "platform");
    assert.equal(neverReachedBy("10.0.2.2", 4), "platform");
    assert.equal(neverReachedBy("10.0.0.0/8", 4), null); // wider: allowed, with the carve-out
    assert.equal(neverReachedBy("203.0.113.0/24", 4), null);
    assert.equal(neverReachedBy("fd00:ec2::254", 6), "metadata");
  });

  it("reads the firewall's record of refusals", () => {
    assert.deepEqual(
      parseRefusals({
        nftables: [
          { set: { name: "refused_private_ipv4", elem: [{ concat: ["10.1.2.3", 443] }] } },
          {
            set: {
              name: "refused_reserved_ipv6",
              elem: [{ elem: { val: { concat: ["ff02::1", 53] } } }],
            },
          },
          { set: { name: "private_ipv4", elem: ["10.0.0.0"] } },
        ],
      }),
      [
        { rule: "private", address: "10.1.2.3", port: 443 },
        { rule: "reserved", address: "ff02::1", port: 53 },
      ],
    );
  });
});
