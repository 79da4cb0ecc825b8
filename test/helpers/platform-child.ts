import { createWriteStream } from "node:fs";
import { createLogger } from "../../src/lib/logger.ts";
import { startPlatform } from "../../src/platform/server.ts";
import type { PlatformConfig } from "../../src/config.ts";
import type { TestPausePoint } from "../../src/platform/builds/stage.ts";

/**
 * A platform in a child process, for tests that must kill it for real (`kill -9`). The config
 * arrives as JSON in SLIPWAY_TEST_PLATFORM (the master key as base64); the child prints
 * `READY <url>` once it listens, and logs to SLIPWAY_TEST_LOG. SLIPWAY_TEST_PAUSE_AT (`fetch`,
 * `upload` or `publish`), when set, holds every build there (`pauseForTest`: it logs "build paused
 * at …") so that a test can `kill -9` the process at that point.
 */
interface ChildInput {
  config: Omit<PlatformConfig, "masterKey"> & { masterKey: string };
  buildLeaseMs: number;
}

const PAUSE_POINTS: readonly TestPausePoint[] = ["fetch", "upload", "publish"];
const pauseAt = process.env.SLIPWAY_TEST_PAUSE_AT;
if (pauseAt !== undefined && !PAUSE_POINTS.includes(pauseAt as TestPausePoint)) {
  throw new Error(`SLIPWAY_TEST_PAUSE_AT must be one of ${PAUSE_POINTS.join(", ")}`);
}

const input = JSON.parse(process.env.SLIPWAY_TEST_PLATFORM ?? "{}") as ChildInput;
const destination = createWriteStream(process.env.SLIPWAY_TEST_LOG ?? "/dev/null", { flags: "a" });
const platform = await startPlatform(
  { ...input.config, masterKey: Buffer.from(input.config.masterKey, "base64") },
  createLogger({ name: "platform-child", level: "debug", destination }),
  {
    buildLeaseMs: input.buildLeaseMs,
    ...(pauseAt !== undefined ? { testPauseAt: pauseAt as TestPausePoint } : {}),
  },
);
process.stdout.write(`READY ${platform.url}\n`);
