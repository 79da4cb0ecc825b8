import type { ForgeContext } from "../context.ts";
import type { User } from "../db/schema.ts";
import {
  changedFiles,
  commitExists,
  lastTag,
  latestCommits,
  newestCommits,
  peelToCommit,
  readCommits,
  readRefs,
  tagMessage,
} from "../git/commits.ts";
import { lookupProject, type ProjectWithNamespace } from "../projects/projects.ts";
import {
  hookCommit,
  projectHookAttrs,
  type HookCommit,
  type HookProjectAttrs,
} from "./hook-attrs.ts";
import { BRANCH_PREFIX, TAG_PREFIX, type RefChange, type RefKind } from "./ref-changes.ts";

/**
 * GitLab's "Push Hook" and "Tag Push Hook" payloads (Gitlab::DataBuilder::Push), read from the
 * project's bare repository (`git/commits.ts`).
 */

/** `commits.last(20)` in GitLab's data builder. */
const MAX_PAYLOAD_COMMITS = 20;

export interface PushCommit extends HookCommit {
  added: string[];
  modified: string[];
  removed: string[];
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
      change.action === "update" && (await commitExists(repo, change.before))
        ? [change.after, `^${change.before}`]
        : [change.after, ...new Set(others)].map((sha, i) => (i === 0 ? sha : `^${sha}`));
    ({ ids: commitIds, total } = await newestCommits(repo, range, MAX_PAYLOAD_COMMITS));
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
  const ids = head === undefined ? [] : await latestCommits(repo, head, 3);
  let ref = defaultRef;
  let checkoutSha: string | null = ids[0] ?? null;
  if (isTag) {
    ref = (await lastTag(repo)) ?? `${TAG_PREFIX}v1.0.0`;
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

/** The commits in the given order, with the files each one changed. */
async function describeCommits(
  ctx: ForgeContext,
  repo: string,
  subjects: PushSubjects,
  ids: readonly string[],
): Promise<PushCommit[]> {
  if (ids.length === 0) return [];
  const commits = await readCommits(repo, ids);
  const changes = await changedFiles(repo, ids);
  return ids.flatMap((id) => {
    const commit = commits.get(id);
    if (!commit) return [];
    const files = changes.get(id) ?? { added: [], modified: [], removed: [] };
    return [{ ...hookCommit(ctx, subjects.project, commit), ...files }];
  });
}
