import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { waitUntil } from "../../test/helpers/wait.ts";

const BIN = join(import.meta.dirname, "..", "..", "bin", "slipway.js");

/** Whether `url` answers with a 2xx status; false while nothing listens there. */
const answersOk = (url: string): Promise<boolean> =>
  fetch(url).then(
    (r) => r.ok,
    () => false,
  );

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
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    // Not the fixed 8443: tests run side by side.
    SLIPWAY_HTTPS_PORT: "0",
    ...extra,
  };
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

    await waitUntil(
      () => answersOk(`http://127.0.0.1:${httpPort}/healthz`),
      () => `the forge to become healthy; output: ${stdout}`,
      30_000,
      100,
    );

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

  /** Runs `slipway <command>` and waits until every URL answers; returns its output so far. */
  async function startCli(
    command: string,
    env: Record<string, string>,
    healthUrls: string[],
  ): Promise<{
    child: ReturnType<typeof spawn>;
    stdout: () => string;
    exited: Promise<number | null>;
  }> {
    const child = spawn(process.execPath, [BIN, command], {
      env: childEnv({ SLIPWAY_LOG_LEVEL: "warn", ...env }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    let running = true;
    const exited = new Promise<number | null>((resolve) =>
      child.on("exit", (code) => {
        running = false;
        resolve(code);
      }),
    );
    for (const url of healthUrls) {
      await waitUntil(
        () => {
          if (!running) throw new Error(`slipway ${command} exited; output: ${stdout} ${stderr}`);
          return answersOk(url);
        },
        () => `${url} to become healthy; output: ${stdout} ${stderr}`,
        30_000,
        100,
      );
    }
    return { child, stdout: () => stdout, exited };
  }

  it("`slipway platform` starts the platform alone, prints its admin token once, and stops on SIGTERM", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "slipway-cli-"));
    dirs.push(dataDir);
    const port = await freePort();
    const run = await startCli(
      "platform",
      { SLIPWAY_DATA_DIR: dataDir, SLIPWAY_PORT: String(port) },
      [`http://127.0.0.1:${port}/healthz`],
    );
    const token = (await readFile(join(dataDir, "platform", "admin-token"), "utf8")).trim();
    assert.match(token, /^slp_/);
    assert.ok(run.stdout().includes(token), "the generated token is printed once");
    assert.ok(run.stdout().includes(`http://127.0.0.1:${port}/api/v1`));
    // Where the dashboard is, and the administrator's first password (also in a 0600 file).
    const password = (await readFile(join(dataDir, "platform", "admin-password"), "utf8")).trim();
    assert.ok(run.stdout().includes(`Slipway dashboard              http://127.0.0.1:${port}/`));
    assert.ok(
      run
        .stdout()
        .includes(`Sign in to the dashboard at http://127.0.0.1:${port}/ as admin@localhost`),
    );
    assert.ok(run.stdout().includes(`\n  ${password}\n`), "the first password is printed once");
    assert.equal((await stat(join(dataDir, "platform", "master.key"))).mode & 0o777, 0o600);
    const me = await fetch(`http://127.0.0.1:${port}/api/v1/user`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(((await me.json()) as { email: string }).email, "admin@localhost");
    run.child.kill("SIGTERM");
    assert.equal(await run.exited, 0);
  });

  it("`slipway start` starts the forge and the platform, and lets sites link the forge's address", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "slipway-cli-"));
    dirs.push(dataDir);
    const [port, httpPort, sshPort] = [await freePort(), await freePort(), await freePort()];
    const adminToken = "slp_cli-test-admin-token-0123456789";
    const run = await startCli(
      "start",
      {
        SLIPWAY_DATA_DIR: dataDir,
        SLIPWAY_PORT: String(port),
        SLIPWAY_FORGE_HTTP_PORT: String(httpPort),
        SLIPWAY_FORGE_SSH_PORT: String(sshPort),
        SLIPWAY_ADMIN_TOKEN: adminToken,
      },
      [`http://127.0.0.1:${httpPort}/healthz`, `http://127.0.0.1:${port}/healthz`],
    );
    const link = async (repoUrl: string): Promise<number> => {
      const response = await fetch(`http://127.0.0.1:${port}/api/v1/sites`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ repo: { repo_url: repoUrl } }),
      });
      return response.status;
    };
    assert.equal(
      await link(`ssh://git@127.0.0.1:${sshPort}/root/site.git`),
      201,
      "the forge's SSH address",
    );
    assert.equal(await link(`git@127.0.0.1:root/other.git`), 422, "port 22 is not the forge's");
    assert.equal(
      await link("ssh://git@127.0.0.1:1/root/site.git"),
      422,
      "other local ports stay refused",
    );
    assert.ok(!run.stdout().includes(adminToken), "a configured token is not printed");
    run.child.kill("SIGTERM");
    assert.equal(await run.exited, 0);
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

  it("refuses `slipway worker` without a shared database, where no platform node could reach it", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "slipway-cli-"));
    dirs.push(dataDir);
    const child = spawn(process.execPath, [BIN, "worker"], {
      env: childEnv({ SLIPWAY_DATA_DIR: dataDir }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 78);
    assert.match(stderr, /`slipway worker` needs SLIPWAY_DATABASE_URL/);
  });
});
