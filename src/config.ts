import { resolve } from "node:path";
import { neverReachedBy, parseAllowHosts, type AllowEntry } from "./lib/allow-ranges.ts";
import { parseListenAddress, type MetricsConfig } from "./lib/metrics.ts";
import {
  ConfigError,
  type Env,
  readAddressList,
  MIB,
  GIB,
  readSize,
  readPort,
  readInteger,
  readDomain,
  readMasterKey,
  readHostList,
  normalizeHostEntry,
  readHost,
  readBoolean,
  readUrl,
  readOptionalToken,
  readLogLevel,
  hostForUrl,
} from "./config-env.ts";
import { readBuildRole, readEdgeRole, type BuildRole, type EdgeRole } from "./config-roles.ts";

export { ConfigError, normalizeHostEntry };

/** Everything Slipway reads from the environment, validated once at start. */
export interface SlipwayConfig {
  dataDir: string;
  host: string;
  logLevel: string;
  forge: ForgeConfig;
  platform: PlatformConfig;
}

export interface ForgeConfig {
  dataDir: string;
  host: string;
  httpPort: number;
  sshPort: number;
  /** Base URL the forge hands out in API entities (web_url, http_url_to_repo). */
  publicUrl: string;
  /** Host name put in ssh_url_to_repo. */
  sshHost: string;
  rootToken: string | undefined;
  /** Hooks may target any loopback or private address (`SLIPWAY_FORGE_ALLOW_LOCAL_WEBHOOKS`). */
  allowLocalWebhooks: boolean;
  /**
   * `host` or `host:port` entries hooks may target although they are local or private
   * (`SLIPWAY_FORGE_ALLOWED_WEBHOOK_HOSTS`; `slipway start` adds its own platform).
   */
  allowedWebhookHosts: string[];
  webhooks: WebhookPolicy;
  /**
   * Largest push accepted over SSH or HTTP, in bytes (`SLIPWAY_FORGE_MAX_PUSH_SIZE`, 1 GiB);
   * unset (configs built by hand in tests): no cap.
   */
  maxPushBytes?: number;
  /** Request head and whole-request limits of the HTTP server; unset: 20 s and 15 minutes. */
  httpTimeouts?: { headersMs: number; requestMs: number };
  /** `/metrics` (`SLIPWAY_METRICS_TOKEN`, `SLIPWAY_FORGE_METRICS_ADDRESS`); unset: none. */
  metrics?: MetricsConfig;
}

