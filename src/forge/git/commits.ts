import { isValidBranchName } from "../../lib/git-refs.ts";
import { run, runChecked } from "../../lib/run.ts";

/**
 * Small reads and writes on a project's bare repository for the merge request and commit
 * status APIs. Every revision that comes from a request is checked (a full object id, or a
 * name git's ref rules accept) and follows `--end-of-options`, so none can be read as an option.
 */

/** Nothing of the forge's environment reaches git but PATH and HOME (as in runtime.ts). */
function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" };
  if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
  return env;
}

const OBJECT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const ABBREVIATED_ID = /^[0-9a-f]{4,64}$/i;

export const isObjectId = (value: string): boolean => OBJECT_ID.test(value);

function git(repo: string, args: readonly string[]): Promise<string> {
  return runChecked("git", ["--git-dir", repo, ...args], { env: gitEnv() });
}

/** Runs git and answers its exit code (for commands that say yes/no with 0/1). */
async function gitStatus(repo: string, args: readonly string[]): Promise<number | null> {
  const result = await run("git", ["--git-dir", repo, ...args], { env: gitEnv() });
  return result.code;
}

/** `rev-parse --verify`: the commit a revision names, or null when it names none. */
async function verifyCommit(repo: string, revision: string): Promise<string | null> {
  const result = await run(
    "git",
    [
      "--git-dir",
      repo,
      "rev-parse",
      "--verify",
      "--quiet",
      "--end-of-options",
      `${revision}^{commit}`,
    ],
    { env: gitEnv() },
  );
  const sha = result.stdout.trim();
  return result.code === 0 && isObjectId(sha) ? sha : null;
}

/**
 * GitLab's `project.commit(id)`: a full or abbreviated commit id, or a branch or tag name.
 * Anything else (and anything that is not a commit) is null.
 */
export async function resolveCommit(repo: string, revision: string): Promise<string | null> {
  if (!ABBREVIATED_ID.test(revision) && !isValidBranchName(revision)) return null;
  return verifyCommit(repo, revision);
}

/** The commit a branch points at, or null when there is no such branch. */
export async function branchTip(repo: string, branch: string): Promise<string | null> {
  if (!isValidBranchName(branch)) return null;
  return verifyCommit(repo, `refs/heads/${branch}`);
}

/** Branches whose history contains the commit, by name (GitLab's `branch_names_contains`). */
export async function branchesContaining(repo: string, sha: string): Promise<string[]> {
  if (!isObjectId(sha)) return [];
  const out = await git(repo, [
    "for-each-ref",
    "--sort=refname",
    `--contains=${sha}`,
    "--format=%(refname:strip=2)",
    "refs/heads/",
  ]);
  return out.split("\n").filter((line) => line !== "");
}

/** Is `ancestor` reachable from `descendant` (a commit is its own ancestor)? */
export async function isAncestor(
  repo: string,
  ancestor: string,
  descendant: string,
): Promise<boolean> {
  if (!isObjectId(ancestor) || !isObjectId(descendant)) return false;
  const code = await gitStatus(repo, [
    "merge-base",
    "--is-ancestor",
    "--end-of-options",
    ancestor,
    descendant,
  ]);
  if (code === 0) return true;
  if (code === 1) return false;
  throw new Error(`git merge-base --is-ancestor failed (${String(code)})`);
}

/** The best common ancestor of two commits, or null when they share no history. */
export async function mergeBase(repo: string, a: string, b: string): Promise<string | null> {
  if (!isObjectId(a) || !isObjectId(b)) return null;
  const result = await run("git", ["--git-dir", repo, "merge-base", "--end-of-options", a, b], {
    env: gitEnv(),
  });
  const sha = result.stdout.trim();
  return result.code === 0 && isObjectId(sha) ? sha : null;
}

/** Paths that differ between two commits (GitLab's `changes_count` counts them). */
export async function changedPaths(repo: string, from: string, to: string): Promise<string[]> {
  if (!isObjectId(from) || !isObjectId(to)) return [];
  const out = await git(repo, [
    "diff",
    "--name-only",
    "-z",
    "--no-renames",
    "--end-of-options",
    from,
    to,
    "--",
  ]);
  return out.split("\0").filter((path) => path !== "");
}

/** The `refs/merge-requests/<iid>/head` ref GitLab keeps for every merge request. */
export function mergeRequestHeadRef(iid: number): string {
  if (!Number.isSafeInteger(iid) || iid <= 0) throw new Error(`invalid merge request iid ${iid}`);
  return `refs/merge-requests/${iid}/head`;
}

/** Points a ref the forge owns (never one a user named) at a commit. */
export async function setRef(
  repo: string,
  ref: string,
  sha: string,
  reason: string,
): Promise<void> {
  if (!isObjectId(sha)) throw new Error(`not an object id: ${sha}`);
  if (!/^refs\/merge-requests\/\d+\/head$/.test(ref)) throw new Error(`not a forge ref: ${ref}`);
  await git(repo, ["update-ref", "-m", reason, "--end-of-options", ref, sha]);
}
