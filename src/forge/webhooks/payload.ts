import { runChecked } from "../../lib/run.ts";
import { fullPath, httpUrl, sshUrl, type ProjectWithNamespace } from "../api/projects/presenter.ts";
import { lookupProject } from "../projects/projects.ts";
import type { ForgeContext } from "../context.ts";
import type { MergeRequest, User } from "../db/schema.ts";
import type { RefUpdate } from "./dispatcher.ts";

/**
 * GitLab's "Push Hook" and "Tag Push Hook" payloads (Gitlab::DataBuilder::Push), read from the
 * project's bare repository with the system `git` (argument vectors only; revisions go through
 * stdin or after `--end-of-options`).
 */

const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const BLANK = /^0+$/;
const BRANCH_PREFIX = "refs/heads/";
const TAG_PREFIX = "refs/tags/";
/** `commits.last(20)` in GitLab's data builder. */
const MAX_PAYLOAD_COMMITS = 20;
/** GitLab's `push_event_hooks_limit` default. */
export const PUSH_EVENT_HOOKS_LIMIT = 3;

export type RefKind = "branch" | "tag";
export type RefAction = "create" | "update" | "remove";

export interface RefChange extends RefUpdate {
  kind: RefKind;
  action: RefAction;
  /** The branch or tag name, without `refs/heads/` or `refs/tags/`. */
  name: string;
}

export interface PushCommit {
  id: string;
  message: string;
  title: string;
  timestamp: string;
  url: string;
  author: { name: string; email: string };
  added: string[];
  modified: string[];
  removed: string[];
}

export interface HookProjectAttrs {
  id: number;
  name: string;
  description: string;
  web_url: string;
  avatar_url: null;
  git_ssh_url: string;
  git_http_url: string;
  namespace: string;
  visibility_level: number;
  path_with_namespace: string;
  default_branch: string;
  ci_config_path: null;
  homepage: string;
  url: string;
  ssh_url: string;
  http_url: string;
}

export interface PushPayload {
  object_kind: "push" | "tag_push";
  event_name: "push" | "tag_push";
  before: string | null;
  after: string | null;
  ref: string;
  ref_protected: boolean;
  checkout_sha: string | null;
  message: string | null;
  user_id: number;
  user_name: string;
  user_username: string;
  user_email: string;
  user_avatar: null;
  project_id: number;
  project: HookProjectAttrs;
  commits: PushCommit[];
  total_commits_count: number;
  push_options: Record<string, never>;
  repository: {
    name: string;
    url: string;
    description: string;
    homepage: string;
    git_http_url: string;
    git_ssh_url: string;
    visibility_level: number;
  };
}

/** The `X-Gitlab-Event` header and the `trigger` GitLab logs for a payload. */
export function eventHeader(payload: Pick<PushPayload, "object_kind">): string {
  return payload.object_kind === "tag_push" ? "Tag Push Hook" : "Push Hook";
}

export interface PushSubjects {
  project: ProjectWithNamespace;
  user: User;
}

export async function loadPushSubjects(
  ctx: ForgeContext,
  projectId: number,
  userId: number,
): Promise<PushSubjects | undefined> {
  const project = await lookupProject(ctx, String(projectId));
  const user = await ctx.db
    .selectFrom("users")
    .selectAll()
    .where("id", "=", userId)
    .executeTakeFirst();
  return project && user ? { project, user } : undefined;
}

/** Branch and tag updates with valid object ids; other refs (notes, merge requests) are ignored. */
export function classifyUpdates(updates: readonly RefUpdate[]): RefChange[] {
  const changes: RefChange[] = [];
  for (const update of updates) {
    if (!SHA.test(update.before) || !SHA.test(update.after) || update.before === update.after) {
      continue;
    }
    const kind: RefKind | null = update.ref.startsWith(BRANCH_PREFIX)
      ? "branch"
      : update.ref.startsWith(TAG_PREFIX)
        ? "tag"
        : null;
    if (kind === null) continue;
    const name = update.ref.slice(kind === "branch" ? BRANCH_PREFIX.length : TAG_PREFIX.length);
    if (name === "") continue;
    const action: RefAction = BLANK.test(update.before)
      ? "create"
      : BLANK.test(update.after)
        ? "remove"
        : "update";
    changes.push({ ...update, kind, action, name });
  }
  return changes;
}

/**
 * GitLab's Git::ProcessRefChangesService: changes are grouped by ref type and action, and a
 * group larger than `push_event_hooks_limit` (3) runs no project hooks.
 */
