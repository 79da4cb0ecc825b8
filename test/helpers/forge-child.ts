import { startTestForge } from "./forge.ts";

/**
 * A test forge in a child process, for tests that must survive a forge whose event loop hangs
 * (and kill it). The data directory arrives in SLIPWAY_TEST_FORGE_DIR; the child prints
 * `READY <json>` with its URL and SSH port once it listens.
 */
const forge = await startTestForge({ dataDir: process.env.SLIPWAY_TEST_FORGE_DIR });
process.stdout.write(`READY ${JSON.stringify({ url: forge.url, sshPort: forge.sshPort })}\n`);
