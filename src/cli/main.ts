import { ConfigError, loadConfig } from "../config.ts";
import { createLogger } from "../lib/logger.ts";
import { startForge } from "../forge/server.ts";

const USAGE = `Usage: slipway <command>

Commands:
  start     start Slipway on this machine (the built-in git host, and the platform)
  forge     start only the built-in git host (GitLab-compatible API, git over SSH and HTTP)
  help      show this help

Configuration comes from environment variables; see README.md.`;

export async function main(argv: readonly string[]): Promise<void> {
  const [command = "help"] = argv;
  try {
    switch (command) {
      case "start":
        return await runServers({ embedded: true });
      case "forge":
        return await runServers({ embedded: false });
      case "help":
      case "--help":
      case "-h":
        console.log(USAGE);
        return;
      default:
        console.error(`slipway: unknown command "${command}"\n\n${USAGE}`);
        process.exitCode = 2;
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`slipway: configuration error: ${error.message}`);
      process.exitCode = 78;
      return;
    }
    throw error;
  }
}

async function runServers(options: { embedded: boolean }): Promise<void> {
  const env = { ...process.env };
  // The embedded default: the local platform is the forge's webhook receiver.
  if (options.embedded) env.SLIPWAY_FORGE_ALLOW_LOCAL_WEBHOOKS ??= "true";
  const config = loadConfig(env);
  const log = createLogger({ name: "slipway", level: config.logLevel });
  const forge = await startForge(config.forge, log.child({ server: "forge" }));

  console.log(`Slipway forge (GitLab API)  ${forge.ctx.config.publicUrl}/api/v4`);
  console.log(`Slipway forge (git over SSH) ssh://git@${config.forge.sshHost}:${forge.sshPort}/`);
  if (forge.generatedRootToken !== undefined) {
    console.log(
      `\nThe forge's admin user "root" has this personal access token (shown once, also in ${config.forge.dataDir}/root-token):\n  ${forge.generatedRootToken}\n`,
    );
  }

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    await forge.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
