import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { startTestForge } from "../../test/helpers/forge.ts";
import { loadConfig } from "../config.ts";
import { formatChecks, runDoctor, type Check } from "./doctor.ts";

const BIN = join(import.meta.dirname, "..", "..", "bin", "slipway.js");

const missing = ["/usr/bin/bwrap", "/usr/bin/slirp4netns", "/usr/sbin/nft"].filter(
  (path) => !existsSync(path),
);
const skipWhole =
  process.getuid?.() !== 0
    ? "slipway doctor passes only as root (builds with network need it)"
    : missing.length > 0
      ? `${missing.join(", ")} missing (scripts/setup.sh installs them)`
      : false;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** The environment of a Slipway on free ports with its data in `dataDir`. */
async function slipwayEnv(dataDir: string): Promise<Record<string, string>> {
  return {
    SLIPWAY_DATA_DIR: dataDir,
    SLIPWAY_PORT: String(await freePort()),
    SLIPWAY_FORGE_HTTP_PORT: String(await freePort()),
    SLIPWAY_FORGE_SSH_PORT: String(await freePort()),
  };
}

/** Runs `slipway doctor` for real, as a child process. */
async function doctor(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [BIN, "doctor"], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { code, out };
}

const named = (checks: Check[], name: string): Check => {
  const check = checks.find((c) => c.name === name);
  assert.ok(check, `no ${name} check`);
  return check;
};

describe("slipway doctor", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const newDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), "slipway-doctor-test-"));
    dirs.push(dir);
    return dir;
  };

  it("passes on a machine with everything installed", { skip: skipWhole }, async () => {
    const { code, out } = await doctor(await slipwayEnv(join(await newDir(), "data")));
    assert.equal(code, 0, out);
    for (const name of ["bwrap", "slirp4netns", "nft", "prlimit", "git", "ssh", "ssh-keygen"]) {
      assert.match(out, new RegExp(`^ok +${name} +/`, "m"), out);
    }
    assert.match(out, /^ok +sandbox +bwrap creates a sandbox$/m);
    assert.match(out, /^ok +platform port +127\.0\.0\.1:\d+ is free$/m);
    assert.doesNotMatch(out, /FAIL/);
  });

  it("fails when a tool is missing, naming the package to install", async () => {
    const config = loadConfig(await slipwayEnv(join(await newDir(), "data")));
    const checks = await runDoctor(config, {
      toolPaths: {
        bwrap: "/nonexistent/bwrap",
        nft: "/nonexistent/nft",
        "ssh-keygen": "/nonexistent/ssh-keygen",
      },
    });
    for (const [name, fix] of [
      ["bwrap", "apt-get install bubblewrap"],
      ["sandbox", "apt-get install bubblewrap"],
      ["nft", "apt-get install nftables"],
      ["ssh-keygen", "apt-get install openssh-client"],
    ] as const) {
      const check = named(checks, name);
      assert.equal(check.ok, false, name);
      assert.equal(check.fix, fix);
    }
    assert.equal(named(checks, "git").ok, true);
    const text = formatChecks(checks);
    assert.match(
      text,
      /^FAIL +nft +not installed \(firewalls builds' network\)\n +fix: apt-get install nftables$/m,
    );
    assert.match(text, /check\(s\) failed/);
  });

  it("names the chmod for a key file other users can read", async () => {
    const dataDir = join(await newDir(), "data");
    await mkdir(join(dataDir, "platform"), { recursive: true, mode: 0o700 });
    await mkdir(join(dataDir, "forge"), { recursive: true, mode: 0o700 });
    const key = join(dataDir, "platform", "master.key");
    await writeFile(key, "a key\n", { mode: 0o644 });
    await writeFile(join(dataDir, "forge", "root-token"), "a token\n", { mode: 0o600 });
    const { code, out } = await doctor(await slipwayEnv(dataDir));
    assert.equal(code, 1, out);
    assert.match(out, /^FAIL +key files +other users may read \S+master\.key \(mode 0644\)$/m);
    assert.ok(out.includes(`fix: chmod 600 ${key}\n`), out);
    assert.doesNotMatch(out, /root-token/);
  });

  it("fails for a port another program holds, naming its variable; a running Slipway's ports pass", async () => {
    const forge = await startTestForge();
    const other: Server = createServer();
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    try {
      const config = loadConfig({
        SLIPWAY_DATA_DIR: join(await newDir(), "data"),
        SLIPWAY_PORT: String((other.address() as { port: number }).port),
        SLIPWAY_FORGE_HTTP_PORT: new URL(forge.url).port,
        SLIPWAY_FORGE_SSH_PORT: String(forge.sshPort),
      });
      const checks = await runDoctor(config);
      const platform = named(checks, "platform port");
      assert.equal(platform.ok, false);
      assert.match(platform.detail, /in use by another program/);
      assert.match(platform.fix ?? "", /set SLIPWAY_PORT to a free port/);
      assert.match(named(checks, "forge HTTP port").detail, /is Slipway's/);
      assert.match(named(checks, "forge SSH port").detail, /is Slipway's/);
      assert.equal(named(checks, "forge SSH port").ok, true);
    } finally {
      other.close();
      await forge.stop();
    }
  });
});
