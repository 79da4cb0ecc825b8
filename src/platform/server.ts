import type { Kysely } from "kysely";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Http2SecureServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { ConfigError, defaultStoragePolicy, type PlatformConfig } from "../config.ts";
import { migrate, openDatabase } from "../lib/database.ts";
import { isPostgres, withMigrationLock } from "../lib/postgres.ts";
import { readOrCreateSecretFile } from "../lib/files.ts";
import { createLogger, type Logger } from "../lib/logger.ts";
import { SecretBox } from "../lib/secret-box.ts";
import { accountRoutes } from "./api/accounts/routes.ts";
import { auditRoutes } from "./api/audit/routes.ts";
import { accessTokenRoutes } from "./api/access-tokens/routes.ts";
import { passwordRoutes } from "./api/passwords/routes.ts";
import { sessionRoutes } from "./api/session/routes.ts";
import { registerDashboard } from "./dashboard/serve.ts";
import { bootstrapAdminPassword, type GeneratedAdminPassword } from "./accounts/passwords.ts";
import { sweepExpiredSessions } from "./accounts/sessions.ts";
import { buildHookRoutes, buildHookTriggerRoutes } from "./api/build-hooks/routes.ts";
import { deployKeyRoutes } from "./api/deploy-keys/routes.ts";
import { gitConnectionRoutes } from "./api/git-connections/routes.ts";
import { siteLinkRoutes } from "./api/site-link/routes.ts";
import { startLinkChecks } from "./links/health.ts";
import { envRoutes } from "./api/env/routes.ts";
import { integrationRoutes } from "./api/integrations/routes.ts";
import { siteRoutes } from "./api/sites/routes.ts";
import { domainRoutes } from "./api/domains/routes.ts";
import { certificateForHost } from "./domains/certificates.ts";
import { createCertificateHandler, startCertificateSweeps } from "./domains/issuer.ts";
import { CERTIFICATE_QUEUE } from "./domains/queue-names.ts";
import { createFront } from "./edge/front.ts";
import { createDomainRoutes } from "./edge/domain-routes.ts";
import { EdgeSync } from "./edge-sync/edge-sync.ts";
import { createSiteProtection } from "./edge/protection.ts";
import { PlatformMetrics } from "./metrics/metrics.ts";
import { answerMetrics, startMetricsServer } from "../lib/metrics.ts";
import {
  createHttpsServer,
  destroyHttpsConnections,
  loadSitesCertificate,
  SecureContextCache,
} from "./edge/tls.ts";
import { userRoutes } from "./api/users/routes.ts";
import { webhookDeliveryRoutes, webhookIntakeRoutes } from "./api/webhooks/routes.ts";
import { bootstrapAdmin } from "./accounts/bootstrap.ts";
import { buildRoutes } from "./api/builds/routes.ts";
import { deployRoutes } from "./api/deploys/routes.ts";
import { presentDeploy } from "./api/deploys/presenter.ts";
import { hookRoutes } from "./api/hooks/routes.ts";
import { createNotificationHandler } from "./notifications/deliver.ts";
import { NOTIFICATION_QUEUE } from "./notifications/notify.ts";
import type { DeployServices } from "./deploys/digest.ts";
import {
  createDeployFinishHandler,
  DEPLOY_QUEUE,
  resumeProcessingDeploys,
} from "./deploys/digest-finish.ts";
import { sweepAbandonedDeploys } from "./deploys/digest-sweep.ts";
import { prepareUploadDir } from "./deploys/uploads-dir.ts";
import { previewRoutes } from "./api/previews/routes.ts";
import { COMMIT_STATUS_QUEUE, createCommitStatusHandler } from "./commit-statuses/statuses.ts";
import { prepareBuildDirs, sweepWorkDirs } from "./builds/dirs.ts";
import { sweepStaleGitTempDirs } from "./repos/git-temp-dirs.ts";
import { openJobQueue } from "./jobs/open-queue.ts";
import type { JobQueue } from "./jobs/queue.ts";
import { createBuildHandler } from "./builds/runner.ts";
import { sweepOrphanedBuildRows } from "./builds/recovery.ts";
import { sweepOrphanedBuilds, type SandboxOptions } from "./builds/sandbox/run.ts";
import { buildLimitsWarning } from "./builds/sandbox/confinement.ts";
import { BUILD_QUEUE } from "./builds/service.ts";
import { startWorkerPool, type HeartbeatSeam, type WorkerPool } from "./jobs/workers.ts";
import type { TestPausePoint } from "./builds/stage.ts";
import { openDeployStores } from "./deploys/open-stores.ts";
import { collectGarbage, type GcOptions, type GcReport } from "./storage/gc.ts";
import { createGcHandler, GC_QUEUE, startGcSchedule } from "./storage/schedule.ts";
import { withBuildQuota } from "./quotas/build-slots.ts";
import { DbSiteResolver } from "./edge/db-resolver.ts";
import { createEdge } from "./edge/handler.ts";
import { normaliseHost } from "./edge/hosts.ts";
import { summarizeDeployRules } from "./edge/rules.ts";
import type { PlatformContext } from "./context.ts";
import { platformMigrations } from "./db/migrations.ts";
import type { PlatformDatabase } from "./db/schema.ts";
import { createHttpApp, type PlatformApp } from "./http/app.ts";
import { registerAuthentication } from "./http/auth.ts";
import { registerAuditRequests } from "./http/audit.ts";
import { registerSiteChanges } from "./http/site-changes.ts";
import { DEFAULT_AUDIT_RETENTION_DAYS, pruneAuditEvents } from "./audit/events.ts";
import { systemResolver, type ResolveHost } from "./repos/host-guard.ts";

