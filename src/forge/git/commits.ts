import { isGitObjectId } from "../../lib/git-ids.ts";
import { isValidBranchName } from "../../lib/git-refs.ts";
import { run, runChecked } from "../../lib/run.ts";
import { gitEnv } from "./env.ts";

/**
 * Reads and writes on a project's bare repository, for the APIs (branches, merge requests,
 * commit statuses) and the hook payloads. Every revision that comes from a request is checked (a
 * full object id, or a name git's ref rules accept) and follows `--end-of-options`, or goes
 * through stdin, so none can be read as an option.
 */

/** What GitLab's API accepts as a commit id: also abbreviated (4 digits or more), any case. */
const ABBREVIATED_ID = /^[0-9a-f]{4,64}$/i;

function git(repo: string, args: readonly string[], input?: string): Promise<string> {
  return runChecked("git", ["--git-dir", repo, ...args], {
    env: gitEnv(),
    ...(input === undefined ? {} : { input }),
  });
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
  return result.code === 0 && isGitObjectId(sha) ? sha : null;
}

// --- refs ---

/** Every ref of the repository and the object it points at. */
export async function readRefs(repo: string): Promise<Map<string, string>> {
  const out = await git(repo, ["for-each-ref", "--format=%(objectname) %(refname)"]);
  const refs = new Map<string, string>();
  for (const line of out.split("\n")) {
    const space = line.indexOf(" ");
    if (space > 0) refs.set(line.slice(space + 1), line.slice(0, space));
  }
  return refs;
}

/** A branch head as git reports it. */
export interface BranchHead {
  name: string;
  sha: string;
  subject: string;
  authorName: string;
  authorEmail: string;
  authoredAt: string;
  committerName: string;
  committerEmail: string;
  committedAt: string;
}

const BRANCH_FIELDS = [
  "%(refname:strip=2)",
  "%(objectname)",
  "%(subject)",
  "%(authorname)",
  "%(authoremail:trim)",
  "%(authordate:iso-strict)",
  "%(committername)",
  "%(committeremail:trim)",
  "%(committerdate:iso-strict)",
];

/** Every branch of the repository, by name, with its head commit. */
export async function listBranchHeads(repo: string): Promise<BranchHead[]> {
  const result = await run(
    "git",
    [
      "--git-dir",
      repo,
      "for-each-ref",
      "--sort=refname",
      `--format=${BRANCH_FIELDS.join("%00")}`,
      "refs/heads/",
    ],
    { env: gitEnv() },
  );
  if (result.code !== 0) throw new Error(`git for-each-ref failed: ${result.stderr.trim()}`);
  return result.stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const [name, sha, subject, an, ae, ad, cn, ce, cd] = line.split("\0");
      return {
        name: name ?? "",
        sha: sha ?? "",
        subject: subject ?? "",
        authorName: an ?? "",
        authorEmail: ae ?? "",
        authoredAt: ad ?? "",
        committerName: cn ?? "",
        committerEmail: ce ?? "",
        committedAt: cd ?? "",
      };
    });
}

/** The commit a branch points at, or null when there is no such branch. */
export async function branchTip(repo: string, branch: string): Promise<string | null> {
  if (!isValidBranchName(branch)) return null;
  return verifyCommit(repo, `refs/heads/${branch}`);
}

/** Branches whose history contains the commit, by name (GitLab's `branch_names_contains`). */
export async function branchesContaining(repo: string, sha: string): Promise<string[]> {
  if (!isGitObjectId(sha)) return [];
  const out = await git(repo, [
    "for-each-ref",
    "--sort=refname",
    `--contains=${sha}`,
    "--format=%(refname:strip=2)",
    "refs/heads/",
  ]);
  return out.split("\n").filter((line) => line !== "");
}

/** The last tag by name (`refs/tags/...`), or null when there is none. */
export async function lastTag(repo: string): Promise<string | null> {
  const out = await git(repo, [
    "for-each-ref",
    "--sort=-refname",
    "--count=1",
    "--format=%(refname)",
    "refs/tags/",
  ]);
  const tag = out.trim();
  return tag === "" ? null : tag;
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
  if (!isGitObjectId(sha)) throw new Error(`not an object id: ${sha}`);
  if (!/^refs\/merge-requests\/\d+\/head$/.test(ref)) throw new Error(`not a forge ref: ${ref}`);
  await git(repo, ["update-ref", "-m", reason, "--end-of-options", ref, sha]);
}

