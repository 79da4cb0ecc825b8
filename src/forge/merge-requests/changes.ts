import type { Transaction, Updateable } from "kysely";
import type { ForgeContext } from "../context.ts";
import type { ForgeDatabase, MergeRequest, MergeRequestsTable, User } from "../db/schema.ts";
import { mergeRequestHeadRef, setRef } from "../git/commits.ts";
import { ForgeError, notFound } from "../errors.ts";
import type { ProjectWithNamespace } from "../projects/projects.ts";
import {
  buildMergeRequestPayload,
  hookTime,
  readHookCommit,
  type HookChanges,
  type MergeRequestAction,
} from "../webhooks/merge-request-payload.ts";

/**
 * The changes of a merge request's state (GitLab's CloseService, ReopenService, PostMergeService
 * and RefreshService's head updates): each is stored in one transaction with
 * `refs/merge-requests/<iid>/head` and the "Merge Request Hook" deliveries it causes, so a change
 * is never acknowledged without its hooks.
 */

type Db = Transaction<ForgeDatabase>;

const STATE_ID = { opened: 1, closed: 2, merged: 3 } as const;

/** `{"message":[...]}` with 409 (`conflict!(errors[:validate_branches])`). */
const conflict = (messages: string[]): ForgeError =>
  new ForgeError("conflict", { message: messages });

/** The project's bare repository. */
export function repoOf(ctx: ForgeContext, project: ProjectWithNamespace): string {
  return ctx.repositories.pathFor(project.project.id);
}

/** MergeRequest#validate_branches: one open merge request per source and target branch. */
export async function assertNoOpenDuplicate(
  trx: Db,
  mr: Pick<MergeRequest, "project_id" | "source_branch" | "target_branch"> & { id?: number },
): Promise<void> {
  let query = trx
    .selectFrom("merge_requests")
    .select("iid")
    .where("project_id", "=", mr.project_id)
    .where("source_branch", "=", mr.source_branch)
    .where("target_branch", "=", mr.target_branch)
    .where("state", "=", "opened");
  if (mr.id !== undefined) query = query.where("id", "!=", mr.id);
  const other = await query.orderBy("iid").executeTakeFirst();
  if (other) {
    throw conflict([
      `Another open merge request already exists for this source branch: !${other.iid}`,
    ]);
  }
}

/** Hook `changes`: attributes that differ, times and the state as GitLab's hook data has them. */
export function changesBetween(
  before: MergeRequest | null,
  after: MergeRequest,
  keys: readonly (keyof MergeRequest)[],
): HookChanges {
  const changes: HookChanges = {};
  for (const key of keys) {
    const previous = before === null ? null : before[key];
    const current = after[key];
    if (previous === current) continue;
    if (key === "state") {
      changes.state_id = {
        previous: before === null ? null : STATE_ID[before.state],
        current: STATE_ID[after.state],
      };
    } else if (key === "project_id") {
      changes.target_project_id = { previous, current };
    } else if (key.endsWith("_at")) {
      changes[key] = {
        previous: hookTime(previous as string | null),
        current: hookTime(current as string | null),
      };
    } else {
      changes[key] = { previous, current };
    }
  }
  return changes;
}

/** What a new merge request's hook lists as changed (all of it, from nothing). */
export const OPEN_KEYS: (keyof MergeRequest)[] = [
  "author_id",
  "created_at",
  "description",
  "id",
  "iid",
  "source_branch",
  "source_project_id",
  "state",
  "target_branch",
  "project_id",
  "title",
  "updated_at",
];
export const EDIT_KEYS: (keyof MergeRequest)[] = [
  "title",
  "description",
  "target_branch",
  "updated_at",
  "updated_by_id",
  "last_edited_at",
  "last_edited_by_id",
];
const STATE_KEYS: (keyof MergeRequest)[] = ["state", "updated_at"];

export interface EventContext {
  ctx: ForgeContext;
  trx: Db;
  project: ProjectWithNamespace;
  user: User;
}