export interface RunningPlatform {
  ctx: PlatformContext;
  app: PlatformApp;
  /** Base URL of the HTTP server (API at `${url}/api/v1`). */
  url: string;
  /** The public listeners' real ports: sites over HTTP (maybe `url`'s port) and HTTPS. */
  ports: { http: number; https: number | null };
  /** Set when the admin token was generated at this start (to be shown once). */
  generatedAdminToken: string | undefined;
  /** Set while no user has a dashboard password yet: the administrator's first one. */
  generatedAdminPassword: GeneratedAdminPassword | undefined;
  /** One garbage collection now (retention, then blobs and leftovers), as `slipway gc`. */
  collectGarbage(options?: GcOptions): Promise<GcReport>;
  /** The separate `/metrics` listener's port (`SLIPWAY_METRICS_ADDRESS`), when there is one. */
  metricsPort: number | undefined;
  stop(): Promise<void>;
}

export interface PlatformOptions {
  /** DNS for repository hosts; tests give names of third-party hosts fixed addresses. */
  resolveHost?: ResolveHost;
  /** Run build workers in this process (default true; false for API-only nodes). */
  buildWorkers?: boolean;
  /** Listen for HTTP: API, webhooks, edge (default true; false: `slipway worker`). */
  serveHttp?: boolean;
  /** Job lease length (default 30 s): how long a crashed worker's build waits to be re-run. */
  buildLeaseMs?: number;
  /** Sandbox settings beyond the config's (tests: limits, extra read-only toolchain paths). */
  sandbox?: Partial<Omit<SandboxOptions, "command" | "workDir" | "signal" | "onLine">>;
  /** How long the edge caches host → deploy (default 500 ms; a publish here clears it). */
  edgeTtlMs?: number;
  /** A CA bundle (PEM file) git trusts for https repositories instead of the system's. */
  gitCaFile?: string;
  /**
   * Finish a direct deploy in the request that completes it (default true). False leaves it to
   * the `deploy` job and the start-up re-run, as after a crash (tests).
   */
  finishDeploysInline?: boolean;
  /** The built dashboard (default: `dist/web` of this checkout). */
  dashboardDir?: string;
  /** How often due certificate work (renewals, retries) is enqueued (default 60 s). */
  certificateSweepMs?: number;
  /** How often the TLS listener re-reads a cached certificate (default 30 s). */
  tlsRecheckMs?: number;
  /** Tests: wraps every job heartbeat (to make a worker's heartbeats fail). */
  jobHeartbeat?: HeartbeatSeam;
  /** Tests: holds builds at this point (`pauseForTest`), for `kill -9` there. */
  testPauseAt?: TestPausePoint;
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

