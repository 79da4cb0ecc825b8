import { isGitObjectId } from "../../lib/git-ids.ts";
import type { RefUpdate } from "../context.ts";

/**
 * What a push changed, in the terms hooks and merge requests use: branches and tags created,
 * updated or removed (GitLab's Git::ProcessRefChangesService).
 */

const BLANK = /^0+$/;
export const BRANCH_PREFIX = "refs/heads/";
export const TAG_PREFIX = "refs/tags/";
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

/** Branch and tag updates with valid object ids; other refs (notes, merge requests) are ignored. */
export function classifyUpdates(updates: readonly RefUpdate[]): RefChange[] {
  const changes: RefChange[] = [];
  for (const update of updates) {
    if (
      !isGitObjectId(update.before) ||
      !isGitObjectId(update.after) ||
      update.before === update.after
    ) {
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