export function withinHookLimit(
  changes: readonly RefChange[],
  limit = PUSH_EVENT_HOOKS_LIMIT,
): RefChange[] {
  const sizes = new Map<string, number>();
  for (const c of changes)
    sizes.set(`${c.kind}:${c.action}`, (sizes.get(`${c.kind}:${c.action}`) ?? 0) + 1);
  return changes.filter((c) => (sizes.get(`${c.kind}:${c.action}`) ?? 0) <= limit);
}

/**
 * One payload per change. `allChanges` is every ref the push moved (also those over the hook
 * limit); with it the refs as they were before the push are known, so a new branch lists the
 * commits no other ref had (GitLab-like) even when the push created several branches at once.
 */
export async function buildPushPayloads(
  ctx: ForgeContext,
  subjects: PushSubjects,
  changes: readonly RefChange[],
  allChanges: readonly RefChange[] = changes,
): Promise<PushPayload[]> {
  const repo = ctx.repositories.pathFor(subjects.project.project.id);
  const before = await refsBeforePush(repo, allChanges);
  const payloads: PushPayload[] = [];
  for (const change of changes) {
    try {
      payloads.push(await buildOne(ctx, repo, subjects, change, before));
    } catch (error) {
      // The push happened; its hooks still fire, without the commit details git could not give.
      ctx.log.error({ err: error, ref: change.ref }, "could not read the pushed commits");
      payloads.push(
        assemble(ctx, subjects, {
          kind: change.kind,
          ref: change.ref,
          before: change.before,
          after: change.after,
          checkoutSha: change.action === "remove" ? null : change.after,
          message: null,
          commits: [],
          total: 0,
        }),
      );
    }
  }
  return payloads;
}

async function buildOne(
  ctx: ForgeContext,
  repo: string,
  subjects: PushSubjects,
  change: RefChange,
  refsBefore: Map<string, string>,
): Promise<PushPayload> {
  let commitIds: string[] = [];
  let total = 0;
  let checkoutSha: string | null = null;
  let message: string | null = null;
  if (change.kind === "branch" && change.action !== "remove") {
    checkoutSha = change.after;
    const others = [...refsBefore].filter(([ref]) => ref !== change.ref).map(([, sha]) => sha);
    const range =
      change.action === "update" && (await objectExists(repo, change.before))
        ? [change.after, `^${change.before}`]
        : [change.after, ...new Set(others)].map((sha, i) => (i === 0 ? sha : `^${sha}`));
    ({ ids: commitIds, total } = await newestCommits(repo, range));
  } else if (change.kind === "tag" && change.action !== "remove") {
    checkoutSha = await peelToCommit(repo, change.after);
    commitIds = checkoutSha === null ? [] : [checkoutSha];
    total = commitIds.length;
    message = await tagMessage(repo, change.after);
  }
  return assemble(ctx, subjects, {
    kind: change.kind,
    ref: change.ref,
    before: change.before,
    after: change.after,
    checkoutSha,
    message,
    commits: await describeCommits(ctx, repo, subjects, commitIds),
    total,
  });
}

/**
 * GitLab's `build_sample` for `POST /hooks/:id/test/push_events` (and `tag_push_events`): the
 * last 3 commits of the default branch, newest first, on the default branch or the last tag.
 */
export async function buildSamplePayload(
  ctx: ForgeContext,
  subjects: PushSubjects,
  isTag: boolean,
): Promise<PushPayload> {
  const repo = ctx.repositories.pathFor(subjects.project.project.id);
  const defaultRef = `${BRANCH_PREFIX}${subjects.project.project.default_branch}`;
  const head = (await readRefs(repo)).get(defaultRef);
  const ids =
    head === undefined
      ? []
      : (await git(repo, ["rev-list", "--max-count=3", "--stdin"], `${head}\n`))
          .split("\n")
          .filter((line) => SHA.test(line));
  let ref = defaultRef;
  let checkoutSha: string | null = ids[0] ?? null;
  if (isTag) {
    const tags = (
      await git(repo, [
        "for-each-ref",
        "--sort=-refname",
        "--count=1",
        "--format=%(refname)",
        TAG_PREFIX,
      ])
    ).trim();
    ref = tags === "" ? `${TAG_PREFIX}v1.0.0` : tags;
    const target = (await readRefs(repo)).get(ref);
    checkoutSha = target === undefined ? null : await peelToCommit(repo, target);
  }
  return assemble(ctx, subjects, {
    kind: isTag ? "tag" : "branch",
    ref,
    before: ids.at(-1) ?? null,
    after: ids[0] ?? null,
    checkoutSha,
    message: null,
    commits: await describeCommits(ctx, repo, subjects, ids),
    total: ids.length,
  });
}

