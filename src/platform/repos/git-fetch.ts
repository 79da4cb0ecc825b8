import { existsSync } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { isGitObjectId } from "../../lib/git-ids.ts";
import { isValidBranchName } from "../../lib/git-refs.ts";
import { GitFetchError } from "./diagnose.ts";
import { listBranches } from "./git-branches.ts";
import { parseCommitObject, type CommitInfo } from "./commit-info.ts";
import { notAllowed, withGitSession, type GitAccess, type GitSession } from "./git-session.ts";
export { GitFetchError, type GitErrorCode, type GitProvider } from "./diagnose.ts";

/**
 * Fetches a site's repository with the system git over SSH (or HTTPS: public repositories, or
 * private ones with a GitHub App installation token), into a per-site bare mirror, and checks a
 * commit out into the build directory.
 *
 * The connection (key file, pinned host keys, checked address) is a `git-session.ts`; every git
 * command runs with `git-command.ts`'s hardening (no system or global config, ssh and https only,
 * no prompts, credential helpers, redirects or submodules). Refs and URLs always follow
 * `--end-of-options`.
 */

export interface FetchOptions extends GitAccess {
  branch: string;
  /**
   * Fetch this ref instead of the branch (a pull/merge request's head: `refs/pull/5/head`,
   * `refs/merge-requests/3/head`); it is kept in the mirror under `refs/slipway/`.
   */
  fetchRef?: string;
  /** Build this commit (it must be on the branch); default the branch's head. */
  commit?: string;
  /** The site's bare mirror; created on first use, fetched into incrementally afterwards. */
  mirrorDir: string;
  /** Where the commit's files go; must not exist or be empty. No `.git` is written there. */
  checkoutDir: string;
}

export interface FetchResult {
  sha: string;
  branch: string;
  /** The commit's author and subject (null fields when unreadable). */
  commit: CommitInfo;
  /** The branch's commit in the mirror before this fetch (the previously fetched one). */
  previousSha: string | undefined;
  /** Host keys were recorded during this fetch (first contact). */
  hostKeyRecorded: boolean;
  fetchMs: number;
  checkoutMs: number;
  durationMs: number;
}

/** git's complaints about the local repository (not the remote one). */
const LOCAL_DAMAGE =
  /not a git repository|fatal: bad object|is corrupt|unable to read [0-9a-f]{40}|cannot lock ref|fatal: loose object|bad config|unable to write/i;

