import { rm } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../../lib/run.ts";
import { shellQuote } from "../../lib/shell.ts";
import { isoNow } from "../context.ts";
import type { Build, Site } from "../db/schema.ts";
import type { LeaseFence } from "../jobs/queue.ts";
import { gitEnvironment, HARDENING_CONFIG } from "../repos/git-command.ts";
import type { BuildLog } from "./build-log.ts";
import { runSandboxed } from "./sandbox/run.ts";
import { databaseUidAllocator } from "./sandbox/uid-leases.ts";
import type { BuildRunnerOptions } from "./stage.ts";

/**
 * Netlify's ignored builds: a push that changed nothing the site is built from ends `skipped`
 * instead of building. With an `ignore` command (netlify.toml), it decides — run in the
 * sandbox in the base directory with `CACHED_COMMIT_REF` and `COMMIT_REF`, and a read-only view
 * of the repository's history: exit 0 skips the build, anything else builds. Without one, a site
 * with a base directory is skipped when `git diff --quiet $CACHED_COMMIT_REF $COMMIT_REF --
 * <base>` finds no change (run by the platform on its own mirror). Only pushes are skipped: a
 * build asked for by hand, by a build hook or at link time always builds, as does the first
 * build of a branch.
 */

/** The commit of the branch's last successful build: Netlify's `CACHED_COMMIT_REF`. */
export async function lastBuiltCommit(
  ctx: BuildRunnerOptions["ctx"],
  build: Pick<Build, "id" | "site_id" | "branch">,
): Promise<string | null> {
  const row = await ctx.db
    .selectFrom("builds")
    .select("sha")
    .where("site_id", "=", build.site_id)
    .where("branch", "=", build.branch)
    .where("state", "=", "done")
    .where("sha", "is not", null)
    .where("id", "!=", build.id)
    .orderBy("finished_at", "desc")
    .limit(1)
    .executeTakeFirst();
  return row?.sha ?? null;
}

/** Where the ignore command finds the repository's history (removed before the build). */
const HISTORY_DIR = ".slipway-git";

/** Why the build is skipped, or null to build. Writes its reasoning to the log. */
export async function ignoredBecause(
  options: BuildRunnerOptions,
  args: {
    site: Site;
    build: Build;
    sha: string;
    ignoreCommand: string | null;
    log: Pick<BuildLog, "write" | "output">;
    workDir: string;
    signal: AbortSignal;
  },
): Promise<string | null> {
  const { site, build, sha, ignoreCommand, log, workDir } = args;
  const say = (line: string): void => log.write("preparing_repo", line);
  if (build.trigger !== "webhook") return null;
  if (ignoreCommand === null && site.base_dir === null) return null;
  const cached = await lastBuiltCommit(options.ctx, build);
  if (cached === null) {
    say(`No earlier build of ${build.branch} to compare with: building.`);
    return null;
  }
  const mirrorDir = join(options.mirrorRoot, `${site.id}.git`);
  if (ignoreCommand !== null) {
    say(`Running the ignore command to decide whether to build: ${ignoreCommand}`);
    const exitCode = await runIgnoreCommand(options, args, ignoreCommand, cached, mirrorDir);
    if (exitCode === 0)
      return `the ignore command exited with 0 (${cached.slice(0, 12)}..${sha.slice(0, 12)})`;
    say(`The ignore command exited with ${exitCode ?? "no code"}: building.`);
    return null;
  }
  const base = site.base_dir!;
  const diff = await run(
    "git",
    [
      ...HARDENING_CONFIG,
      `--git-dir=${mirrorDir}`,
      "diff",
      "--quiet",
      "--no-ext-diff",
      "--no-textconv",
      "--end-of-options",
      cached,
      sha,
      "--",
      base,
    ],
    { env: gitEnvironment(workDir), stdio: ["ignore", "ignore", "pipe"] },
  );
  if (diff.code === 0) {
    return `nothing changed under the base directory ${base} since ${cached.slice(0, 12)} (git diff --quiet ${cached.slice(0, 12)} ${sha.slice(0, 12)} -- ${base})`;
  }
  say(
    diff.code === 1
      ? `Changes under the base directory ${base} since ${cached.slice(0, 12)}: building.`
      : `Could not compare ${cached.slice(0, 12)} with ${sha.slice(0, 12)} (${diff.stderr.trim()}): building.`,
  );
  return null;
}

