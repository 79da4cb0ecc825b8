import { createWriteStream } from "node:fs";
import { createLogger } from "../../src/lib/logger.ts";
import { startPlatform } from "../../src/platform/server.ts";
import type { PlatformConfig } from "../../src/config.ts";

/**
 * A platform in a child process, for tests that must kill it for real (`kill -9`). The config
 * arrives as JSON in SLIPWAY_TEST_PLATFORM (the master key as base64); the child prints
 * `READY <url>` once it listens, and logs to SLIPWAY_TEST_LOG.
 */
interface ChildInput {
  config: Omit<PlatformConfig, "masterKey"> & { masterKey: string };
  buildLeaseMs: number;
}

const input = JSON.parse(process.env.SLIPWAY_TEST_PLATFORM ?? "{}") as ChildInput;
const destination = createWriteStream(process.env.SLIPWAY_TEST_LOG ?? "/dev/null", { flags: "a" });
const platform = await startPlatform(
  { ...input.config, masterKey: Buffer.from(input.config.masterKey, "base64") },
  createLogger({ name: "platform-child", level: "debug", destination }),
  { buildLeaseMs: input.buildLeaseMs },
);
process.stdout.write(`READY ${platform.url}\n`);
