import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { appendFile, chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "./acme.ts";

/**
 * A throwaway PostgreSQL cluster for tests: Debian's `postgresql` (scripts/setup.sh installs
 * it), `initdb` in a temp directory, started with `pg_ctl` on a free loopback port with its
 * unix socket in that directory, and removed by `stop()`. Postgres refuses to run as root, so
 * under root the cluster runs as the `postgres` system user (or `nobody`). One cluster per test
 * file; `createDatabase()` gives each test platform a fresh database.
 */
export interface TestPostgres {
  /** `postgres://…` of the cluster's maintenance database. */
  url: string;
  /** A new, empty database; returns its URL. */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
  /** `stop()` for a process `exit` handler, where nothing asynchronous runs. */
  stopSync(): void;
}

const run = promisify(execFile);

/** The directory of `initdb`/`pg_ctl`: Debian keeps them out of PATH, per major version. */
function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, "bin", "initdb")))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return join(root, versions[0], "bin");
  }
  return undefined;
}

/** Why the Postgres tests cannot run here (to skip with), or undefined when they can. */
export function missingPostgres(): string | undefined {
  return postgresBinDir() === undefined
    ? "PostgreSQL is not installed (scripts/setup.sh installs Debian's postgresql)"
    : undefined;
}

/** The unprivileged user the cluster runs as when the tests run as root. */
async function clusterUser(): Promise<{ name: string; uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ["postgres", "nobody"]) {
    try {
      const uid = Number((await run("id", ["-u", name])).stdout.trim());
      const gid = Number((await run("id", ["-g", name])).stdout.trim());
      return { name, uid, gid };
    } catch {
      // Not on this machine: try the next.
    }
  }
  throw new Error("no unprivileged user (postgres, nobody) to run PostgreSQL as");
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const binDir = postgresBinDir();
  if (binDir === undefined) throw new Error(missingPostgres());
  const user = await clusterUser();
  const argv = (command: string, args: string[]): [string, string[]] =>
    user === undefined
      ? [join(binDir, command), args]
      : ["runuser", ["-u", user.name, "--", join(binDir, command), ...args]];
  const asClusterUser = (command: string, args: string[]) => run(...argv(command, args));

  const dir = await mkdtemp(join(tmpdir(), "slipway-pg-"));
  const dataDir = join(dir, "data");
  const superuser = "postgres";
  let started = false;
  const stop = async (): Promise<void> => {
    if (started) {
      started = false;
      await asClusterUser("pg_ctl", ["stop", "-D", dataDir, "-m", "immediate", "-w"]).catch(
        () => undefined,
      );
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    if (user !== undefined) await chown(dir, user.uid, user.gid);
    await asClusterUser("initdb", [
      "-D",
      dataDir,
      "-U",
      superuser,
      "--auth=trust",
      "--encoding=UTF8",
      "--locale=C",
      "--no-sync",
    ]);
    const port = await freePort();
    // Settings in the file rather than `pg_ctl -o`, which goes through a shell. No fsync: a
    // test cluster never outlives a crash.
    await appendFile(
      join(dataDir, "postgresql.conf"),
      [
        `port = ${port}`,
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${dir}'`,
        "fsync = off",
        "full_page_writes = off",
        "max_connections = 200",
        "",
      ].join("\n"),
    );
    await asClusterUser("pg_ctl", ["start", "-D", dataDir, "-l", join(dir, "server.log"), "-w"]);
    started = true;
    const base = `postgres://${superuser}@127.0.0.1:${port}`;
    return {
      url: `${base}/postgres`,
      createDatabase: async () => {
        const name = `slipway_${randomBytes(6).toString("hex")}`;
        const client = new pg.Client({ connectionString: `${base}/postgres` });
        await client.connect();
        try {
          await client.query(`create database ${name}`);
        } finally {
          await client.end();
        }
        return `${base}/${name}`;
      },
      stop,
      stopSync: () => {
        if (started) {
          started = false;
          try {
            execFileSync(...argv("pg_ctl", ["stop", "-D", dataDir, "-m", "immediate", "-w"]));
          } catch {
            // Already gone.
          }
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

let shared: Promise<TestPostgres> | undefined;

/**
 * This test process's one cluster, started on first use and stopped when the process exits
 * (`SLIPWAY_TEST_DATABASE=postgres` runs whole API suites on it; see `startTestPlatform`).
 */
export function sharedTestPostgres(): Promise<TestPostgres> {
  if (shared === undefined) {
    shared = startTestPostgres().then((cluster) => {
      process.once("exit", () => cluster.stopSync());
      return cluster;
    });
  }
  return shared;
}