/** Fetches `branch` into the site's mirror and checks it (or `commit`) out into `checkoutDir`. */
export async function fetchRepository(options: FetchOptions): Promise<FetchResult> {
  const started = performance.now();
  if (!isValidBranchName(options.branch)) {
    throw notAllowed(
      `the branch name ${JSON.stringify(options.branch)} is not a valid git branch name`,
    );
  }
  if (options.commit !== undefined && !isGitObjectId(options.commit)) {
    throw notAllowed(`the commit ${JSON.stringify(options.commit)} is not a full hexadecimal sha`);
  }
  if (options.fetchRef !== undefined && !isFetchableRef(options.fetchRef)) {
    throw notAllowed(`the ref ${JSON.stringify(options.fetchRef)} is not a valid git ref to fetch`);
  }
  const remoteRef = options.fetchRef ?? `refs/heads/${options.branch}`;
  const ref = options.fetchRef === undefined ? remoteRef : `refs/slipway/${remoteRef.slice(5)}`;
  const what = options.fetchRef ?? `branch ${options.branch}`;
  return withGitSession(options, async (session) => {
    await ensureMirror(options.mirrorDir, session);
    const previousSha = await revParse(options.mirrorDir, ref, session);

    const fetchStarted = performance.now();
    options.onLog?.(`Fetching ${what} from ${session.repo.url}`);
    const fetch = () =>
      session.git(
        [
          `--git-dir=${options.mirrorDir}`,
          "fetch",
          "--prune",
          "--no-tags",
          "--no-write-fetch-head",
          "--no-recurse-submodules",
          "--end-of-options",
          session.repo.url,
          `+${remoteRef}:${ref}`,
        ],
        { network: true },
      );
    let fetched = await fetch();
    if (fetched.code !== 0 && !fetched.timedOut && LOCAL_DAMAGE.test(fetched.stderr)) {
      // The mirror itself is damaged (disk trouble, a crash mid-write): rebuild it once.
      options.onLog?.("The site's git mirror is damaged; fetching it again from scratch");
      await rm(options.mirrorDir, { recursive: true, force: true });
      await ensureMirror(options.mirrorDir, session);
      fetched = await fetch();
    }
    if (
      fetched.code !== 0 &&
      options.fetchRef !== undefined &&
      /couldn't find remote ref/i.test(fetched.stderr)
    ) {
      throw new GitFetchError({
        code: "ref_not_found",
        message: `The repository ${session.repo.url} has no ${options.fetchRef}: the pull or merge request may have been deleted, or the site's repository is not the one the request was opened against.`,
        detail: fetched.stderr.replaceAll(session.tempDir, "<temp>").trim(),
      });
    }
    if (fetched.code !== 0) {
      let remoteBranches: string[] | undefined;
      if (/couldn't find remote ref/i.test(fetched.stderr)) {
        remoteBranches = await listBranches(session).catch(() => undefined);
      }
      throw session.failure(fetched, { branch: options.branch, remoteBranches });
    }
    const fetchMs = Math.round(performance.now() - fetchStarted);

    const head = await revParse(options.mirrorDir, ref, session);
    if (head === undefined)
      throw new Error(`git fetch succeeded but ${ref} is missing in the mirror`);
    let sha = head;
    if (options.commit !== undefined && options.commit !== head) {
      const onBranch = await session.git([
        `--git-dir=${options.mirrorDir}`,
        "merge-base",
        "--is-ancestor",
        "--end-of-options",
        options.commit,
        head,
      ]);
      if (onBranch.code !== 0) {
        throw new GitFetchError({
          code: "commit_not_on_branch",
          message:
            `The commit ${options.commit} is not on the ${what} of ` +
            `${session.repo.url} (its head is ${head}); it may have been removed by a force push.`,
          detail: onBranch.stderr.trim(),
        });
      }
      sha = options.commit;
    }
    options.onLog?.(
      previousSha === undefined
        ? `Fetched ${what} at ${sha} in ${fetchMs} ms`
        : previousSha === head
          ? `The ${what} is unchanged at ${head} (${fetchMs} ms)`
          : `Fetched ${what}: ${previousSha.slice(0, 12)}..${head.slice(0, 12)} in ${fetchMs} ms`,
    );

    const checkoutStarted = performance.now();
    await checkout(options.mirrorDir, sha, options.checkoutDir, session);
    const checkoutMs = Math.round(performance.now() - checkoutStarted);
    options.onLog?.(`Checked out ${sha} in ${checkoutMs} ms`);
    return {
      sha,
      branch: options.branch,
      commit: await readCommit(options.mirrorDir, sha, session),
      previousSha,
      hostKeyRecorded: session.hostKeyRecorded,
      fetchMs,
      checkoutMs,
      durationMs: Math.round(performance.now() - started),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Mirror and checkout

async function ensureMirror(mirrorDir: string, session: GitSession): Promise<void> {
  if (existsSync(join(mirrorDir, "HEAD")) && existsSync(join(mirrorDir, "objects"))) return;
  // Missing, or left half-made by a crash: start over.
  await rm(mirrorDir, { recursive: true, force: true });
  await mkdir(mirrorDir, { recursive: true, mode: 0o700 });
  const result = await session.git(["init", "--bare", "--quiet", "--", mirrorDir]);
  if (result.code !== 0)
    throw new Error(`git init --bare ${mirrorDir} failed: ${result.stderr.trim()}`);
}

async function revParse(
  mirrorDir: string,
  ref: string,
  session: GitSession,
): Promise<string | undefined> {
  const result = await session.git([
    `--git-dir=${mirrorDir}`,
    "rev-parse",
    "--verify",
    "--quiet",
    "--end-of-options",
    `${ref}^{commit}`,
  ]);
  const sha = result.stdout.trim();
  return result.code === 0 && isGitObjectId(sha) ? sha : undefined;
}

/** The commit's author and subject, from its object in the mirror (nulls when unreadable). */
async function readCommit(
  mirrorDir: string,
  sha: string,
  session: GitSession,
): Promise<CommitInfo> {
  const result = await session.git([`--git-dir=${mirrorDir}`, "cat-file", "commit", sha]);
  return result.code === 0 ? parseCommitObject(result.stdout) : { author: null, subject: null };
}

/**
 * Writes the commit's tree into `checkoutDir` with git's own checkout code (which refuses paths
 * with `..`, `.git` and writes through symlinks), using a throwaway index: the mirror is not
 * touched and the build directory gets no `.git` (no remote URL, no config to leak).
 */
async function checkout(
  mirrorDir: string,
  sha: string,
  checkoutDir: string,
  session: GitSession,
): Promise<void> {
  await mkdir(checkoutDir, { recursive: true });
  const existing = await readdir(checkoutDir);
  if (existing.length > 0) throw new Error(`the checkout directory ${checkoutDir} is not empty`);
  const result = await session.git(
    [
      `--git-dir=${mirrorDir}`,
      `--work-tree=${checkoutDir}`,
      "read-tree",
      "--reset",
      "-u",
      "--end-of-options",
      sha,
    ],
    { extraEnv: { GIT_INDEX_FILE: join(session.tempDir, "checkout-index") } },
  );
  if (result.code !== 0) {
    throw new Error(
      `checking out ${sha} failed: ${result.stderr.replaceAll(session.tempDir, "<temp>").trim()}`,
    );
  }
}

/** A ref under `refs/` whose rest is a valid branch name (no `..`, no leading dash, ...). */
function isFetchableRef(ref: string): boolean {
  return (
    ref.startsWith("refs/") && !ref.startsWith("refs/slipway/") && isValidBranchName(ref.slice(5))
  );
}