  const db = openDatabase<PlatformDatabase>({
    url: config.databaseUrl,
    sqlitePath: join(config.dataDir, "platform.sqlite3"),
    // The webhook intake's commits run on the event loop: checkpoints must not.
    backgroundCheckpoints: true,
  });
  // Nodes starting at once take turns at their first writes (key check, administrator).
  const oneNodeAtATime = <T>(work: () => Promise<T>): Promise<T> =>
    isPostgres(db as Kysely<unknown>) ? withMigrationLock(db as Kysely<unknown>, work) : work();
  let jobs: JobQueue;
  try {
    await migrate(db, platformMigrations);
    await oneNodeAtATime(() => checkMasterKey(db, secrets, config));
    jobs = await openJobQueue(db, config.databaseUrl, log);
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
    jobs,
    metrics: new PlatformMetrics({ db, dueJobs: () => jobs.dueJobs() }),
  };
  const [generatedAdminToken, generatedAdminPassword] = await oneNodeAtATime(async () => [
    await bootstrapAdmin(ctx),
    await bootstrapAdminPassword(ctx),
  ]);
  // Publishes and domain changes reach every node's edge (`listen` below, once it exists).
  const edgeSync = new EdgeSync({
    db,
    databaseUrl: config.databaseUrl,
    log: log.child({ component: "edge-sync" }),
  });

  // Deploy files, build directories, and what a crash may have left behind.
  const deployRoot = join(config.dataDir, "deploys");
  ctx.metrics?.attach({ deployRoot });
  const storagePolicy = config.storage ?? defaultStoragePolicy();
  const { blobs, manifests } = await openDeployStores(config.blobStore, deployRoot, {
    graceMs: storagePolicy.gcGraceSeconds * 1000,
  });
  const buildDirs = await prepareBuildDirs(config.dataDir);
  await sweepStaleGitTempDirs(buildDirs.gitTempRoot);
  await sweepWorkDirs(db, buildDirs.workRoot);
  if (process.getuid?.() === 0) await sweepOrphanedBuilds();
  // Builds without cgroups are capped by rlimits only: said once, here (and in each build's log).
  const limitsWarning = await buildLimitsWarning();
  if (limitsWarning !== undefined) log.warn(limitsWarning);

  // The edge serves every host under the sites domain (except the API's own); the rest is API.
  const hostCacheMs = options.edgeTtlMs ?? config.edgeHostCacheMs;
  const customHosts = createDomainRoutes(db, {
    ...(hostCacheMs !== undefined ? { ttlMs: hostCacheMs } : {}),
  });
  const resolver = new DbSiteResolver({
    db,
    sitesDomain: config.sitesDomain,
    blobs,
    manifests,
    routes: customHosts,
    ...(hostCacheMs !== undefined ? { ttlMs: hostCacheMs } : {}),
  });
  // Direct deploys (digest protocol, zips): a deploy left `processing` by a crash finishes now.
  const deployServices: DeployServices = {
    blobs,
    manifests,
    uploadDir: await prepareUploadDir(deployRoot),
    onPublished: (siteName) => edgeSync.sitePublished(siteName),
    summarizeRules: summarizeDeployRules,
    finishInline: options.finishDeploysInline ?? true,
  };
  await resumeProcessingDeploys(ctx, deployServices);
  const gcStores = { blobs, manifests, uploadDir: deployServices.uploadDir, ...buildDirs };