function assemble(
  ctx: ForgeContext,
  { project: p, user }: PushSubjects,
  data: {
    kind: RefKind;
    ref: string;
    before: string | null;
    after: string | null;
    checkoutSha: string | null;
    message: string | null;
    commits: PushCommit[];
    total: number;
  },
): PushPayload {
  const project = projectHookAttrs(ctx, p);
  const type = data.kind === "tag" ? "tag_push" : "push";
  return {
    object_kind: type,
    event_name: type,
    before: data.before,
    after: data.after,
    ref: data.ref,
    // The default branch is protected by default on GitLab; the forge has no other protection.
    ref_protected:
      data.kind === "branch" && data.ref === `${BRANCH_PREFIX}${p.project.default_branch}`,
    checkout_sha: data.checkoutSha,
    message: data.message,
    user_id: user.id,
    user_name: user.name,
    user_username: user.username,
    // GitLab sends the public email; forge users have none.
    user_email: "",
    user_avatar: null,
    project_id: p.project.id,
    project,
    commits: data.commits.slice(-MAX_PAYLOAD_COMMITS),
    total_commits_count: data.total,
    push_options: {},
    repository: {
      name: project.name,
      url: project.url,
      description: project.description,
      homepage: project.homepage,
      git_http_url: project.git_http_url,
      git_ssh_url: project.git_ssh_url,
      visibility_level: project.visibility_level,
    },
  };
}

const VISIBILITY_LEVEL = { private: 0, internal: 10, public: 20 } as const;

/** GitLab's Project#hook_attrs, with the deprecated aliases. */
export function projectHookAttrs(ctx: ForgeContext, p: ProjectWithNamespace): HookProjectAttrs {
  const web = `${ctx.config.publicUrl}/${fullPath(p)}`;
  const ssh = sshUrl(ctx, p);
  const http = httpUrl(ctx, p);
  return {
    id: p.project.id,
    name: p.project.name,
    description: p.project.description,
    web_url: web,
    avatar_url: null,
    git_ssh_url: ssh,
    git_http_url: http,
    namespace: p.namespace.name,
    visibility_level: VISIBILITY_LEVEL[p.project.visibility],
    path_with_namespace: fullPath(p),
    default_branch: p.project.default_branch,
    ci_config_path: null,
    homepage: web,
    url: ssh,
    ssh_url: ssh,
    http_url: http,
  };
}

/** GitLab's Commit#title: the first line, cut at a word near 80 characters when 100 or longer. */
export function commitTitle(message: string): string {
  const first = message.trim() === "" ? "No commit message" : (message.split(/[\r\n]/, 1)[0] ?? "");
  const chars = Array.from(first);
  if (chars.length < 100) return first;
  const room = 80;
  const head = chars.slice(0, room + 1).join("");
  const space = head.lastIndexOf(" ");
  const stop = space >= 0 ? Array.from(head.slice(0, space)).length : room;
  return chars.slice(0, stop).join("") + "…";
}

// --- reading the repository ---

function git(repo: string, args: readonly string[], input?: string): Promise<string> {
  return runChecked("git", ["--git-dir", repo, ...args], input === undefined ? {} : { input });
}

async function readRefs(repo: string): Promise<Map<string, string>> {
  const out = await git(repo, ["for-each-ref", "--format=%(objectname) %(refname)"]);
  const refs = new Map<string, string>();
  for (const line of out.split("\n")) {
    const space = line.indexOf(" ");
    if (space > 0) refs.set(line.slice(space + 1), line.slice(0, space));
  }
  return refs;
}

/** The refs as they were before the push: moved refs back at `before`, created ones removed. */
async function refsBeforePush(
  repo: string,
  changes: readonly RefChange[],
): Promise<Map<string, string>> {
  const refs = await readRefs(repo);
  for (const change of changes) {
    if (change.action === "create") refs.delete(change.ref);
    else refs.set(change.ref, change.before);
  }
  return refs;
}

/** The newest 20 commits of a rev-list range, oldest first, and how many there are in all. */
async function newestCommits(
  repo: string,
  range: readonly string[],
): Promise<{ ids: string[]; total: number }> {
  const input = range.join("\n") + "\n";
  const total = Number(
    (await git(repo, ["rev-list", "--count", "--ignore-missing", "--stdin"], input)).trim(),
  );
  const ids = (
    await git(
      repo,
      [
        "rev-list",
        `--max-count=${MAX_PAYLOAD_COMMITS}`,
        "--reverse",
        "--ignore-missing",
        "--stdin",
      ],
      input,
    )
  )
    .split("\n")
    .filter((line) => SHA.test(line));
  return { ids, total: Number.isFinite(total) ? total : ids.length };
}