// --- commits ---

/**
 * GitLab's `project.commit(id)`: a full or abbreviated commit id, or a branch or tag name.
 * Anything else (and anything that is not a commit) is null.
 */
export async function resolveCommit(repo: string, revision: string): Promise<string | null> {
  if (!ABBREVIATED_ID.test(revision) && !isValidBranchName(revision)) return null;
  return verifyCommit(repo, revision);
}

/** Does the object id name a commit the repository has? */
export async function commitExists(repo: string, sha: string): Promise<boolean> {
  try {
    await git(repo, ["cat-file", "-e", "--end-of-options", `${sha}^{commit}`]);
    return true;
  } catch {
    return false;
  }
}

/** The commit an object (a commit, or an annotated tag) comes down to, or null. */
export async function peelToCommit(repo: string, sha: string): Promise<string | null> {
  try {
    const out = await git(repo, [
      "rev-parse",
      "--verify",
      "--quiet",
      "--end-of-options",
      `${sha}^{commit}`,
    ]);
    const peeled = out.trim();
    return isGitObjectId(peeled) ? peeled : null;
  } catch {
    return null;
  }
}

/** An annotated tag's message (signature removed); "" for a lightweight tag. */
export async function tagMessage(repo: string, sha: string): Promise<string> {
  const type = (await git(repo, ["cat-file", "-t", "--end-of-options", sha])).trim();
  if (type !== "tag") return "";
  const raw = await git(repo, ["cat-file", "tag", sha]);
  const body = raw.indexOf("\n\n");
  const message = body < 0 ? "" : raw.slice(body + 2);
  const signature = message.search(/^-----BEGIN (PGP|SSH) SIGNATURE-----$/m);
  return signature < 0 ? message : message.slice(0, signature);
}

/** Is `ancestor` reachable from `descendant` (a commit is its own ancestor)? */
export async function isAncestor(
  repo: string,
  ancestor: string,
  descendant: string,
): Promise<boolean> {
  if (!isGitObjectId(ancestor) || !isGitObjectId(descendant)) return false;
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
  if (!isGitObjectId(a) || !isGitObjectId(b)) return null;
  const result = await run("git", ["--git-dir", repo, "merge-base", "--end-of-options", a, b], {
    env: gitEnv(),
  });
  const sha = result.stdout.trim();
  return result.code === 0 && isGitObjectId(sha) ? sha : null;
}

