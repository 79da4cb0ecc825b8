import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { defaultStoragePolicy, loadConfig } from "../config.ts";
import { migrate, openSqlite } from "../lib/database.ts";
import { createLogger } from "../lib/logger.ts";
import { openPostgres } from "../lib/postgres.ts";
import { formatSize } from "../lib/sizes.ts";
import { platformMigrations } from "../platform/db/migrations.ts";
import type { PlatformDatabase } from "../platform/db/schema.ts";
import { CollectableBlobStore } from "../platform/deploys/collectable-blobs.ts";
import { LocalManifestStore } from "../platform/deploys/manifest.ts";
import { openDeployStores } from "../platform/deploys/open-stores.ts";
import { openJobQueue } from "../platform/jobs/open-queue.ts";
import { migrateInstall, MigrationRefusedError } from "../platform/storage/migrate-install.ts";

/**
 * `slipway migrate-to`: copies this data directory's install (SQLite and the deploys on local
 * disk) into an empty PostgreSQL database and, with `--blob-store s3`, the bucket the
 * `SLIPWAY_S3_*` settings name (docs/scale-out.md). Slipway must be stopped while it runs.
 */

const USAGE = `Usage: slipway migrate-to --database-url postgres://… [--blob-store local|s3]
  --database-url  the empty PostgreSQL database to fill (or SLIPWAY_MIGRATE_DATABASE_URL, which
                  keeps a password out of the process list)
  --blob-store    s3: copy deploy files to the bucket of SLIPWAY_S3_BUCKET, SLIPWAY_S3_ENDPOINT…;
                  local (default): they stay in this data directory
Run it with Slipway stopped; afterwards start every node with SLIPWAY_DATABASE_URL (and
SLIPWAY_BLOB_STORE=s3) and this install's SLIPWAY_MASTER_KEY.`;

type Env = Record<string, string | undefined>;

/** A database URL fit for messages: the password replaced. */
export function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(not a URL)";
  }
}

export async function migrateToCommand(
  args: readonly string[],
  env: Env = process.env,
): Promise<number> {
  let values: { "database-url"?: string; "blob-store"?: string };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: { "database-url": { type: "string" }, "blob-store": { type: "string" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`slipway migrate-to: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const databaseUrl = values["database-url"] ?? env.SLIPWAY_MIGRATE_DATABASE_URL;
  const blobStore = values["blob-store"] ?? "local";
  if (databaseUrl === undefined || !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    console.error(`slipway migrate-to: a postgres:// database URL is required\n${USAGE}`);
    return 2;
  }
  if (blobStore !== "local" && blobStore !== "s3") {
    console.error(`slipway migrate-to: --blob-store is local or s3, not ${blobStore}\n${USAGE}`);
    return 2;
  }

  const config = loadConfig(env).platform;
  if (config.databaseUrl !== undefined) {
    console.error(
      "slipway migrate-to: this install already runs on PostgreSQL (SLIPWAY_DATABASE_URL is set)",
    );
    return 1;
  }
  const sqlitePath = join(config.dataDir, "platform.sqlite3");
  if (!existsSync(sqlitePath)) {
    console.error(`slipway migrate-to: no platform database at ${sqlitePath} (SLIPWAY_DATA_DIR)`);
    return 1;
  }
  const graceMs = (config.storage ?? defaultStoragePolicy()).gcGraceSeconds * 1000;
  const deployRoot = join(config.dataDir, "deploys");
  const log = createLogger({ name: "slipway-migrate", level: env.SLIPWAY_LOG_LEVEL ?? "warn" });
  const sourceDb = openSqlite<PlatformDatabase>(sqlitePath);
  const targetDb = openPostgres<PlatformDatabase>(databaseUrl);
  try {
    await migrate(sourceDb, platformMigrations);
    await migrate(targetDb, platformMigrations);
    const jobs = await openJobQueue(targetDb, databaseUrl, log, { listen: false });
    const target =
      blobStore === "s3"
        ? {
            db: targetDb,
            jobs,
            ...(await openDeployStores(
              loadConfig({ ...env, SLIPWAY_BLOB_STORE: "s3" }).platform.blobStore,
              deployRoot,
              { graceMs },
            )),
          }
        : { db: targetDb, jobs };
    console.log(`Copying ${config.dataDir} into ${withoutPassword(databaseUrl)}…`);
    const report = await migrateInstall(
      {
        db: sourceDb,
        blobs: await CollectableBlobStore.open(deployRoot, { graceMs }),
        manifests: await LocalManifestStore.open(deployRoot),
      },
      target,
      (line) => console.log(`  ${line}`),
    );
    const rows = report.tables.reduce((sum, table) => sum + table.rows, 0);
    console.log(
      [
        `Done: ${rows} rows in ${report.tables.length} tables, ${report.jobsRequeued} open jobs enqueued again.`,
        blobStore === "s3"
          ? `Deploy files: ${report.blobsCopied} copied (${formatSize(report.blobBytesCopied)}), ${report.blobsPresent} already in the bucket, ${report.manifestsCopied} manifests.`
          : `Deploy files stay in ${deployRoot}: every node needs that directory (or run again with --blob-store s3).`,
        "Start the nodes with SLIPWAY_DATABASE_URL set to that database" +
          (blobStore === "s3" ? ", SLIPWAY_BLOB_STORE=s3" : "") +
          ` and this install's master key as SLIPWAY_MASTER_KEY (${
            config.masterKey === undefined
              ? `the contents of ${join(config.dataDir, "master.key")}`
              : "the one set now"
          }): the secrets in the database are sealed with it.`,
      ].join("\n"),
    );
    return 0;
  } catch (error) {
    if (error instanceof MigrationRefusedError) {
      console.error(`slipway migrate-to: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await sourceDb.destroy();
    await targetDb.destroy();
  }
}