/** How hook deliveries are retried and when a failing hook is switched off (GitLab's defaults). */
export interface WebhookPolicy {
  timeoutMs: number;
  /** Attempts per delivery, the first included. */
  maxAttempts: number;
  /** Delay before the first retry; doubles each time. */
  retryDelayMs: number;
  /** A hook is backed off after more than this many consecutive failures... */
  temporaryDisableAfter: number;
  /** ...and disabled until re-enabled after more than this many. */
  permanentDisableAfter: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export interface PlatformConfig extends EdgeRole {
  /** `<data>/platform`: the platform's database, key files and (later) deploy files. */
  dataDir: string;
  host: string;
  /** API (`/api/v1`), incoming webhooks, build hooks and the edge, all on one port. */
  port: number;
  /** Sites are served at `http://{site}.{sitesDomain}:{port}/`. */
  sitesDomain: string;
  /** Base of every URL the platform hands out (git_webhook.url, admin_url, build hooks). */
  publicUrl: string;
  /** Token of the first (admin) user; generated at first start when unset. */
  adminToken: string | undefined;
  /**
   * The 32-byte key that seals secrets in the database (`SLIPWAY_MASTER_KEY`, base64); when
   * unset, `<dataDir>/master.key` is used (generated at first start). Never log this object.
   */
  masterKey: Buffer | undefined;
  builds: BuildPolicy;
  /**
   * `host` or `host:port` entries (lower case) that repository URLs may use even though they
   * resolve to loopback, private or link-local addresses. A bare host allows any port.
   */
  allowedPrivateRepoHosts: string[];
  /**
   * How often the link of every site linked through a provider connection is checked (deploy
   * key and webhook still at the provider, branch readable), in seconds; 0 turns it off. Unset
   * (configs built by hand in tests) means off.
   */
  linkCheckIntervalSeconds?: number;
  /** Audit events older than this many days are dropped (`SLIPWAY_AUDIT_RETENTION_DAYS`, 365). */
  auditRetentionDays?: number;
  /**
   * Custom domains, certificates and the public listeners (`docs/production.md`). Unset
   * (configs built by hand in tests): no HTTPS listener, no ACME, sites on `port` only.
   */
  domains?: DomainsConfig;
  /** `/metrics` (`SLIPWAY_METRICS_TOKEN`, `SLIPWAY_METRICS_ADDRESS`); unset: none. */
  metrics?: MetricsConfig;
  /** Deploy retention and blob collection (docs/production.md, "Storage"); unset: the defaults. */
  storage?: StoragePolicy;
  /** Per-account quotas' defaults (docs/production.md, "Quotas"); unset (tests): none. */
  quotas?: QuotaDefaults;
  /**
   * Webhook bodies read at once; past it a delivery is answered 503 with Retry-After
   * (`SLIPWAY_WEBHOOK_BODY_CONCURRENCY`, 64; each body may be 25 MB).
   */
  webhookBodyConcurrency?: number;
  /** Deploy notifications' e-mail and receivers (docs/production.md); unset (tests): no e-mail. */
  notifications?: NotificationsConfig;
  /** Where deploy blobs and manifests live (`SLIPWAY_BLOB_STORE`); unset: local disk. */
  blobStore?: BlobStoreConfig;
  /**
   * `SLIPWAY_DATABASE_URL` (`postgres://user:pass@host/db`): the platform's state on PostgreSQL
   * (docs/scale-out.md); unset: SQLite in `dataDir`. Holds a password: never log it.
   */
  databaseUrl?: string;
}

export type BlobStoreConfig = { kind: "local" } | S3BlobStoreConfig;

/** `SLIPWAY_BLOB_STORE=s3` (docs/production.md, "Blob storage on S3"). */
export interface S3BlobStoreConfig {
  kind: "s3";
  /** `SLIPWAY_S3_BUCKET` (required). */
  bucket: string;
  /** `SLIPWAY_S3_ENDPOINT`: an S3-compatible server's URL; unset: AWS. */
  endpoint: string | undefined;
  /** `SLIPWAY_S3_FORCE_PATH_STYLE`: `endpoint/bucket/key` instead of `bucket.endpoint/key`. */
  forcePathStyle: boolean;
  /** `AWS_REGION` (or `AWS_DEFAULT_REGION`); with an endpoint, us-east-1 when unset. */
  region: string | undefined;
  /**
   * Tests only (no environment variable): otherwise the AWS SDK's default chain finds the
   * credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role). Never log.
   */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export interface NotificationsConfig {
  /** `SLIPWAY_SMTP_URL` (`smtp://user:pass@host:port`, `smtps://…`): e-mail hooks need it. Never log it. */
  smtpUrl: string | undefined;
  /** `SLIPWAY_SMTP_FROM`: the sender of notification e-mails (default `slipway@<sites domain>`). */
  smtpFrom: string | undefined;
  /** `SLIPWAY_ALLOW_PRIVATE_NOTIFICATION_HOSTS`: receivers on private networks allowed (`host[:port]`). */
  allowedPrivateHosts: string[];
  /** The first retry's delay; each next one doubles it (default 30 s; not an environment setting). */
  retryDelayMs?: number;
}

export interface StoragePolicy {
  /** Each site keeps its newest N deploys (`SLIPWAY_KEEP_DEPLOYS`, 50)... */
  keepDeploys: number;
  /** ...and every deploy younger than this many days (`SLIPWAY_KEEP_DEPLOY_DAYS`, 30). */
  keepDeployDays: number;
  /** Unreferenced blobs and leftovers younger than this survive a collection (`SLIPWAY_GC_GRACE_SECONDS`, 3600). */
  gcGraceSeconds: number;
  /** How often the collector runs, where the workers run (`SLIPWAY_GC_INTERVAL_SECONDS`, 21600; 0: never). */
  gcIntervalSeconds: number;
}

/** An account's limits unless an administrator set its own; 0 means no limit. */
export interface QuotaDefaults {
  /** Bytes of deploys kept (`SLIPWAY_QUOTA_STORAGE`, 10 GiB). */
  storageBytes: number;
  /** Sites (`SLIPWAY_QUOTA_SITES`, 100). */
  sites: number;
  /** Builds running at once; more wait in the queue (`SLIPWAY_QUOTA_CONCURRENT_BUILDS`, 2). */
  concurrentBuilds: number;
}

/** Public listeners, ACME and the checks that a custom domain reaches this Slipway. */
export interface DomainsConfig {
  /** Sites and ACME challenges over HTTP (`SLIPWAY_HTTP_PORT`); undefined: the API's `port`. */
  httpPort: number | undefined;
  /** Sites over HTTPS (`SLIPWAY_HTTPS_PORT`, 8443; 443 in production); null: no listener. */
  httpsPort: number | null;
  /** null: no automatic certificates (`SLIPWAY_ACME_DIRECTORY_URL=off`). */
  acme: AcmeConfig | null;
  /** Resolvers for the domain checks, `host` or `host:port` (`SLIPWAY_DNS_SERVERS`); [] = the system's. */
  dnsServers: string[];
  /** This Slipway's public addresses, named in DNS advice (`SLIPWAY_PUBLIC_ADDRESSES`). */
  publicAddresses: string[];
  /** A certificate (and key) for `*.{sitesDomain}` (`SLIPWAY_SITES_CERT_FILE` / `_KEY_FILE`). */
  sitesCertFile: string | undefined;
  sitesKeyFile: string | undefined;
  /** Addresses whose `X-Forwarded-Proto`/`-For` are believed (`SLIPWAY_TRUSTED_PROXIES`). */
  trustedProxies: string[];
}

export interface AcmeConfig {
  /** The ACME directory (`SLIPWAY_ACME_DIRECTORY_URL`, Let's Encrypt production by default). */
  directoryUrl: string;
  email: string | undefined;
  /** Extra CA certificates (PEM file) trusted when talking to the ACME server. */
  caFile: string | undefined;
  /**
   * The port the CA fetches http-01 challenges on, which the pre-check fetches too
   * (`SLIPWAY_ACME_CHALLENGE_PORT`, 80); undefined: the platform's live HTTP port (tests).
   */
  challengePort: number | undefined;
}

export const LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory";
export const LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";

export interface BuildPolicy extends BuildRole {
  /** Wall-clock limit of one build, in seconds. */
  timeoutSeconds: number;
  /** Run build commands without bubblewrap (explicit opt-in; never the default). */
  unsafeNoSandbox: boolean;
  /**
   * What one build may use (docs/production.md, "Build limits"); unset (configs built by hand
   * in tests): the sandbox's defaults. Memory counts the sandbox's tmpfs mounts.
   */
  limits?: BuildLimits;
  /** Package registries, proxies and Node versions for builds (docs/production.md). */
  toolchain?: BuildToolchainPolicy;
  /** Build cache size caps (docs/builds.md, "Build cache"); unset: 2 GiB per site, 20 GiB. */
  cache?: BuildCachePolicy;
}

export interface BuildCachePolicy {
  /** `SLIPWAY_BUILD_CACHE_SITE_MAX`: one site's cache entries, evicted least recently used. */
  siteMaxBytes: number;
  /** `SLIPWAY_BUILD_CACHE_MAX`: every site's together. */
  maxBytes: number;
}

/** "Build network and toolchains" in docs/production.md. */
export interface BuildToolchainPolicy {
  /** `SLIPWAY_BUILD_ALLOW_HOSTS`: let through the build firewall (not the metadata ranges). */
  allowHosts: AllowEntry[];
  /** `SLIPWAY_BUILD_NPM_REGISTRY` → `npm_config_registry`, `COREPACK_NPM_REGISTRY`. */
  npmRegistry: string | undefined;
  /** `SLIPWAY_BUILD_HTTP_PROXY`, `SLIPWAY_BUILD_HTTPS_PROXY`, `SLIPWAY_BUILD_NO_PROXY`. */
  httpProxy: string | undefined;
  httpsProxy: string | undefined;
  noProxy: string | undefined;
  /** `SLIPWAY_BUILD_CA_FILE` → `NODE_EXTRA_CA_CERTS`, `npm_config_cafile` (bound read-only). */
  caFile: string | undefined;
  /** `SLIPWAY_BUILD_COREPACK_INTEGRITY_KEYS` → `COREPACK_INTEGRITY_KEYS` (`0`: a mirror without npm's signatures). */
  corepackIntegrityKeys: string | undefined;
  /** `SLIPWAY_NODE_VERSIONS_DIR`: `<dir>/<version>/bin/node`. */
  nodeVersionsDir: string | undefined;
}

export interface BuildLimits {
  /** `SLIPWAY_BUILD_MEMORY` (`512M`, `2G`; 2 GiB). */
  memoryBytes: number;
  /** Processes and threads at once, `SLIPWAY_BUILD_PIDS` (1024). */
  maxProcesses: number;
  /** CPU weight against other builds and the platform's 100, `SLIPWAY_BUILD_CPU_WEIGHT` (100). */
  cpuWeight: number;
  /** What a build may write to its checkout, `SLIPWAY_BUILD_DISK` (10 GiB). */
  diskBytes: number;
  /** Builds do not start (and stop) below this much free space, `SLIPWAY_MIN_FREE_DISK` (1 GiB). */
  minFreeDiskBytes: number;
}

export function loadConfig(env: Env = process.env): SlipwayConfig {
  const dataDir = resolve(env.SLIPWAY_DATA_DIR ?? "./.slipway");
  const host = readHost(env, "SLIPWAY_HOST", "127.0.0.1");
  const httpPort = readPort(env, "SLIPWAY_FORGE_HTTP_PORT", 3000);
  const sshPort = readPort(env, "SLIPWAY_FORGE_SSH_PORT", 2222);
  const advertisedHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  const forge: ForgeConfig = {
    dataDir: resolve(dataDir, "forge"),
    host,
    httpPort,
    sshPort,
    publicUrl: readUrl(
      env,
      "SLIPWAY_FORGE_PUBLIC_URL",
      `http://${hostForUrl(advertisedHost)}:${httpPort}`,
    ),
    sshHost: advertisedHost,
    rootToken: readOptionalToken(env, "SLIPWAY_FORGE_ROOT_TOKEN"),
    allowLocalWebhooks: readBoolean(env, "SLIPWAY_FORGE_ALLOW_LOCAL_WEBHOOKS", false),
    allowedWebhookHosts: readHostList(env, "SLIPWAY_FORGE_ALLOWED_WEBHOOK_HOSTS"),
    webhooks: defaultWebhookPolicy(),
    metrics: readMetricsConfig(env, "SLIPWAY_FORGE_METRICS_ADDRESS"),
    maxPushBytes: readSize(env, "SLIPWAY_FORGE_MAX_PUSH_SIZE", GIB, { min: MIB }),
    httpTimeouts: {
      headersMs:
        1000 * readInteger(env, "SLIPWAY_FORGE_HEADERS_TIMEOUT", 20, { min: 1, max: 3600 }),
      requestMs:
        1000 * readInteger(env, "SLIPWAY_FORGE_REQUEST_TIMEOUT", 900, { min: 10, max: 86_400 }),
    },
  };
  const port = readPort(env, "SLIPWAY_PORT", 8080);
  const platform: PlatformConfig = {
    dataDir: resolve(dataDir, "platform"),
    host,
    port,
    sitesDomain: readDomain(env, "SLIPWAY_SITES_DOMAIN", "localhost"),
    publicUrl: readUrl(env, "SLIPWAY_PUBLIC_URL", `http://${hostForUrl(advertisedHost)}:${port}`),
    adminToken: readOptionalToken(env, "SLIPWAY_ADMIN_TOKEN"),
    masterKey: readMasterKey(env, "SLIPWAY_MASTER_KEY"),
    ...readEdgeRole(env),
    builds: {
      ...readBuildRole(env),
      timeoutSeconds: readInteger(env, "SLIPWAY_BUILD_TIMEOUT", 900, { min: 10, max: 86_400 }),
      unsafeNoSandbox: readBoolean(env, "SLIPWAY_UNSAFE_NO_SANDBOX", false),
      limits: readBuildLimits(env),
      toolchain: readBuildToolchain(env),
      cache: {
        siteMaxBytes: readSize(env, "SLIPWAY_BUILD_CACHE_SITE_MAX", 2 * GIB, { min: 0 }),
        maxBytes: readSize(env, "SLIPWAY_BUILD_CACHE_MAX", 20 * GIB, { min: 0 }),
      },
    },
    allowedPrivateRepoHosts: readHostList(env, "SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS"),
    linkCheckIntervalSeconds: readInteger(env, "SLIPWAY_LINK_CHECK_INTERVAL_SECONDS", 3600, {
      min: 0,
      max: 7 * 86_400,
    }),
    domains: readDomainsConfig(env),
    metrics: readMetricsConfig(env, "SLIPWAY_METRICS_ADDRESS"),
    storage: readStoragePolicy(env),
    auditRetentionDays: readInteger(env, "SLIPWAY_AUDIT_RETENTION_DAYS", 365, {
      min: 1,
      max: 36_500,
    }),
    webhookBodyConcurrency: readInteger(env, "SLIPWAY_WEBHOOK_BODY_CONCURRENCY", 64, {
      min: 1,
      max: 100_000,
    }),
    notifications: readNotificationsConfig(env),
    blobStore: readBlobStoreConfig(env),
    ...readDatabaseUrl(env),
    quotas: {
      storageBytes: readSize(env, "SLIPWAY_QUOTA_STORAGE", 10 * GIB, { min: 0 }),
      sites: readInteger(env, "SLIPWAY_QUOTA_SITES", 100, { min: 0, max: 1_000_000 }),
      concurrentBuilds: readInteger(env, "SLIPWAY_QUOTA_CONCURRENT_BUILDS", 2, {
        min: 0,
        max: 1024,
      }),
    },
  };
  return { dataDir, host, logLevel: readLogLevel(env), forge, platform };
}

/**
 * The embedded default (`slipway start`): repository URLs may point at the built-in forge even
 * though it listens on a loopback or private address. `sshPort` is the forge's real SSH port.
 */
export function allowEmbeddedForge(platform: PlatformConfig, forge: ForgeConfig): PlatformConfig {
  const forgeHttp = new URL(forge.publicUrl);
  const entries = [
    `${normalizeHostEntry(forge.sshHost)}:${forge.sshPort}`,
    `${normalizeHostEntry(forgeHttp.hostname)}:${forgeHttp.port || (forgeHttp.protocol === "https:" ? 443 : 80)}`,
  ];
  const allowed = [...platform.allowedPrivateRepoHosts];
  for (const entry of entries) if (!allowed.includes(entry)) allowed.push(entry);
  return { ...platform, allowedPrivateRepoHosts: allowed };
}

/**
 * The embedded default (`slipway start`): the forge's hooks may reach the platform beside it —
 * its public URL and the address it listens on — and nothing else on a local network.
 */
export function allowEmbeddedPlatform(forge: ForgeConfig, platform: PlatformConfig): ForgeConfig {
  const publicUrl = new URL(platform.publicUrl);
  const entries = [
    `${normalizeHostEntry(publicUrl.hostname)}:${publicUrl.port || (publicUrl.protocol === "https:" ? 443 : 80)}`,
    `${normalizeHostEntry(platform.host)}:${platform.port}`,
  ];
  const allowed = [...forge.allowedWebhookHosts];
  for (const entry of entries) if (!allowed.includes(entry)) allowed.push(entry);
  return { ...forge, allowedWebhookHosts: allowed };
}

export function defaultWebhookPolicy(): WebhookPolicy {
  return {
    timeoutMs: 10_000,
    maxAttempts: 4,
    retryDelayMs: 10_000,
    temporaryDisableAfter: 3,
    permanentDisableAfter: 39,
    initialBackoffMs: 60_000,
    maxBackoffMs: 24 * 60 * 60_000,
  };
}

function readNotificationsConfig(env: Env): NotificationsConfig {
  const smtpUrl = env.SLIPWAY_SMTP_URL === "" ? undefined : env.SLIPWAY_SMTP_URL;
  if (smtpUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(smtpUrl);
    } catch {
      url = undefined;
    }
    // The URL holds a password: the message never repeats it.
    if (
      url === undefined ||
      (url.protocol !== "smtp:" && url.protocol !== "smtps:") ||
      url.hostname === ""
    ) {
      throw new ConfigError(
        "SLIPWAY_SMTP_URL must be an smtp:// or smtps:// URL (smtp://user:pass@host:587).",
      );
    }
  }
  const smtpFrom = env.SLIPWAY_SMTP_FROM === "" ? undefined : env.SLIPWAY_SMTP_FROM;
  if (smtpFrom !== undefined && !/^[^\s@<>]+@[^\s@<>]+$/.test(smtpFrom)) {
    throw new ConfigError(
      `SLIPWAY_SMTP_FROM=${JSON.stringify(smtpFrom)} is not an e-mail address.`,
    );
  }
  return {
    smtpUrl,
    smtpFrom,
    allowedPrivateHosts: readHostList(env, "SLIPWAY_ALLOW_PRIVATE_NOTIFICATION_HOSTS"),
  };
}

function readDomainsConfig(env: Env): DomainsConfig {
  const httpsRaw = env.SLIPWAY_HTTPS_PORT;
  const directory = env.SLIPWAY_ACME_DIRECTORY_URL;
  const certFile = env.SLIPWAY_SITES_CERT_FILE || undefined;
  const keyFile = env.SLIPWAY_SITES_KEY_FILE || undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(
      "SLIPWAY_SITES_CERT_FILE and SLIPWAY_SITES_KEY_FILE go together: set both (the wildcard certificate for the sites domain and its private key) or neither.",
    );
  }
  const email = env.SLIPWAY_ACME_EMAIL || undefined;
  if (email !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
    throw new ConfigError(`SLIPWAY_ACME_EMAIL=${JSON.stringify(email)} is not an e-mail address.`);
  }
  return {
    httpPort: env.SLIPWAY_HTTP_PORT ? readPort(env, "SLIPWAY_HTTP_PORT", 0) : undefined,
    httpsPort: httpsRaw === "off" ? null : readPort(env, "SLIPWAY_HTTPS_PORT", 8443),
    acme:
      directory === "off"
        ? null
        : {
            directoryUrl: readUrl(env, "SLIPWAY_ACME_DIRECTORY_URL", LETS_ENCRYPT_PRODUCTION),
            email,
            caFile: env.SLIPWAY_ACME_CA_FILE ? resolve(env.SLIPWAY_ACME_CA_FILE) : undefined,
            challengePort: readPort(env, "SLIPWAY_ACME_CHALLENGE_PORT", 80),
          },
    dnsServers: readHostList(env, "SLIPWAY_DNS_SERVERS"),
    publicAddresses: readAddressList(env, "SLIPWAY_PUBLIC_ADDRESSES"),
    sitesCertFile: certFile === undefined ? undefined : resolve(certFile),
    sitesKeyFile: keyFile === undefined ? undefined : resolve(keyFile),
    trustedProxies: readAddressList(env, "SLIPWAY_TRUSTED_PROXIES"),
  };
}

