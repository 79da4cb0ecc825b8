import { existsSync } from "node:fs";
import { join } from "node:path";
import { defaultStoragePolicy, loadConfig } from "../config.ts";
import { migrate, openDatabase } from "../lib/database.ts";
import { createLogger } from "../lib/logger.ts";
import { formatSize } from "../lib/sizes.ts";
import { prepareBuildDirs } from "../platform/builds/dirs.ts";
import { platformMigrations } from "../platform/db/migrations.ts";
import type { PlatformDatabase } from "../platform/db/schema.ts";
import { openDeployStores } from "../platform/deploys/open-stores.ts";
import { collectGarbage, GcBusyError, type GcReport } from "../platform/storage/gc.ts";

/**
 * `slipway gc [--dry-run]`: one garbage collection now — deploy retention, then unreferenced
 * blobs and leftovers past the grace period (docs/production.md, "Storage") — while Slipway
 * runs or not; the database keeps it to one collection at a time.
 */

const USAGE = `Usage: slipway gc [--dry-run]
  --dry-run  say what a collection would free (bytes and counts), changing nothing`;

type Env = Record<string, string | undefined>;

export function describeReport(report: GcReport): string {
  const verb = report.dryRun ? "would " : "";
  return [
    `Deploys past retention: ${report.expiredDeploys} ${verb}expire.`,
    `Blobs: ${report.blobsScanned} in the store, ${report.blobsMarked} in use; ${report.blobsRemoved} ${verb}be removed, ${formatSize(report.blobBytesFreed)} (${report.blobBytesFreed} bytes).`,
    `Leftovers (uploads, temp files, build directories): ${report.leftoversRemoved} ${verb}be removed, ${formatSize(report.leftoverBytesFreed)} (${report.leftoverBytesFreed} bytes).`,
    `${report.dryRun ? "Would free" : "Freed"} ${formatSize(report.blobBytesFreed + report.leftoverBytesFreed)} in all.`,
  ].join("\n");
}

export async function gcCommand(args: readonly string[], env: Env = process.env): Promise<number> {
  const dryRun = args.includes("--dry-run");
  if (args.some((arg) => arg !== "--dry-run")) {
    console.error(USAGE);
    return 2;
  }
  const config = loadConfig(env).platform;
  const sqlitePath = join(config.dataDir, "platform.sqlite3");
  if (config.databaseUrl === undefined && !existsSync(sqlitePath)) {
    console.error(`slipway gc: no platform database at ${sqlitePath} (SLIPWAY_DATA_DIR)`);
    return 1;
  }
  const db = openDatabase<PlatformDatabase>({ url: config.databaseUrl, sqlitePath });
  try {
    await migrate(db, platformMigrations);
    const policy = config.storage ?? defaultStoragePolicy();
    const deployRoot = join(config.dataDir, "deploys");
    const report = await collectGarbage(
      {
        db,
        config,
        log: createLogger({ name: "slipway-gc", level: env.SLIPWAY_LOG_LEVEL ?? "warn" }),
        now: () => new Date(),
      },
      {
        ...(await openDeployStores(config.blobStore, deployRoot, {
          graceMs: policy.gcGraceSeconds * 1000,
        })),
        uploadDir: join(deployRoot, "uploads"),
        workRoot: (await prepareBuildDirs(config.dataDir)).workRoot,
      },
      { dryRun, policy },
    );
    console.log(describeReport(report));
    return 0;
  } catch (error) {
    if (error instanceof GcBusyError) {
      console.error(`slipway gc: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await db.destroy();
  }
}