async function objectExists(repo: string, sha: string): Promise<boolean> {
  try {
    await git(repo, ["cat-file", "-e", "--end-of-options", `${sha}^{commit}`]);
    return true;
  } catch {
    return false;
  }
}

async function peelToCommit(repo: string, sha: string): Promise<string | null> {
  try {
    const out = await git(repo, [
      "rev-parse",
      "--verify",
      "--quiet",
      "--end-of-options",
      `${sha}^{commit}`,
    ]);
    const peeled = out.trim();
    return SHA.test(peeled) ? peeled : null;
  } catch {
    return null;
  }
}

/** An annotated tag's message (signature removed); "" for a lightweight tag. */
async function tagMessage(repo: string, sha: string): Promise<string> {
  const type = (await git(repo, ["cat-file", "-t", "--end-of-options", sha])).trim();
  if (type !== "tag") return "";
  const raw = await git(repo, ["cat-file", "tag", sha]);
  const body = raw.indexOf("\n\n");
  const message = body < 0 ? "" : raw.slice(body + 2);
  const signature = message.search(/^-----BEGIN (PGP|SSH) SIGNATURE-----$/m);
  return signature < 0 ? message : message.slice(0, signature);
}

async function describeCommits(
  ctx: ForgeContext,
  repo: string,
  subjects: PushSubjects,
  ids: readonly string[],
): Promise<PushCommit[]> {
  if (ids.length === 0) return [];
  const input = ids.join("\n") + "\n";
  const log = await git(
    repo,
    ["log", "--no-walk=unsorted", "--stdin", "-z", "--format=%H%x00%an%x00%ae%x00%cI%x00%B"],
    input,
  );
  const fields = log.split("\0");
  const details = new Map<string, Omit<PushCommit, "added" | "modified" | "removed">>();
  const web = `${ctx.config.publicUrl}/${fullPath(subjects.project)}`;
  for (let i = 0; i + 4 < fields.length; i += 5) {
    const [id = "", name = "", email = "", timestamp = "", message = ""] = fields.slice(i, i + 5);
    details.set(id, {
      id,
      message,
      title: commitTitle(message),
      timestamp,
      url: `${web}/-/commit/${id}`,
      author: { name, email },
    });
  }
  const changes = await changedFiles(repo, input);
  return ids.flatMap((id) => {
    const commit = details.get(id);
    if (!commit) return [];
    const files = changes.get(id) ?? { added: [], modified: [], removed: [] };
    return [{ ...commit, ...files }];
  });
}