export function defaultStoragePolicy(): StoragePolicy {
  return { keepDeploys: 50, keepDeployDays: 30, gcGraceSeconds: 3600, gcIntervalSeconds: 21_600 };
}

function readStoragePolicy(env: Env): StoragePolicy {
  const defaults = defaultStoragePolicy();
  return {
    keepDeploys: readInteger(env, "SLIPWAY_KEEP_DEPLOYS", defaults.keepDeploys, {
      min: 1,
      max: 1_000_000,
    }),
    keepDeployDays: readInteger(env, "SLIPWAY_KEEP_DEPLOY_DAYS", defaults.keepDeployDays, {
      min: 0,
      max: 36_500,
    }),
    gcGraceSeconds: readInteger(env, "SLIPWAY_GC_GRACE_SECONDS", defaults.gcGraceSeconds, {
      min: 60,
      max: 30 * 86_400,
    }),
    gcIntervalSeconds: readInteger(env, "SLIPWAY_GC_INTERVAL_SECONDS", defaults.gcIntervalSeconds, {
      min: 0,
      max: 30 * 86_400,
    }),
  };
}

/** S3 bucket names: 3–63 lower-case letters, digits, dots and hyphens, alphanumeric at the ends. */
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function readDatabaseUrl(env: Env): { databaseUrl?: string } {
  const value = env.SLIPWAY_DATABASE_URL ?? "";
  if (value === "") return {};
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  // The URL holds a password: the message never repeats it.
  if (url === undefined || (url.protocol !== "postgres:" && url.protocol !== "postgresql:")) {
    throw new ConfigError(
      "SLIPWAY_DATABASE_URL must be a postgres:// URL (postgres://user:pass@host:5432/slipway).",
    );
  }
  return { databaseUrl: value };
}

