import {
  allowEmbeddedForge,
  allowEmbeddedPlatform,
  ConfigError,
  loadConfig,
  type PlatformConfig,
} from "../config.ts";
// The servers (and the logger) are loaded only by the commands that start them, so that
// `slipway deploy` starts in a fraction of the time.
import type { RunningForge } from "../forge/server.ts";
import type { RunningPlatform } from "../platform/server.ts";

const USAGE = `Usage: slipway <command>

Commands:
  start     start Slipway on this machine (the built-in git host, and the platform)
  platform  start only the platform (Netlify-compatible API, webhooks, builds, sites;
            SLIPWAY_BUILD_WORKERS=0: no builds, for nodes behind a load balancer)
  worker    run builds and other jobs only, no HTTP (needs SLIPWAY_DATABASE_URL; docs/scale-out.md)
  forge     start only the built-in git host (GitLab-compatible API, git over SSH and HTTP)
  deploy    deploy a directory to a site without git (slipway deploy --help)
  doctor    check that this machine can run Slipway as configured, and say how to fix what fails
  backup    slipway backup <file.tar>: a consistent copy of the databases and the data directory
  restore   slipway restore <file.tar>: unpack a backup into an empty data directory
  gc        slipway gc [--dry-run]: expire deploys past retention, remove unused files now
  migrate-to  slipway migrate-to --database-url postgres://… [--blob-store s3]: copy this
            install into PostgreSQL (and S3) for scale-out (docs/scale-out.md)
  help      show this help

Configuration comes from environment variables; see README.md.`;

export async function main(argv: readonly string[]): Promise<void> {
  const [command = "help"] = argv;
  try {
    switch (command) {
      case "start":
        return await runServers({ forge: true, platform: true });
      case "platform":
        return await runServers({ forge: false, platform: true });
      case "forge":
        return await runServers({ forge: true, platform: false });
      case "worker":
        return await runServers({ forge: false, platform: true, worker: true });
      case "deploy":
        process.exitCode = await (await import("./deploy/command.ts")).runDeploy(argv.slice(1));
        return;
      case "doctor":
        process.exitCode = await (await import("./doctor.ts")).doctorCommand(argv.slice(1));
        return;
      case "backup":
        process.exitCode = await (await import("./backup.ts")).backupCommand(argv.slice(1));
        return;
      case "restore":
        process.exitCode = await (await import("./backup.ts")).restoreCommand(argv.slice(1));
        return;
      case "gc":
        process.exitCode = await (await import("./gc.ts")).gcCommand(argv.slice(1));
        return;
      case "migrate-to":
        process.exitCode = await (await import("./migrate-to.ts")).migrateToCommand(argv.slice(1));
        return;
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

async function runServers(options: {
  forge: boolean;
  platform: boolean;
  /** The platform's jobs only, no HTTP (`slipway worker`). */
  worker?: boolean;
}): Promise<void> {
  const config = loadConfig(process.env);
  if (options.worker) checkWorkerConfig(config.platform);
  // The embedded default: the platform beside the forge receives its webhooks — that one
  // address, not every local one (a hook must not reach other services on this machine).
  const forgeConfig =
    options.forge && options.platform
      ? allowEmbeddedPlatform(config.forge, config.platform)
      : config.forge;
  const { createLogger } = await import("../lib/logger.ts");
  // On a terminal, log records are readable lines; services get JSON lines.
  const destination = process.stdout.isTTY
    ? (await import("./log-lines.ts")).readableLogDestination(process.stdout)
    : undefined;
  const log = createLogger({
    name: "slipway",
    level: config.logLevel,
    ...(destination ? { destination } : {}),
  });
  let forge: RunningForge | undefined;
  let platform: RunningPlatform | undefined;

  if (options.forge) {
    const { startForge } = await import("../forge/server.ts");
    forge = await startForge(forgeConfig, log.child({ server: "forge" }));
    console.log(`Slipway forge (GitLab API)  ${forge.ctx.config.publicUrl}/api/v4`);
    console.log(`Slipway forge (git over SSH) ssh://git@${config.forge.sshHost}:${forge.sshPort}/`);
    if (forge.generatedRootToken !== undefined) {
      console.log(
        `\nThe forge's admin user "root" has this personal access token (shown once, also in ${config.forge.dataDir}/root-token):\n  ${forge.generatedRootToken}\n`,
      );
    }
  }
  if (options.platform) {
    // Under `slipway start`, sites may link repositories on the built-in forge, whose address is
    // a loopback or private one (its real SSH port is known once it listens).
    const platformConfig = forge
      ? allowEmbeddedForge(config.platform, { ...config.forge, sshPort: forge.sshPort })
      : config.platform;
    try {
      const { startPlatform } = await import("../platform/server.ts");
      platform = await startPlatform(
        platformConfig,
        log.child({ server: options.worker ? "worker" : "platform" }),
        options.worker ? { serveHttp: false } : {},
      );
    } catch (error) {
      await forge?.stop();
      throw error;
    }
  }
  if (platform && options.worker) {
    console.log(
      `Slipway worker ready: ${config.platform.builds.workers} build workers, no HTTP listener`,
    );
  } else if (platform) {
    printPlatformAddresses(platform, config.platform);
  }
  if (platform) {
    // Whichever process starts first on an empty database creates the administrator.
    const firstPassword = platform.generatedAdminPassword;
    if (firstPassword !== undefined) {
      console.log(
        `\nSign in to the dashboard at ${platform.ctx.config.publicUrl}/ as ${firstPassword.email} with this password (shown once, also in ${firstPassword.file}):\n  ${firstPassword.password}\nor paste the administrator's access token into the "Access token" field.\n`,
      );
    }
    if (platform.generatedAdminToken !== undefined) {
      console.log(
        `\nThe platform's administrator has this access token (shown once, also in ${config.platform.dataDir}/admin-token):\n  ${platform.generatedAdminToken}\n`,
      );
    }
  }

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    await platform?.stop();
    await forge?.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

/** A worker shares its queue through the database: on SQLite nothing would reach it. */
function checkWorkerConfig(config: PlatformConfig): void {
  if (config.databaseUrl === undefined) {
    throw new ConfigError(
      "`slipway worker` needs SLIPWAY_DATABASE_URL: it runs the jobs of platform nodes that share that PostgreSQL database (docs/scale-out.md).",
    );
  }
  if (config.builds.workers === 0) {
    throw new ConfigError("`slipway worker` with SLIPWAY_BUILD_WORKERS=0 would run nothing.");
  }
}

function printPlatformAddresses(platform: RunningPlatform, config: PlatformConfig): void {
  console.log(`Slipway platform (Netlify API) ${platform.ctx.config.publicUrl}/api/v1`);
  if (config.builds.workers === 0) {
    console.log("Slipway builds                 none here (SLIPWAY_BUILD_WORKERS=0)");
  }
  console.log(
    `Slipway sites                  http://<site>.${config.sitesDomain}:${platform.ports.http}/`,
  );
  if (platform.ports.https !== null) {
    console.log(
      `Slipway sites over HTTPS       https://<custom domain>:${platform.ports.https}/ (certificates per domain; see docs/production.md)`,
    );
  }
  console.log(`Slipway dashboard              ${platform.ctx.config.publicUrl}/`);
}
