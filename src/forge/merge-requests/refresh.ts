import { isGitObjectId } from "../../lib/git-ids.ts";
import type { ForgeContext, PushEvent } from "../context.ts";
import type { MergeRequest } from "../db/schema.ts";
import { branchTip, isAncestor } from "../git/commits.ts";
import { loadPushSubjects } from "../webhooks/push-payload.ts";
import { classifyUpdates, type RefChange } from "../webhooks/ref-changes.ts";
import {
  changeMergeRequest,
  closeMergeRequest,
  markMerged,
  moveHead,
  type MergeRequestChange,
} from "./changes.ts";

/**
 * GitLab's MergeRequests::RefreshService, run after every accepted push: open merge requests
 * whose source branch moved follow it (head ref, `update` hook with `oldrev`), those whose
 * source branch was deleted are closed, and those whose head reached the target branch are
 * merged. Each merge request changes in its own transaction with its hook deliveries.
 */
export async function refreshMergeRequests(ctx: ForgeContext, push: PushEvent): Promise<void> {
  const changes = classifyUpdates(push.updates).filter((c) => c.kind === "branch");
  if (changes.length === 0) return;
  const names = [...new Set(changes.map((c) => c.name))];
  const open = await ctx.db
    .selectFrom("merge_requests")
    .selectAll()
    .where("project_id", "=", push.projectId)
    .where("state", "=", "opened")
    .where((eb) => eb.or([eb("source_branch", "in", names), eb("target_branch", "in", names)]))
    .orderBy("id")
    .execute();
  if (open.length === 0) return;
  const subjects = await loadPushSubjects(ctx, push.projectId, push.userId);
  if (!subjects) return;
  const repo = ctx.repositories.pathFor(push.projectId);

  const apply = async (
    mr: MergeRequest,
    what: string,
    change: MergeRequestChange<MergeRequest>,
  ): Promise<void> => {
    try {
      await changeMergeRequest(ctx, subjects.project, subjects.user, mr.id, change);
    } catch (error) {
      // The push is accepted already; one merge request failing must not stop the others.
      ctx.log.error({ err: error, mergeRequestId: mr.id }, `could not ${what} a merge request`);
    }
  };

  // Merged first (RefreshService's post_merge_manually_merged), so it is not refreshed below.
  for (const change of changes) {
    if (change.action === "remove") continue;
    for (const mr of open.filter((m) => m.target_branch === change.name)) {
      if (await reachedTarget(repo, mr.head_sha, change)) {
        await apply(mr, "merge", (events, current) => markMerged(events, current));
      }
    }
  }
  for (const change of changes) {
    for (const mr of open.filter((m) => m.source_branch === change.name)) {
      if (change.action === "remove") {
        await apply(mr, "close", (events, current) => closeMergeRequest(events, current));
        continue;
      }
      // The branch as it is now, not as this push left it: pushes may finish out of order.
      const tip = await branchTip(repo, change.name);
      if (tip === null) continue;
      await apply(mr, "refresh", (events, current) => moveHead(events, current, tip));
    }
  }
}

/** The push brought the head into the target branch: reachable now, and not before. */
async function reachedTarget(repo: string, head: string, change: RefChange): Promise<boolean> {
  try {
    if (!(await isAncestor(repo, head, change.after))) return false;
  } catch {
    return false;
  }
  if (change.action === "create" || !isGitObjectId(change.before)) return true;
  try {
    return !(await isAncestor(repo, head, change.before));
  } catch {
    // The old target commit may be gone (a forced push, then gc): only "now" can be known.
    return true;
  }
}

/**
 * At start: a push the forge stopped in the middle of (after git accepted it, before the
 * refresh above ran) leaves open merge requests behind their source branch. They catch up here,
 * with the hooks they missed, in the name of their author.
 */
export async function reconcileMergeRequests(ctx: ForgeContext): Promise<void> {
  const open = await ctx.db
    .selectFrom("merge_requests")
    .selectAll()
    .where("state", "=", "opened")
    .orderBy("id")
    .execute();
  for (const mr of open) {
    try {
      const tip = await branchTip(ctx.repositories.pathFor(mr.project_id), mr.source_branch);
      if (tip === mr.head_sha) continue;
      const subjects = await loadPushSubjects(ctx, mr.project_id, mr.author_id ?? 0);
      if (!subjects) continue;
      await changeMergeRequest(ctx, subjects.project, subjects.user, mr.id, (events, current) =>
        tip === null ? closeMergeRequest(events, current) : moveHead(events, current, tip),
      );
    } catch (error) {
      ctx.log.error({ err: error, mergeRequestId: mr.id }, "could not reconcile a merge request");
    }
  }
}
