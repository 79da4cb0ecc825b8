import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT_TOKEN } from "./forge.ts";
import { callJsonApi, type ApiResponse } from "./json-api.ts";

/** A test forge running in a child process (see `forge-child.ts`), killable with SIGKILL. */
export interface ForgeProcess {
  url: string;
  sshPort: number;
  /** Calls `/api/v4${path}` with a token (root's by default). */
  api<T = unknown>(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown },
  ): Promise<ApiResponse<T>>;
  /** `kill -9`, wait until the process is gone, and remove its data directory. */
  kill(): Promise<void>;
}

const CHILD = fileURLToPath(new URL("./forge-child.ts", import.meta.url));

export async function startForgeProcess(): Promise<ForgeProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), "slipway-forge-child-"));
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
    env: { ...process.env, SLIPWAY_TEST_FORGE_DIR: dataDir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const kill = async (): Promise<void> => {
    child.kill("SIGKILL");
    await exited;
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const ready = await new Promise<{ url: string; sshPort: number }>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(
        () => reject(new Error(`forge child did not start: ${stderr}`)),
        30_000,
      );
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8");
        const match = /READY (.+)\n/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve(JSON.parse(match[1]!) as { url: string; sshPort: number });
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`forge child exited (${code}): ${stderr}`));
      });
    });
    return {
      ...ready,
      api: (method, path, options = {}) =>
        callJsonApi(
          `${ready.url}/api/v4${path}`,
          method,
          { "private-token": options.token ?? ROOT_TOKEN },
          options.body,
        ),
      kill,
    };
  } catch (error) {
    await kill();
    throw error;
  }
}