function readBlobStoreConfig(env: Env): BlobStoreConfig {
  const kind = env.SLIPWAY_BLOB_STORE ?? "";
  if (kind === "" || kind === "local") return { kind: "local" };
  if (kind !== "s3") {
    throw new ConfigError(
      `SLIPWAY_BLOB_STORE=${JSON.stringify(kind)} must be local (the default) or s3.`,
    );
  }
  const bucket = env.SLIPWAY_S3_BUCKET ?? "";
  if (bucket === "") throw new ConfigError("SLIPWAY_BLOB_STORE=s3 needs SLIPWAY_S3_BUCKET.");
  if (!S3_BUCKET.test(bucket)) {
    throw new ConfigError(
      `SLIPWAY_S3_BUCKET=${JSON.stringify(bucket)} is not a bucket name (3 to 63 lower-case letters, digits, dots and hyphens).`,
    );
  }
  const endpoint = env.SLIPWAY_S3_ENDPOINT ? readUrl(env, "SLIPWAY_S3_ENDPOINT", "") : undefined;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined;
  return {
    kind: "s3",
    bucket,
    endpoint,
    forcePathStyle: readBoolean(env, "SLIPWAY_S3_FORCE_PATH_STYLE", false),
    region: region ?? (endpoint !== undefined ? "us-east-1" : undefined),
  };
}

