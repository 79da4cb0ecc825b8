import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { PlatformConfig } from "../../src/config.ts";
import type { TestPausePoint } from "../../src/platform/builds/stage.ts";

/** A platform running in a child process (see `platform-child.ts`), killable with SIGKILL. */
export interface PlatformProcess {
  url: string;
  child: ChildProcess;
  /** `kill -9`, and wait until the process is gone. */
  kill(): Promise<void>;
}

const CHILD = fileURLToPath(new URL("./platform-child.ts", import.meta.url));

export async function startPlatformProcess(
  config: PlatformConfig & { masterKey: Buffer },
  options: {
    buildLeaseMs: number;
    logFile?: string;
    /** Holds every build at this point (SLIPWAY_TEST_PAUSE_AT, see `platform-child.ts`). */
    pauseAt?: TestPausePoint;
  },
): Promise<PlatformProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
    env: {
      ...process.env,
      SLIPWAY_TEST_PLATFORM: JSON.stringify({
        config: { ...config, masterKey: config.masterKey.toString("base64") },
        buildLeaseMs: options.buildLeaseMs,
      }),
      SLIPWAY_TEST_LOG: options.logFile ?? "/dev/null",
      ...(options.pauseAt !== undefined ? { SLIPWAY_TEST_PAUSE_AT: options.pauseAt } : {}),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(
      () => reject(new Error(`platform child did not start: ${stderr}`)),
      30_000,
    );
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      const match = /READY (\S+)\n/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`platform child exited (${code}): ${stderr}`));
    });
  });
  return {
    url,
    child,
    kill: async () => {
      child.kill("SIGKILL");
      await exited;
    },
  };
}
