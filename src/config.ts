import { isIP } from "node:net";
import { resolve } from "node:path";

/** Everything Slipway reads from the environment, validated once at start. */
export interface SlipwayConfig {
  dataDir: string;
  host: string;
  logLevel: string;
  forge: ForgeConfig;
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
  allowLocalWebhooks: boolean;
  webhooks: WebhookPolicy;
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

export class ConfigError extends Error {
  override name = "ConfigError";
}

type Env = Record<string, string | undefined>;

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
    webhooks: defaultWebhookPolicy(),
  };
  return { dataDir, host, logLevel: readLogLevel(env), forge };
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

function readPort(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not a TCP port (0-65535).`);
  }
  return port;
}

function readHost(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (isIP(raw) === 0 && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/.test(raw)) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not an IP address or host name.`);
  }
  return raw;
}

function readBoolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new ConfigError(`${name}=${JSON.stringify(raw)} must be true or false.`);
}

function readUrl(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not a URL.`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`${name} must be an http:// or https:// URL.`);
  }
  return raw.replace(/\/+$/, "");
}

function readOptionalToken(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  if (!/^[A-Za-z0-9._~+/=-]{20,255}$/.test(raw)) {
    throw new ConfigError(
      `${name} must be 20 to 255 characters of letters, digits and ._~+/=- (no spaces).`,
    );
  }
  return raw;
}

function readLogLevel(env: Env): string {
  const raw = env.SLIPWAY_LOG_LEVEL ?? "info";
  const levels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
  if (!levels.includes(raw)) {
    throw new ConfigError(`SLIPWAY_LOG_LEVEL must be one of ${levels.join(", ")}.`);
  }
  return raw;
}

function hostForUrl(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}