  const protection = createSiteProtection({
    ctx,
    sitesDomain: config.sitesDomain,
    masterKey,
    routes: customHosts,
    ...(hostCacheMs !== undefined ? { ttlMs: hostCacheMs } : {}),
  });
  const edge = createEdge({
    resolver,
    logger: log.child({ component: "edge" }),
    sharedSitesDomain: config.sitesDomain,
    protection,
    ...(ctx.metrics ? { metrics: ctx.metrics } : {}),
  });
  ctx.metrics?.attach({ hotCache: () => edge.stats().cache });
  // Every listener: ACME challenges first, then sites (own names and custom domains), then API.
  const domainsConfig = config.domains;
  const ports: { http: number; https: number | null } = { http: config.port, https: null };
  const front = createFront({
    db,
    routes: customHosts,
    sitesDomain: config.sitesDomain,
    apiHost: normaliseHost(new URL(liveConfig.publicUrl).host),
    edge: edge.handler,
    ports: () => ports,
    trustedProxies: domainsConfig?.trustedProxies ?? [],
    logger: log.child({ component: "edge" }),
  });
  const tlsCache = new SecureContextCache({
    certificateForHost: (host) => certificateForHost(ctx, host),
    sitesDomain: config.sitesDomain,
    sitesCertificate:
      domainsConfig?.sitesCertFile !== undefined && domainsConfig.sitesKeyFile !== undefined
        ? loadSitesCertificate(domainsConfig.sitesCertFile, domainsConfig.sitesKeyFile)
        : undefined,
    logger: log.child({ component: "tls" }),
    ...(options.tlsRecheckMs !== undefined ? { recheckMs: options.tlsRecheckMs } : {}),
  });
  const certificateChanged = (siteId: string): void => edgeSync.domainsChanged(siteId);
  const serving = options.serveHttp !== false;
  if (serving) {
    await edgeSync.listen({
      forgetSite: (siteName) => resolver.invalidateSite(siteName),
      forgetDomains: (siteId) => {
        tlsCache.invalidateSite(siteId);
        customHosts.invalidate();
        resolver.invalidateAll(); // a host that was no site's may be one now
        protection.forget(); // a password, or the domains it covers
      },
      forgetAll: () => {
        resolver.invalidateAll();
        customHosts.invalidate();
        protection.forget();
      },
    });
  }

  let apiHandler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const app = createHttpApp(log, {
    serverFactory: (handler) => {
      apiHandler = handler;
      return createServer(front.listener({ api: handler, secure: false }));
    },
  });
  app.get("/healthz", async () => ({ status: "ok" }));
  // Prometheus: here for holders of the token, unless the operator chose an address of its own.
  const metricsConfig = config.metrics;
  if (metricsConfig?.token !== undefined && metricsConfig.address === undefined) {
    app.get("/metrics", async (request, reply) => {
      const answer = await answerMetrics(
        ctx.metrics!.registry,
        metricsConfig.token,
        request.headers.authorization,
      );
      return reply.code(answer.status).headers(answer.headers).send(answer.body);
    });
  }
  await app.register(
    async (api) => {
      registerAuditRequests(api, ctx);
      registerSiteChanges(api, (siteRef) => edgeSync.domainsChanged(siteRef ?? ""));
      registerAuthentication(api, ctx);
      auditRoutes(api, ctx);
      userRoutes(api, ctx);
      sessionRoutes(api, ctx);
      passwordRoutes(api, ctx);
      accessTokenRoutes(api, ctx);
      accountRoutes(api, ctx);
      deployKeyRoutes(api, ctx);
      siteRoutes(api, ctx);
      buildRoutes(api, ctx);
      await deployRoutes(api, ctx, deployServices);
      previewRoutes(api, ctx);
      webhookDeliveryRoutes(api, ctx);
      buildHookRoutes(api, ctx);
      envRoutes(api, ctx);
      gitConnectionRoutes(api, ctx);
      siteLinkRoutes(api, ctx);
      domainRoutes(api, ctx, { onCertificateChanged: certificateChanged });
      hookRoutes(api, ctx);
    },
    { prefix: "/api/v1" },
  );
  // Host root: the sites' git webhooks and Netlify's build hooks (raw bodies, no API auth),
  // and the extensions lookups of @netlify/config (no auth either).
  await webhookIntakeRoutes(app, ctx);
  await buildHookTriggerRoutes(app, ctx);
  integrationRoutes(app);
  // The dashboard (single-page app) on the platform's own host, beside the API.
  registerDashboard(app, options.dashboardDir !== undefined ? { dir: options.dashboardDir } : {});