/**
 * The ignore command in the sandbox, like the build (it is the repository's code), with the two
 * commits' history fetched from the mirror into the checkout (GIT_DIR), removed afterwards.
 */
async function runIgnoreCommand(
  options: BuildRunnerOptions,
  args: Parameters<typeof ignoredBecause>[1],
  command: string,
  cached: string,
  mirrorDir: string,
): Promise<number | null> {
  const { ctx } = options;
  const { site, sha, log, workDir, signal } = args;
  const say = (line: string): void => log.write("preparing_repo", line, true);
  const gitDir = join(workDir, HISTORY_DIR);
  const git = (gitArgs: string[]): ReturnType<typeof run> =>
    run("git", [...HARDENING_CONFIG, "-c", "protocol.file.allow=always", ...gitArgs], {
      // Only from the platform's own mirror, on this disk.
      env: { ...gitEnvironment(workDir), GIT_ALLOW_PROTOCOL: "file" },
      stdio: ["ignore", "ignore", "pipe"],
    });
  try {
    for (const step of [["init", "--bare", "--quiet", "--", gitDir]]) {
      const done = await git(step);
      if (done.code !== 0)
        say(`Could not prepare the history for the ignore command: ${done.stderr.trim()}`);
    }
    // By refs: upload-pack serves only advertised commits, and both are reachable from them.
    const fetched = await git([
      `--git-dir=${gitDir}`,
      "fetch",
      "--quiet",
      "--no-tags",
      "--",
      mirrorDir,
      "+refs/*:refs/mirror/*",
    ]);
    if (fetched.code !== 0) {
      say(`Could not give the ignore command the repository's history: ${fetched.stderr.trim()}`);
    }
    const policy = ctx.config.builds.toolchain;
    const result = await runSandboxed({
      ...ctx.config.builds.limits,
      uids: databaseUidAllocator(ctx.db, ctx.now),
      ...options.sandbox,
      command:
        site.base_dir === null
          ? command
          : `cd -- ${shellQuote(site.base_dir)} || exit 2\n${command}`,
      workDir,
      env: {
        CACHED_COMMIT_REF: cached,
        COMMIT_REF: sha,
        GIT_DIR: `/build/${HISTORY_DIR}`,
        GIT_WORK_TREE: "/build",
      },
      network: site.build_network === 1,
      allowHosts: policy?.allowHosts ?? [],
      timeoutMs: Math.min(5 * 60_000, ctx.config.builds.timeoutSeconds * 1000),
      unsafeNoSandbox: ctx.config.builds.unsafeNoSandbox,
      hidePaths: [ctx.config.dataDir],
      signal,
      onLine: (line) =>
        line.stream === "system"
          ? log.write("preparing_repo", line.line, true)
          : log.output("preparing_repo", line.line),
    });
    return result.timedOut || result.cancelled ? null : result.exitCode;
  } finally {
    await rm(gitDir, { recursive: true, force: true });
  }
}

/** Ends a build that is not needed: the build `done`, its deploy `skipped`, the reason logged. */
export async function skipBuild(
  ctx: BuildRunnerOptions["ctx"],
  build: Build,
  reason: string,
  log: BuildLog,
  fence: LeaseFence,
): Promise<void> {
  log.write("preparing_repo", `Skipping the build: ${reason}.`);
  log.write("cleanup", "Build skipped: the site's live deploy is unchanged.");
  await log.close();
  const now = isoNow(ctx);
  await ctx.db.transaction().execute(async (trx) => {
    if (!(await ctx.jobs.holds(fence, trx))) return;
    const row = await trx
      .updateTable("builds")
      .set({ state: "done", finished_at: now, updated_at: now })
      .where("id", "=", build.id)
      .where("state", "=", "building")
      .returning("deploy_id")
      .executeTakeFirst();
    if (row?.deploy_id) {
      await trx
        .updateTable("deploys")
        .set({ state: "skipped", updated_at: now })
        .where("id", "=", row.deploy_id)
        .execute();
    }
  });
}
