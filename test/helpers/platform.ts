import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { BuildPolicy, PlatformConfig } from "../../src/config.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { systemResolver, type ResolveHost } from "../../src/platform/repos/host-guard.ts";
import {
  startPlatform,
  type PlatformOptions,
  type RunningPlatform,
} from "../../src/platform/server.ts";
import { callJsonApi, type ApiResponse } from "./json-api.ts";
import { sharedTestPostgres, type TestPostgres } from "./postgres.ts";

export type { ApiResponse };

export const ADMIN_TOKEN = "slp_test-admin-token-0123456789abcdef";

export interface Tenant {
  userId: string;
  accountId: string;
  accountSlug: string;
  email: string;
  token: string;
}

export interface TestPlatform {
  platform: RunningPlatform;
  url: string;
  dataDir: string;
  adminToken: string;
  /** Every log line the platform wrote (pino JSON, level trace), as text. */
  logs: string[];
  /** The text of every response `api()` received, for leak checks. */
  responses: string[];
  /**
   * Calls `/api/v1${path}` with a bearer token (the admin's by default; `null` for none).
   * `body` is sent as JSON unless it is a string, which is sent as is.
   */
  api<T = unknown>(
    method: string,
    path: string,
    options?: { token?: string | null; body?: unknown; headers?: Record<string, string> },
  ): Promise<ApiResponse<T>>;
  /** Creates a user with its own account and token through `POST /api/v1/admin/users`. */
  createTenant(name: string): Promise<Tenant>;
  stop(): Promise<void>;
}

/**
 * Public addresses for the third-party hosts tests name, so that tests do not depend on this
 * machine's DNS; every other name goes to the system resolver (so `localhost` is 127.0.0.1).
 */
export const TEST_HOSTS: Readonly<Record<string, string[]>> = {
  "github.com": ["140.82.121.4"],
  "gitlab.com": ["172.65.251.78"],
  "bitbucket.org": ["104.192.141.1"],
  "rebind.example": ["10.1.2.3"],
  "metadata.example": ["169.254.169.254"],
};

export function testResolver(extra: Record<string, string[]> = {}): ResolveHost {
  const table: Record<string, string[]> = { ...TEST_HOSTS, ...extra };
  return async (host) => table[host] ?? systemResolver(host);
}

/** Builds as test platforms run them unless told otherwise: one worker, in the sandbox. */
export const TEST_BUILD_POLICY: Readonly<BuildPolicy> = {
  workers: 1,
  timeoutSeconds: 60,
  unsafeNoSandbox: false,
};

/**
 * The configuration every test platform starts with (loopback, a fresh master key, one build
 * worker in the sandbox), with `overrides` on top.
 */
export function testPlatformConfig(
  dataDir: string,
  overrides: Partial<PlatformConfig> = {},
): PlatformConfig {
  return {
    dataDir,
    host: "127.0.0.1",
    port: 0,
    sitesDomain: "localhost",
    publicUrl: "http://127.0.0.1:0",
    adminToken: ADMIN_TOKEN,
    masterKey: randomBytes(32),
    builds: { ...TEST_BUILD_POLICY },
    allowedPrivateRepoHosts: [],
    ...overrides,
  };
}

/** Each data directory's Postgres database: a restart on the same directory finds its state. */
const postgresDatabases = new Map<string, Promise<string>>();

function postgresDatabaseFor(cluster: TestPostgres, dataDir: string): Promise<string> {
  const key = `${cluster.url} ${dataDir}`;
  let url = postgresDatabases.get(key);
  if (url === undefined) {
    url = cluster.createDatabase();
    postgresDatabases.set(key, url);
  }
  return url;
}

export async function startTestPlatform(
  options: {
    config?: Partial<PlatformConfig>;
    hosts?: Record<string, string[]>;
    /** Start options beyond DNS, e.g. `{ buildWorkers: false }` to keep builds queued. */
    platform?: Omit<PlatformOptions, "resolveHost">;
    /**
     * Start on an existing data directory (a restart; pass the same `config.masterKey`). The
     * caller owns it: `stop()` leaves it in place.
     */
    dataDir?: string;
    /**
     * Where the platform's state lives: SQLite in the data directory (the default), or a fresh
     * database of this test cluster (`startTestPostgres`). `SLIPWAY_TEST_DATABASE=postgres`
     * makes the process's shared cluster the default, to run whole API suites on Postgres.
     */
    database?: TestPostgres;
  } = {},
): Promise<TestPlatform> {
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "slipway-platform-")));
  const cluster =
    options.database ??
    (process.env.SLIPWAY_TEST_DATABASE === "postgres" ? await sharedTestPostgres() : undefined);
  const config = testPlatformConfig(dataDir, {
    ...(cluster ? { databaseUrl: await postgresDatabaseFor(cluster, dataDir) } : {}),
    ...options.config,
  });
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString("utf8"));
      callback();
    },
  });
  const logger = createLogger({ name: "platform-test", level: "trace", destination });
  const platform = await startPlatform(config, logger, {
    ...options.platform,
    resolveHost: testResolver(options.hosts),
  });
  const url = platform.url;
  const responses: string[] = [];

  const api: TestPlatform["api"] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? ADMIN_TOKEN : opts.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const response = await callJsonApi<never>(`${url}/api/v1${path}`, method, headers, opts.body);
    responses.push(response.text);
    return response;
  };

  const createTenant: TestPlatform["createTenant"] = async (name) => {
    const email = `${name}@example.test`;
    const created = await api<{
      user: { id: string };
      account: { id: string; slug: string };
      token: string;
    }>("POST", "/admin/users", { body: { email, full_name: name } });
    if (created.status !== 201) throw new Error(`createTenant: ${created.status} ${created.text}`);
    return {
      userId: created.body.user.id,
      accountId: created.body.account.id,
      accountSlug: created.body.account.slug,
      email,
      token: created.body.token,
    };
  };

  return {
    platform,
    url,
    dataDir,
    adminToken: ADMIN_TOKEN,
    logs,
    responses,
    api,
    createTenant,
    stop: async () => {
      await platform.stop();
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