  if (serving) {
    await app.listen({ host: config.host, port: config.port }).catch(async (error: unknown) => {
      await edgeSync.stop();
      throw error;
    });
  }
  const port = serving ? (app.server.address() as AddressInfo).port : config.port;
  // With port 0 (tests) the real port is known only now; URLs handed out must carry it.
  liveConfig.port = port;
  if (config.port === 0) liveConfig.publicUrl = liveConfig.publicUrl.replace(/:0$/, `:${port}`);
  ports.http = port;
  // The public listeners (docs/production.md): sites and challenges over HTTP on their own port
  // when `SLIPWAY_HTTP_PORT` differs from the API's (the API stays private there), and HTTPS.
  let publicHttp: Server | undefined;
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  let https: Http2SecureServer | undefined;
  try {
    if (!serving) {
      // A worker serves nothing; certificate checks probe the nodes' public port.
      ports.http = domainsConfig?.httpPort ?? config.port;
    } else if (domainsConfig?.httpPort !== undefined && domainsConfig.httpPort !== config.port) {
      publicHttp = createServer(front.listener({ secure: false }));
      ports.http = await listen(
        publicHttp,
        config.host,
        domainsConfig.httpPort,
        "SLIPWAY_HTTP_PORT",
      );
    }
    if (serving && domainsConfig?.httpsPort != null) {
      const apiOverTls = new URL(liveConfig.publicUrl).protocol === "https:";
      const handshakes = { handshakes: 0, resumed: 0 };
      ctx.metrics?.attach({ tlsHandshakes: () => handshakes });
      https = createHttpsServer(
        tlsCache,
        front.listener({ ...(apiOverTls && apiHandler ? { api: apiHandler } : {}), secure: true }),
        handshakes,
      );
      ports.https = await listen(https, config.host, domainsConfig.httpsPort, "SLIPWAY_HTTPS_PORT");
    }
    if (metricsConfig?.address !== undefined) {
      metricsServer = await startMetricsServer(ctx.metrics!.registry, {
        ...metricsConfig,
        address: metricsConfig.address,
      }).catch((error: unknown) => {
        throw new ConfigError(`SLIPWAY_METRICS_ADDRESS=${metricsConfig.address}: ${String(error)}`);
      });
    }
  } catch (error) {
    publicHttp?.close();
    https?.close();
    await app.close();
    await edgeSync.stop();
    await db.destroy();
    throw error;
  }
  if (domainsConfig) {
    liveConfig.domains = { ...domainsConfig, httpPort: ports.http, httpsPort: ports.https };
  }
  let workers: WorkerPool | undefined;
  // `SLIPWAY_BUILD_WORKERS=0`: no jobs here; workers sharing the database run them.
  const runsJobs = options.buildWorkers !== false && config.builds.workers > 0;
  if (runsJobs) {
    workers = startWorkerPool({
      queue: ctx.jobs,
      count: config.builds.workers,
      log,
      leaseMs: options.buildLeaseMs ?? (config.builds.leaseSeconds ?? 30) * 1000,
      ...(options.jobHeartbeat !== undefined ? { heartbeat: options.jobHeartbeat } : {}),
      handlers: {
        [BUILD_QUEUE]: withBuildQuota(
          ctx,
          createBuildHandler({
            ctx,
            blobs,
            manifests,
            ...buildDirs,
            onPublished: (site) => edgeSync.sitePublished(site.name),
            summarizeRules: summarizeDeployRules,
            ...(options.sandbox !== undefined ? { sandbox: options.sandbox } : {}),
            ...(options.gitCaFile !== undefined ? { gitCaFile: options.gitCaFile } : {}),
            ...(options.testPauseAt !== undefined ? { testPauseAt: options.testPauseAt } : {}),
          }),
        ),
        [COMMIT_STATUS_QUEUE]: createCommitStatusHandler(ctx),
        [DEPLOY_QUEUE]: createDeployFinishHandler(ctx, deployServices),
        [GC_QUEUE]: createGcHandler(ctx, gcStores),
        [NOTIFICATION_QUEUE]: createNotificationHandler(ctx, {
          presentDeploy: (deploy, siteName) => presentDeploy(ctx.config, deploy, siteName),
        }),
        [CERTIFICATE_QUEUE]: createCertificateHandler(ctx, {
          onChanged: certificateChanged,
          challengePort: () => ports.http,
        }),
      },
      ...(ctx.metrics ? { metrics: ctx.metrics } : {}),
      onSweep: async () => {
        await sweepOrphanedBuildRows(ctx);
        await sweepAbandonedDeploys(ctx);
        await sweepExpiredSessions(ctx);
        await pruneAuditEvents(ctx.db, config.auditRetentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS);
      },
    });
  }
  // Periodic link checks (key and webhook still at the provider) run where the workers run.
  const linkChecks = startLinkChecks(ctx, runsJobs ? (config.linkCheckIntervalSeconds ?? 0) : 0);
  // Garbage collection on a schedule, where the workers run (docs/production.md, "Storage").
  const gcSchedule = startGcSchedule(ctx, runsJobs ? storagePolicy.gcIntervalSeconds * 1000 : 0);
  // Due renewals and retries become durable jobs, where the workers run.
  const certificateSweeps =
    !runsJobs || domainsConfig?.acme == null
      ? { stop: async () => undefined }
      : startCertificateSweeps(ctx, options.certificateSweepMs ?? 60_000);
  log.info(
    {
      url: liveConfig.publicUrl,
      sitesDomain: config.sitesDomain,
      httpPort: ports.http,
      httpsPort: ports.https,
    },
    "platform ready",
  );

