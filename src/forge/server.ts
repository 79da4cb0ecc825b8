import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { ForgeConfig } from "../config.ts";
import { migrate, openSqlite } from "../lib/database.ts";
import { readOrCreateSecretFile } from "../lib/files.ts";
import { createLogger, type Logger } from "../lib/logger.ts";
import { SecretBox } from "../lib/secret-box.ts";
import { generateEd25519KeyPair } from "../lib/ssh-keys.ts";
import { branchRoutes } from "./api/branches/routes.ts";
import { commitRoutes } from "./api/commits/routes.ts";
import { repositoryFileRoutes } from "./api/repository-files/routes.ts";
import { deployKeyRoutes } from "./api/deploy-keys/routes.ts";
import { hookRoutes } from "./api/hooks/routes.ts";
import { memberRoutes } from "./api/members/routes.ts";
import { mergeRequestRoutes } from "./api/merge-requests/routes.ts";
import { personalAccessTokenRoutes } from "./api/personal-access-tokens/routes.ts";
import { projectRoutes } from "./api/projects/routes.ts";
import { commitStatusRoutes } from "./api/statuses/routes.ts";
import { userKeyRoutes } from "./api/user-keys/routes.ts";
import { userRoutes } from "./api/users/routes.ts";
import type { ForgeContext } from "./context.ts";
import { forgeMigrations } from "./db/migrations.ts";
import type { ForgeDatabase } from "./db/schema.ts";
import { RepositoryStore } from "./git/repositories.ts";
import type { GitTransportServices } from "./git/runtime.ts";
import { smartHttpRoutes } from "./git/smart-http.ts";
import { startSshServer, type SshServer } from "./git/ssh-server.ts";
import { createHttpApp, type ForgeApp } from "./http/app.ts";
import { registerAuthentication } from "./http/auth.ts";
import { reconcileMergeRequests, refreshMergeRequests } from "./merge-requests/refresh.ts";
import { gitAccess } from "./projects/git-access.ts";
import { bootstrapRoot } from "./users/bootstrap.ts";
import { ForgeMetrics } from "./metrics.ts";
import { answerMetrics, startMetricsServer } from "../lib/metrics.ts";
import { createHookDispatcher } from "./webhooks/deliveries.ts";

export interface RunningForge {
  ctx: ForgeContext;
  app: ForgeApp;
  /** Base URL of the HTTP server (API at `${url}/api/v4`). */
  url: string;
  sshPort: number;
  /** Set when the root token was generated at this start (shown once). */
  generatedRootToken: string | undefined;
  /** The separate `/metrics` listener's port (`SLIPWAY_FORGE_METRICS_ADDRESS`), if any. */
  metricsPort: number | undefined;
  stop(): Promise<void>;
}

/** The forge's composition root: config → database → services → HTTP and SSH servers. */
export async function startForge(config: ForgeConfig, logger?: Logger): Promise<RunningForge> {
  const log = logger ?? createLogger({ name: "forge" });
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

  const secretKey = readOrCreateSecretFile(join(config.dataDir, "secret.key"), () =>
    randomBytes(32).toString("base64"),
  ).value;
  const hostKey = readOrCreateSecretFile(join(config.dataDir, "ssh_host_ed25519_key"), () =>
    generateEd25519KeyPair().private.trim(),
  ).value;

  const db = openSqlite<ForgeDatabase>(join(config.dataDir, "forge.sqlite3"));
  await migrate(db, forgeMigrations);

  const liveConfig: ForgeConfig = { ...config };
  const repositories = new RepositoryStore(join(config.dataDir, "repositories"));
  mkdirSync(repositories.root, { recursive: true, mode: 0o700 });
  const ctxBase = {
    db,
    config: liveConfig,
    log,
    secrets: new SecretBox(Buffer.from(secretKey, "base64")),
    repositories,
    now: () => new Date(),
  };
  const ctx: ForgeContext = { ...ctxBase, hooks: createHookDispatcher(ctxBase) };
  const generatedRootToken = await bootstrapRoot(ctx);

  const app = createHttpApp(log, () => liveConfig.publicUrl, config.httpTimeouts);
  app.get("/healthz", async () => ({ status: "ok" }));
  const metrics = new ForgeMetrics();
  const metricsConfig = config.metrics;
  if (metricsConfig?.token !== undefined && metricsConfig.address === undefined) {
    app.get("/metrics", async (request, reply) => {
      const answer = await answerMetrics(
        metrics.registry,
        metricsConfig.token,
        request.headers.authorization,
      );
      return reply.code(answer.status).headers(answer.headers).send(answer.body);
    });
  }
  await app.register(
    async (api) => {
      registerAuthentication(api, ctx);
      userRoutes(api, ctx);
      userKeyRoutes(api, ctx);
      projectRoutes(api, ctx);
      memberRoutes(api, ctx);
      deployKeyRoutes(api, ctx);
      hookRoutes(api, ctx);
      mergeRequestRoutes(api, ctx);
      commitStatusRoutes(api, ctx);
      branchRoutes(api, ctx);
      commitRoutes(api, ctx);
      repositoryFileRoutes(api, ctx);
      personalAccessTokenRoutes(api, ctx);
    },
    { prefix: "/api/v4" },
  );
  const git: GitTransportServices = {
    access: gitAccess(ctx),
    // Open merge requests follow their source branch (head ref, "update" hooks), like GitLab.
    afterPush: (event) => refreshMergeRequests(ctx, event),
    onOperation: (transport, command) => metrics.gitOperation(transport, command),
  };
  smartHttpRoutes(app, ctx, git);

  await app.listen({ host: config.host, port: config.httpPort });
  const httpPort = (app.server.address() as AddressInfo).port;
  const ssh = await startSshServer(ctx, hostKey, { host: config.host, port: config.sshPort }, git);
  const metricsServer =
    metricsConfig?.address === undefined
      ? undefined
      : await startMetricsServer(metrics.registry, {
          ...metricsConfig,
          address: metricsConfig.address,
        }).catch(async (error: unknown) => {
          await stopAll(ctx, app, ssh);
          throw new Error(
            `SLIPWAY_FORGE_METRICS_ADDRESS=${metricsConfig.address}: ${String(error)}`,
          );
        });
  // With port 0 (tests) the real ports are known only now; URLs handed out must carry them.
  liveConfig.httpPort = httpPort;
  liveConfig.sshPort = ssh.port;
  if (config.httpPort === 0)
    liveConfig.publicUrl = liveConfig.publicUrl.replace(/:0$/, `:${httpPort}`);
  ctx.hooks.start();
  // Merge requests a crash left behind their source branch catch up (needs the final URLs).
  await reconcileMergeRequests(ctx);
  log.info({ http: liveConfig.publicUrl, sshPort: ssh.port }, "forge ready");

  return {
    ctx,
    app,
    url: `http://${config.host}:${httpPort}`,
    sshPort: ssh.port,
    generatedRootToken,
    metricsPort: metricsServer?.port,
    stop: async () => {
      await metricsServer?.stop();
      await stopAll(ctx, app, ssh);
    },
  };
}

async function stopAll(ctx: ForgeContext, app: ForgeApp, ssh: SshServer): Promise<void> {
  await ssh.close();
  await app.close();
  await ctx.hooks.stop();
  await ctx.db.destroy();
}