/** Files each commit changed against its first parent (GitLab's Commit#repo_changes). */
async function changedFiles(
  repo: string,
  input: string,
): Promise<Map<string, { added: string[]; modified: string[]; removed: string[] }>> {
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
    input,
  );
  const result = new Map<string, { added: string[]; modified: string[]; removed: string[] }>();
  let current: { added: string[]; modified: string[]; removed: string[] } | undefined;
  const tokens = out.split("\0");
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] ?? "";
    if (SHA.test(token)) {
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

// --- Merge Request Hook ---

/** `X-Gitlab-Event` of merge request events. */
export const MERGE_REQUEST_HOOK = "Merge Request Hook";

export type MergeRequestAction = "open" | "update" | "close" | "reopen" | "merge";

/** GitLab's Commit#hook_attrs without the file lists (a merge request's `last_commit`). */
export type HookCommit = Omit<PushCommit, "added" | "modified" | "removed">;

/** `changes` entries: `{"title": {"previous": "a", "current": "b"}}`. */
export type HookChanges = Record<string, { previous: unknown; current: unknown }>;

/** GitLab's MergeRequest state_id. */
const MERGE_REQUEST_STATE_ID = { opened: 1, closed: 2, merged: 3 } as const;

/** GitLab's draft prefixes (Gitlab::Regex::MergeRequests#merge_request_draft). */
const DRAFT_TITLE = /^(?:\[draft\]|\(draft\)|draft:)/i;

export const isDraftTitle = (title: string): boolean => DRAFT_TITLE.test(title);

export interface MergeRequestPayload {
  object_kind: "merge_request";
  event_type: "merge_request";
  user: { id: number; name: string; username: string; avatar_url: null; email: string };
  project: HookProjectAttrs;
  object_attributes: Record<string, unknown> & {
    id: number;
    iid: number;
    action: MergeRequestAction;
    state: MergeRequest["state"];
    source_branch: string;
    target_branch: string;
    last_commit: HookCommit | null;
    url: string;
    oldrev?: string;
  };
  labels: never[];
  changes: HookChanges;
  repository: { name: string; url: string; description: string; homepage: string };
}

export interface MergeRequestHookInput {
  project: ProjectWithNamespace;
  /** Who did it: the pusher for new commits, the API caller otherwise. */
  user: User;
  mergeRequest: MergeRequest;
  action: MergeRequestAction;
  lastCommit: HookCommit | null;
  /** The previous head, sent on `update` when the source branch moved (GitLab's `oldrev`). */
  oldrev?: string;
  changes?: HookChanges;
}

/** Times as the hook data carries them once serialised by GitLab: `2017-09-15 16:50:55 UTC`. */
export function hookTime(iso: string | null): string | null {
  if (iso === null) return null;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/**
 * GitLab's merge request hook data (Gitlab::DataBuilder::Issuable with
 * Gitlab::HookData::MergeRequestBuilder): the user, the project, the merge request's safe
 * attributes with `action`, `url`, `last_commit` and, for new commits, `oldrev`.
 */
export function buildMergeRequestPayload(
  ctx: ForgeContext,
  input: MergeRequestHookInput,
): MergeRequestPayload {
  const { mergeRequest: mr, user } = input;
  const project = projectHookAttrs(ctx, input.project);
  const draft = isDraftTitle(mr.title);
  const attributes: MergeRequestPayload["object_attributes"] = {
    id: mr.id,
    iid: mr.iid,
    target_branch: mr.target_branch,
    source_branch: mr.source_branch,
    source_project_id: mr.source_project_id,
    author_id: mr.author_id,
    assignee_ids: [],
    assignee_id: null,
    reviewer_ids: [],
    title: mr.title,
    created_at: hookTime(mr.created_at),
    updated_at: hookTime(mr.updated_at),
    updated_by_id: mr.updated_by_id,
    last_edited_at: hookTime(mr.last_edited_at),
    last_edited_by_id: mr.last_edited_by_id,
    milestone_id: null,
    state_id: MERGE_REQUEST_STATE_ID[mr.state],
    state: mr.state,
    blocking_discussions_resolved: true,
    work_in_progress: draft,
    draft,
    first_contribution: false,
    merge_status: "unchecked",
    detailed_merge_status: "unchecked",
    target_project_id: mr.project_id,
    description: mr.description,
    head_pipeline_id: null,
    merge_commit_sha: null,
    merge_error: null,
    merge_user_id: mr.merged_by_id,
    merge_when_pipeline_succeeds: false,
    prepared_at: hookTime(mr.created_at),
    time_estimate: 0,
    total_time_spent: 0,
    time_change: 0,
    human_total_time_spent: null,
    human_time_change: null,
    human_time_estimate: null,
    url: `${project.web_url}/-/merge_requests/${mr.iid}`,
    source: project,
    target: project,
    last_commit: input.lastCommit,
    labels: [],
    action: input.action,
  };
  if (input.oldrev !== undefined && SHA.test(input.oldrev) && !BLANK.test(input.oldrev)) {
    attributes.oldrev = input.oldrev;
  }
  return {
    object_kind: "merge_request",
    event_type: "merge_request",
    user: {
      id: user.id,
      name: user.name,
      username: user.username,
      avatar_url: null,
      // GitLab sends the public email or "[REDACTED]"; forge users have no public email.
      email: "[REDACTED]",
    },
    project,
    object_attributes: attributes,
    labels: [],
    changes: input.changes ?? {},
    repository: {
      name: project.name,
      url: project.url,
      description: project.description,
      homepage: project.homepage,
    },
  };
}

/** The commit a merge request hook names as `last_commit`; null when git cannot read it. */
export async function readHookCommit(
  ctx: ForgeContext,
  project: ProjectWithNamespace,
  sha: string,
): Promise<HookCommit | null> {
  if (!SHA.test(sha)) return null;
  try {
    const repo = ctx.repositories.pathFor(project.project.id);
    const out = await git(repo, [
      "log",
      "-1",
      "-z",
      "--format=%H%x00%an%x00%ae%x00%cI%x00%B",
      "--end-of-options",
      sha,
      "--",
    ]);
    const [id = "", name = "", email = "", timestamp = "", message = ""] = out.split("\0");
    if (id !== sha) return null;
    return {
      id,
      message,
      title: commitTitle(message),
      timestamp,
      url: `${ctx.config.publicUrl}/${fullPath(project)}/-/commit/${id}`,
      author: { name, email },
    };
  } catch (error) {
    ctx.log.error({ err: error, sha }, "could not read a merge request's last commit");
    return null;
  }
}