/** Stores one "Merge Request Hook" event's deliveries in the change's transaction. */
export async function emitMergeRequestEvent(
  { ctx, trx, project, user }: EventContext,
  mergeRequest: MergeRequest,
  action: MergeRequestAction,
  extra: { oldrev?: string; changes?: HookChanges } = {},
): Promise<void> {
  const lastCommit = await readHookCommit(ctx, project, mergeRequest.head_sha);
  const payload = buildMergeRequestPayload(ctx, {
    project,
    user,
    mergeRequest,
    action,
    lastCommit,
    ...extra,
  });
  await ctx.hooks.recordMergeRequest(trx, { projectId: mergeRequest.project_id, payload });
}

export async function saveChanges(
  trx: Db,
  mr: MergeRequest,
  values: Updateable<MergeRequestsTable>,
): Promise<MergeRequest> {
  return trx
    .updateTable("merge_requests")
    .set(values)
    .where("id", "=", mr.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** CloseService: opened → closed, with its hook. Anything else is left as it is. */
export async function closeMergeRequest(
  events: EventContext,
  mr: MergeRequest,
): Promise<MergeRequest> {
  if (mr.state !== "opened") return mr;
  const now = events.ctx.now().toISOString();
  const closed = await saveChanges(events.trx, mr, {
    state: "closed",
    closed_at: now,
    closed_by_id: events.user.id,
    updated_at: now,
  });
  await emitMergeRequestEvent(events, closed, "close", {
    changes: changesBetween(mr, closed, STATE_KEYS),
  });
  return closed;
}

/**
 * A push to the target branch brought the head in: GitLab's "merged manually"
 * (MergeRequests::PostMergeService), with the `merge` hook.
 */
export async function markMerged(events: EventContext, mr: MergeRequest): Promise<MergeRequest> {
  if (mr.state !== "opened") return mr;
  const now = events.ctx.now().toISOString();
  const merged = await saveChanges(events.trx, mr, {
    state: "merged",
    merged_at: now,
    merged_by_id: events.user.id,
    updated_at: now,
  });
  await emitMergeRequestEvent(events, merged, "merge", {
    changes: changesBetween(mr, merged, STATE_KEYS),
  });
  return merged;
}

/**
 * New commits on the source branch: the head ref follows them and the hook says `update` with
 * the previous head as `oldrev`.
 */
export async function moveHead(
  events: EventContext,
  mr: MergeRequest,
  newHead: string,
): Promise<MergeRequest> {
  if (mr.state !== "opened" || mr.head_sha === newHead) return mr;
  const repo = repoOf(events.ctx, events.project);
  await setRef(repo, mergeRequestHeadRef(mr.iid), newHead, `merge request !${mr.iid}: new commits`);
  const moved = await saveChanges(events.trx, mr, {
    head_sha: newHead,
    updated_at: events.ctx.now().toISOString(),
  });
  await emitMergeRequestEvent(events, moved, "update", { oldrev: mr.head_sha });
  return moved;
}

export type MergeRequestChange<T> = (events: EventContext, current: MergeRequest) => Promise<T>;

/** Runs `change` on the current row of a merge request, in one transaction. */
export async function changeMergeRequest<T>(
  ctx: ForgeContext,
  project: ProjectWithNamespace,
  user: User,
  mergeRequestId: number,
  change: MergeRequestChange<T>,
): Promise<T> {
  return ctx.db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom("merge_requests")
      .selectAll()
      .where("id", "=", mergeRequestId)
      .executeTakeFirst();
    if (!current) throw notFound();
    return change({ ctx, trx, project, user }, current);
  });
}

/** ReopenService: closed → opened with the source branch's current head, and its hook. */
export async function reopen(
  events: EventContext,
  mr: MergeRequest,
  sourceTip: string | null,
): Promise<MergeRequest> {
  if (mr.state !== "closed" || sourceTip === null) return mr;
  await assertNoOpenDuplicate(events.trx, mr);
  if (sourceTip !== mr.head_sha) {
    const repo = repoOf(events.ctx, events.project);
    await setRef(
      repo,
      mergeRequestHeadRef(mr.iid),
      sourceTip,
      `merge request !${mr.iid}: reopened`,
    );
  }
  const now = events.ctx.now().toISOString();
  const reopened = await saveChanges(events.trx, mr, {
    state: "opened",
    head_sha: sourceTip,
    closed_at: null,
    closed_by_id: null,
    updated_at: now,
  });
  await emitMergeRequestEvent(events, reopened, "reopen", {
    changes: changesBetween(mr, reopened, STATE_KEYS),
  });
  return reopened;
}
