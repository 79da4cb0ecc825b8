import type { Kysely } from "kysely";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { ConfigError, type PlatformConfig } from "../config.ts";
import { migrate, openSqlite } from "../lib/database.ts";
import { readOrCreateSecretFile } from "../lib/files.ts";
import { createLogger, type Logger } from "../lib/logger.ts";
import { SecretBox } from "../lib/secret-box.ts";
import { accountRoutes } from "./api/accounts/routes.ts";
import { deployKeyRoutes } from "./api/deploy-keys/routes.ts";
import { siteRoutes } from "./api/sites/routes.ts";
import { userRoutes } from "./api/users/routes.ts";
import { bootstrapAdmin } from "./auth/bootstrap.ts";
import type { PlatformContext } from "./context.ts";
import { platformMigrations } from "./db/migrations.ts";
import type { PlatformDatabase } from "./db/schema.ts";
import { createHttpApp, type PlatformApp } from "./http/app.ts";
import { registerAuthentication } from "./http/auth.ts";
import { systemResolver, type ResolveHost } from "./repos/host-guard.ts";

export interface RunningPlatform {
  ctx: PlatformContext;
  app: PlatformApp;
  /** Base URL of the HTTP server (API at `${url}/api/v1`). */
  url: string;
  /** Set when the admin token was generated at this start (to be shown once). */
  generatedAdminToken: string | undefined;
  stop(): Promise<void>;
}

export interface PlatformOptions {
  /** DNS for repository hosts; tests give names of third-party hosts fixed addresses. */
  resolveHost?: ResolveHost;
}

/** The platform's composition root: config → keys → database → services → HTTP server. */
export async function startPlatform(
  config: PlatformConfig,
  logger?: Logger,
  options: PlatformOptions = {},
): Promise<RunningPlatform> {
  const log = logger ?? createLogger({ name: "platform" });
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

  const masterKey =
    config.masterKey ??
    Buffer.from(
      readOrCreateSecretFile(join(config.dataDir, "master.key"), () =>
        randomBytes(32).toString("base64"),
      ).value,
      "base64",
    );
  const secrets = new SecretBox(masterKey);

  const db = openSqlite<PlatformDatabase>(join(config.dataDir, "platform.sqlite3"));
  try {
    await migrate(db, platformMigrations);
    await checkMasterKey(db, secrets, config);
  } catch (error) {
    await db.destroy();
    throw error;
  }

  const liveConfig: PlatformConfig = { ...config };
  const ctx: PlatformContext = {
    db,
    config: liveConfig,
    log,
    secrets,
    resolveHost: options.resolveHost ?? systemResolver,
    now: () => new Date(),
  };
  const generatedAdminToken = await bootstrapAdmin(ctx);

  const app = createHttpApp(log);
  app.get("/healthz", async () => ({ status: "ok" }));
  await app.register(
    async (api) => {
      registerAuthentication(api, ctx);
      userRoutes(api, ctx);
      accountRoutes(api, ctx);
      deployKeyRoutes(api, ctx);
      siteRoutes(api, ctx);
    },
    { prefix: "/api/v1" },
  );

  await app.listen({ host: config.host, port: config.port });
  const port = (app.server.address() as AddressInfo).port;
  // With port 0 (tests) the real port is known only now; URLs handed out must carry it.
  liveConfig.port = port;
  if (config.port === 0) liveConfig.publicUrl = liveConfig.publicUrl.replace(/:0$/, `:${port}`);
  log.info({ url: liveConfig.publicUrl, sitesDomain: config.sitesDomain }, "platform ready");

  return {
    ctx,
    app,
    url: `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`,
    generatedAdminToken,
    stop: async () => {
      await app.close();
      await db.destroy();
    },
  };
}

const KEY_CHECK = "slipway master key check";

/**
 * Fails closed when the master key is not the one that sealed this database's secrets (a lost
 * key file, or a different SLIPWAY_MASTER_KEY): nothing would open, so nothing starts.
 */
async function checkMasterKey(
  db: Kysely<PlatformDatabase>,
  secrets: SecretBox,
  config: PlatformConfig,
): Promise<void> {
  const row = await db
    .selectFrom("meta")
    .select("value")
    .where("key", "=", "master_key_check")
    .executeTakeFirst();
  if (!row) {
    await db
      .insertInto("meta")
      .values({ key: "master_key_check", value: secrets.seal(KEY_CHECK, "meta:master_key_check") })
      .execute();
    return;
  }
  let opened: string | undefined;
  try {
    opened = secrets.open(row.value, "meta:master_key_check");
  } catch {
    opened = undefined;
  }
  if (opened !== KEY_CHECK) {
    const source = config.masterKey
      ? "SLIPWAY_MASTER_KEY"
      : `the key file ${join(config.dataDir, "master.key")}`;
    throw new ConfigError(
      `The master key (${source}) is not the key this platform database was sealed with; restore the original key (the secrets in ${join(config.dataDir, "platform.sqlite3")} cannot be opened without it).`,
    );
  }
}
