import { isIP } from "node:net";
import { parseSize, formatSize } from "./lib/sizes.ts";

/**
 * Reading one environment variable: a port, a size, a host, a URL, a list… each checked, each
 * refusal a `ConfigError` naming the variable. `config.ts` composes them into the config.
 */

export class ConfigError extends Error {
  override name = "ConfigError";
}

export type Env = Record<string, string | undefined>;

/** A comma-separated list of IP addresses. */
export function readAddressList(env: Env, name: string): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return [];
  return raw
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "")
    .map((item) => {
      if (isIP(item) === 0) {
        throw new ConfigError(`${name}: ${JSON.stringify(item)} is not an IP address.`);
      }
      return item.toLowerCase();
    });
}

export const MIB = 1024 ** 2;
export const GIB = 1024 ** 3;

export function readSize(env: Env, name: string, fallback: number, range: { min: number }): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const bytes = parseSize(raw);
  if (bytes === undefined || bytes < range.min) {
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} must be a size like 512M or 2G (K, M, G, T: powers of 1024)` +
        (range.min > 0 ? ` of at least ${formatSize(range.min)}.` : "."),
    );
  }
  return bytes;
}

/**
 * Prometheus `/metrics`: with `SLIPWAY_METRICS_TOKEN` on the server's own port for readers that
 * send it; with an address (`host:port`) on a listener of its own there (the token is asked
 * there too when set). Neither: no `/metrics` at all.
 */

export function readPort(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not a TCP port (0-65535).`);
  }
  return port;
}

export function readInteger(
  env: Env,
  name: string,
  fallback: number,
  range: { min: number; max: number },
): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < range.min || value > range.max) {
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} must be a whole number from ${range.min} to ${range.max}.`,
    );
  }
  return value;
}

const DNS_NAME =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function readDomain(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const domain = raw.toLowerCase().replace(/\.$/, "");
  if (!DNS_NAME.test(domain)) {
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} is not a DNS name (letters, digits, hyphens and dots, e.g. sites.example.com).`,
    );
  }
  return domain;
}

export function readMasterKey(env: Env, name: string): Buffer | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(raw) ? Buffer.from(raw, "base64") : Buffer.alloc(0);
  if (key.length !== 32) {
    // The value itself is a secret: the message never repeats it.
    throw new ConfigError(
      `${name} must be 32 random bytes in base64 (44 characters; e.g. the output of \`openssl rand -base64 32\`).`,
    );
  }
  return key;
}

/** `host` or `host:port` (IPv6 as `[addr]` or `[addr]:port`), lower case. */
export function readHostList(env: Env, name: string): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return [];
  const entries: string[] = [];
  for (const item of raw.split(",")) {
    const entry = item.trim().toLowerCase();
    if (entry === "") continue;
    const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(entry);
    const host = match?.[1] ?? "";
    const port = match?.[2];
    const hostOk = host.startsWith("[")
      ? isIP(host.slice(1, -1)) === 6
      : isIP(host) === 4 || DNS_NAME.test(host);
    if (!match || !hostOk || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
      throw new ConfigError(
        `${name}: ${JSON.stringify(item.trim())} is not a host or host:port (e.g. git.internal:22, 10.0.0.5, [fd00::1]:2222).`,
      );
    }
    entries.push(port === undefined ? host : `${host}:${port}`);
  }
  return entries;
}

/** A host as it appears in an allow-list entry: lower case, IPv6 in brackets. */
export function normalizeHostEntry(host: string): string {
  const bare = host.toLowerCase().replace(/^\[|\]$/g, "");
  return isIP(bare) === 6 ? `[${bare}]` : bare;
}

export function readHost(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (isIP(raw) === 0 && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/.test(raw)) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not an IP address or host name.`);
  }
  return raw;
}

export function readBoolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new ConfigError(`${name}=${JSON.stringify(raw)} must be true or false.`);
}

export function readUrl(env: Env, name: string, fallback: string): string {
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

export function readOptionalToken(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  if (!/^[A-Za-z0-9._~+/=-]{20,255}$/.test(raw)) {
    throw new ConfigError(
      `${name} must be 20 to 255 characters of letters, digits and ._~+/=- (no spaces).`,
    );
  }
  return raw;
}

export function readLogLevel(env: Env): string {
  const raw = env.SLIPWAY_LOG_LEVEL ?? "info";
  const levels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
  if (!levels.includes(raw)) {
    throw new ConfigError(`SLIPWAY_LOG_LEVEL must be one of ${levels.join(", ")}.`);
  }
  return raw;
}

export function hostForUrl(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}