  return {
    ctx,
    app,
    url: `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`,
    ports,
    generatedAdminToken,
    generatedAdminPassword,
    collectGarbage: (gcOptions) => collectGarbage(ctx, gcStores, gcOptions),
    metricsPort: metricsServer?.port,
    stop: async () => {
      await metricsServer?.stop();
      gcSchedule.stop();
      // Running builds stop and give their jobs back (the next start runs them again).
      await workers?.stop();
      await linkChecks.stop();
      await certificateSweeps.stop();
      await edgeSync.stop();
      await Promise.all([closeServer(publicHttp), closeServer(https)]);
      const closing = app.close();
      app.server.closeAllConnections(); // live log streams end now, not when their builds do
      await closing;
      await db.destroy();
    },
  };
}

/** Listens, and names the variable when the port cannot be had. */
async function listen(
  server: Server | Http2SecureServer,
  host: string,
  port: number,
  variable: string,
): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        new ConfigError(
          error.code === "EADDRINUSE"
            ? `${variable}=${port}: the port is in use; stop what listens there or choose another port`
            : error.code === "EACCES"
              ? `${variable}=${port}: not allowed to listen on a port below 1024; see docs/production.md (run as root, or give node CAP_NET_BIND_SERVICE)`
              : `${variable}=${port}: ${error.message}`,
        ),
      );
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: Server | Http2SecureServer | undefined): Promise<void> {
  if (!server) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  if ("closeAllConnections" in server) server.closeAllConnections();
  else destroyHttpsConnections(server);
  await closed;
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
