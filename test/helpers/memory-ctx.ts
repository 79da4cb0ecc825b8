import { randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import { migrate, openSqlite } from "../../src/lib/database.ts";
import { objectId, uuid } from "../../src/lib/ids.ts";
import { openPostgres } from "../../src/lib/postgres.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { SecretBox } from "../../src/lib/secret-box.ts";
import type { PlatformContext } from "../../src/platform/context.ts";
import { platformMigrations } from "../../src/platform/db/migrations.ts";
import type { PlatformDatabase, Site } from "../../src/platform/db/schema.ts";
import { SqlJobQueue, type JobQueue } from "../../src/platform/jobs/queue.ts";
import { sharedTestPostgres } from "./postgres.ts";

/**
 * A platform context on an in-memory SQLite database with a clock the test moves, for unit
 * tests of the queue and the build services (no HTTP, no files).
 */
export interface MemoryContext {
  ctx: PlatformContext;
  queue: JobQueue;
  /** Moves the clock forward. */
  advance(ms: number): void;
  /** An account with a linked site (branch `main`). */
  createSite(overrides?: Partial<Site>): Promise<Site>;
  close(): Promise<void>;
}

export interface MemoryContextOptions {
  /** Another job queue than `SqlJobQueue` (`databaseUrl`: the Postgres database, if any). */
  queue?: (
    db: Kysely<PlatformDatabase>,
    now: () => Date,
    databaseUrl?: string,
  ) => Promise<JobQueue>;
}

export async function memoryContext(options: MemoryContextOptions = {}): Promise<MemoryContext> {
  // `SLIPWAY_TEST_DATABASE=postgres`: the same unit tests on a fresh Postgres database.
  const databaseUrl =
    process.env.SLIPWAY_TEST_DATABASE === "postgres"
      ? await (await sharedTestPostgres()).createDatabase()
      : undefined;
  const db =
    databaseUrl !== undefined
      ? openPostgres<PlatformDatabase>(databaseUrl)
      : openSqlite<PlatformDatabase>(":memory:");
  await migrate(db, platformMigrations);
  let clock = Date.parse("2026-01-01T00:00:00.000Z");
  const now = (): Date => new Date(clock);
  const queue = options.queue
    ? await options.queue(db, now, databaseUrl)
    : new SqlJobQueue(db, now);
  const ctx: PlatformContext = {
    db,
    config: {
      dataDir: "/nonexistent",
      host: "127.0.0.1",
      port: 8080,
      sitesDomain: "localhost",
      publicUrl: "http://127.0.0.1:8080",
      adminToken: undefined,
      masterKey: undefined,
      builds: { workers: 2, timeoutSeconds: 60, unsafeNoSandbox: false },
      allowedPrivateRepoHosts: [],
    },
    log: createLogger({ name: "test", level: "silent" }),
    secrets: new SecretBox(randomBytes(32)),
    resolveHost: async () => ["192.0.2.1"],
    now,
    jobs: queue,
  };
  let sites = 0;
  return {
    ctx,
    queue,
    advance: (ms) => {
      clock += ms;
    },
    createSite: async (overrides = {}) => {
      const at = now().toISOString();
      const accountId = objectId();
      await db
        .insertInto("accounts")
        .values({
          id: accountId,
          slug: `acct-${++sites}`,
          name: "Test",
          type: "personal",
          created_at: at,
          updated_at: at,
        })
        .execute();
      const site: Site = {
        id: uuid(),
        account_id: accountId,
        created_by: null,
        name: `site-${sites}`,
        state: "current",
        repo_provider: "git",
        repo_url: "ssh://git@git.example/o/r.git",
        repo_path: null,
        repo_id: null,
        repo_branch: "main",
        build_cmd: null,
        publish_dir: null,
        base_dir: null,
        deploy_key_id: null,
        allowed_branches: '["main"]',
        env_sealed: null,
        stop_builds: 0,
        build_network: 1,
        deploy_previews: 1,
        webhook_secret_sealed: null,
        installation_id: null,
        connection_id: null,
        link_broken_reason: null,
        published_deploy_id: null,
        created_at: at,
        updated_at: at,
        ...overrides,
      };
      await db.insertInto("sites").values(site).execute();
      return site;
    },
    close: () => db.destroy(),
  };
}
