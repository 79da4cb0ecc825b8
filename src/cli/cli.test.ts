import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";

const BIN = join(import.meta.dirname, "..", "..", "bin", "slipway.js");

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
  return env;
}

describe("slipway CLI", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("starts the forge, answers /healthz, prints the generated root token once, and stops on SIGTERM", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "slipway-cli-"));
    dirs.push(dataDir);
    const [httpPort, sshPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, [BIN, "forge"], {
      env: childEnv({
        SLIPWAY_DATA_DIR: dataDir,
        SLIPWAY_FORGE_HTTP_PORT: String(httpPort),
        SLIPWAY_FORGE_SSH_PORT: String(sshPort),
        SLIPWAY_LOG_LEVEL: "warn",
      }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.on("exit", (code) => resolve(code)),
    );

    const deadline = Date.now() + 30_000;
    let healthy = false;
    while (!healthy && Date.now() < deadline) {
      healthy = await fetch(`http://127.0.0.1:${httpPort}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (!healthy) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(healthy, `forge did not become healthy; output: ${stdout}`);

    const token = (await readFile(join(dataDir, "forge", "root-token"), "utf8")).trim();
    assert.match(token, /^glpat-/);
    assert.ok(stdout.includes(token), "the generated token is printed once");
    assert.equal((await stat(join(dataDir, "forge", "root-token"))).mode & 0o777, 0o600);
    const me = await fetch(`http://127.0.0.1:${httpPort}/api/v4/user`, {
      headers: { "private-token": token },
    });
    assert.equal(((await me.json()) as { username: string }).username, "root");

    child.kill("SIGTERM");
    assert.equal(await exited, 0);
  });

  it("refuses a bad configuration with a message naming the variable", async () => {
    const child = spawn(process.execPath, [BIN, "forge"], {
      env: childEnv({ SLIPWAY_FORGE_HTTP_PORT: "not-a-port" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 78);
    assert.match(stderr, /SLIPWAY_FORGE_HTTP_PORT="not-a-port" is not a TCP port/);
  });
});