function readBuildLimits(env: Env): BuildLimits {
  return {
    memoryBytes: readSize(env, "SLIPWAY_BUILD_MEMORY", 2 * GIB, { min: 64 * MIB }),
    maxProcesses: readInteger(env, "SLIPWAY_BUILD_PIDS", 1024, { min: 16, max: 1_000_000 }),
    cpuWeight: readInteger(env, "SLIPWAY_BUILD_CPU_WEIGHT", 100, { min: 1, max: 10_000 }),
    diskBytes: readSize(env, "SLIPWAY_BUILD_DISK", 10 * GIB, { min: MIB }),
    minFreeDiskBytes: readSize(env, "SLIPWAY_MIN_FREE_DISK", GIB, { min: 0 }),
  };
}

function readBuildToolchain(env: Env): BuildToolchainPolicy {
  let allowHosts: AllowEntry[];
  try {
    allowHosts = parseAllowHosts(env.SLIPWAY_BUILD_ALLOW_HOSTS);
  } catch (error) {
    throw new ConfigError(`SLIPWAY_BUILD_ALLOW_HOSTS: ${(error as Error).message}.`);
  }
  for (const entry of allowHosts) {
    if (entry.kind !== "range") continue;
    const never = neverReachedBy(entry.text, entry.family);
    if (never !== null) {
      throw new ConfigError(
        `SLIPWAY_BUILD_ALLOW_HOSTS: ${entry.text} is ${never === "platform" ? "the platform's own address (loopback, or the build network's alias of the host)" : "a cloud metadata / link-local range"}, which builds never reach, whatever is listed; remove it.`,
      );
    }
  }
  const optional = (name: string): string | undefined =>
    env[name] === undefined || env[name] === "" ? undefined : readUrl(env, name, "");
  const noProxy = env.SLIPWAY_BUILD_NO_PROXY?.trim() || undefined;
  if (noProxy !== undefined && /[\0\s]/.test(noProxy.replace(/ /g, ""))) {
    throw new ConfigError("SLIPWAY_BUILD_NO_PROXY must be a comma-separated list of hosts.");
  }
  return {
    allowHosts,
    npmRegistry: optional("SLIPWAY_BUILD_NPM_REGISTRY"),
    httpProxy: optional("SLIPWAY_BUILD_HTTP_PROXY"),
    httpsProxy: optional("SLIPWAY_BUILD_HTTPS_PROXY"),
    noProxy,
    caFile: env.SLIPWAY_BUILD_CA_FILE ? resolve(env.SLIPWAY_BUILD_CA_FILE) : undefined,
    corepackIntegrityKeys: env.SLIPWAY_BUILD_COREPACK_INTEGRITY_KEYS || undefined,
    nodeVersionsDir: env.SLIPWAY_NODE_VERSIONS_DIR
      ? resolve(env.SLIPWAY_NODE_VERSIONS_DIR)
      : undefined,
  };
}

function readMetricsConfig(env: Env, addressVariable: string): MetricsConfig {
  const token = readOptionalToken(env, "SLIPWAY_METRICS_TOKEN");
  const raw = env[addressVariable];
  if (raw === undefined || raw === "") return { token, address: undefined };
  if (parseListenAddress(raw) === undefined) {
    throw new ConfigError(
      `${addressVariable}=${JSON.stringify(raw)} must be host:port, e.g. 127.0.0.1:9464 or [::1]:9464.`,
    );
  }
  return { token, address: raw };
}