/** Paths that differ between two commits (GitLab's `changes_count` counts them). */
export async function changedPaths(repo: string, from: string, to: string): Promise<string[]> {
  if (!isGitObjectId(from) || !isGitObjectId(to)) return [];
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

/** The newest `max` commits from `head` (newest first). */
export async function latestCommits(repo: string, head: string, max: number): Promise<string[]> {
  return (await git(repo, ["rev-list", `--max-count=${max}`, "--stdin"], `${head}\n`))
    .split("\n")
    .filter((line) => isGitObjectId(line));
}

/**
 * The newest `max` commits of a rev-list range (`sha` and `^sha` lines; missing objects are
 * ignored), oldest first, and how many there are in all.
 */
export async function newestCommits(
  repo: string,
  range: readonly string[],
  max: number,
): Promise<{ ids: string[]; total: number }> {
  const input = range.join("\n") + "\n";
  const total = Number(
    (await git(repo, ["rev-list", "--count", "--ignore-missing", "--stdin"], input)).trim(),
  );
  const ids = (
    await git(
      repo,
      ["rev-list", `--max-count=${max}`, "--reverse", "--ignore-missing", "--stdin"],
      input,
    )
  )
    .split("\n")
    .filter((line) => isGitObjectId(line));
  return { ids, total: Number.isFinite(total) ? total : ids.length };
}

/** A commit's id, author, committer date (ISO 8601) and full message, as git stores them. */
export interface CommitInfo {
  id: string;
  authorName: string;
  authorEmail: string;
  committedAt: string;
  message: string;
}

const COMMIT_FORMAT = "--format=%H%x00%an%x00%ae%x00%cI%x00%B";

/** The commits named by `ids`, by id (ids git does not know are missing from the map). */
export async function readCommits(
  repo: string,
  ids: readonly string[],
): Promise<Map<string, CommitInfo>> {
  const commits = new Map<string, CommitInfo>();
  if (ids.length === 0) return commits;
  const log = await git(
    repo,
    ["log", "--no-walk=unsorted", "--stdin", "-z", COMMIT_FORMAT],
    ids.join("\n") + "\n",
  );
  const fields = log.split("\0");
  for (let i = 0; i + 4 < fields.length; i += 5) {
    const [id = "", authorName = "", authorEmail = "", committedAt = "", message = ""] =
      fields.slice(i, i + 5);
    commits.set(id, { id, authorName, authorEmail, committedAt, message });
  }
  return commits;
}

/** One commit by its full id; null when the repository does not have it. */
export async function readCommit(repo: string, sha: string): Promise<CommitInfo | null> {
  if (!isGitObjectId(sha)) return null;
  const out = await git(repo, ["log", "-1", "-z", COMMIT_FORMAT, "--end-of-options", sha, "--"]);
  const [id = "", authorName = "", authorEmail = "", committedAt = "", message = ""] =
    out.split("\0");
  if (id !== sha) return null;
  return { id, authorName, authorEmail, committedAt, message };
}

/** Everything GitLab's commit entity shows about one commit. */
export interface CommitDetail {
  id: string;
  parentIds: string[];
  authorName: string;
  authorEmail: string;
  authoredAt: string;
  committerName: string;
  committerEmail: string;
  committedAt: string;
  message: string;
  /** Lines added and deleted against the first parent (binary files count 0). */
  additions: number;
  deletions: number;
}

const DETAIL_FORMAT = "--format=%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B%x00";

/** One commit by its full id, with its parents and line counts; null when it is not there. */
export async function readCommitDetail(repo: string, sha: string): Promise<CommitDetail | null> {
  if (!isGitObjectId(sha) || !(await commitExists(repo, sha))) return null;
  const out = await git(repo, [
    "show",
    "-z",
    "--numstat",
    "--no-renames",
    "--diff-merges=first-parent",
    DETAIL_FORMAT,
    "--end-of-options",
    sha,
    "--",
  ]);
  const fields = out.split("\0");
  const [id = "", parents = "", authorName = "", authorEmail = "", authoredAt = ""] = fields;
  const [committerName = "", committerEmail = "", committedAt = "", message = ""] = fields.slice(
    5,
    9,
  );
  if (id !== sha) return null;
  let additions = 0;
  let deletions = 0;
  // After the message: `added<TAB>deleted<TAB>path` records ("-" for binary files).
  for (const record of fields.slice(9)) {
    const match = /^\s*(\d+|-)\t(\d+|-)\t/.exec(record);
    if (!match) continue;
    additions += match[1] === "-" ? 0 : Number(match[1]);
    deletions += match[2] === "-" ? 0 : Number(match[2]);
  }
  return {
    id,
    parentIds: parents.split(" ").filter(isGitObjectId),
    authorName,
    authorEmail,
    authoredAt,
    committerName,
    committerEmail,
    committedAt,
    message,
    additions,
    deletions,
  };
}

/** The files a commit added, modified and removed. */
export interface FileChanges {
  added: string[];
  modified: string[];
  removed: string[];
}

/** Files each commit changed against its first parent (GitLab's Commit#repo_changes). */
export async function changedFiles(
  repo: string,
  ids: readonly string[],
): Promise<Map<string, FileChanges>> {
  const out = await git(
    repo,
    [
      "diff-tree",
      "--stdin",
      "-r",
      "-z",
      "--name-status",
      "--no-renames",
      "--root",
      "--diff-merges=first-parent",
    ],
    ids.join("\n") + "\n",
  );
  const result = new Map<string, FileChanges>();
  let current: FileChanges | undefined;
  const tokens = out.split("\0");
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] ?? "";
    if (isGitObjectId(token)) {
      current = { added: [], modified: [], removed: [] };
      result.set(token, current);
      continue;
    }
    if (token === "" || current === undefined) continue;
    const path = tokens[++i] ?? "";
    if (token === "A") current.added.push(path);
    else if (token === "D") current.removed.push(path);
    else current.modified.push(path);
  }
  return result;
}
