import { isGitObjectId } from "../../lib/git-ids.ts";
import type { ForgeContext } from "../context.ts";
import type { MergeRequest, User } from "../db/schema.ts";
import { readCommit } from "../git/commits.ts";
import type { ProjectWithNamespace } from "../projects/projects.ts";
import {
  hookCommit,
  projectHookAttrs,
  type HookCommit,
  type HookProjectAttrs,
} from "./hook-attrs.ts";

/**
 * GitLab's "Merge Request Hook" payload (Gitlab::DataBuilder::Issuable with
 * Gitlab::HookData::MergeRequestBuilder).
 */

/** `X-Gitlab-Event` of merge request events. */
export const MERGE_REQUEST_HOOK = "Merge Request Hook";

export type MergeRequestAction = "open" | "update" | "close" | "reopen" | "merge";

/** `changes` entries: `{"title": {"previous": "a", "current": "b"}}`. */
export type HookChanges = Record<string, { previous: unknown; current: unknown }>;

/** GitLab's MergeRequest state_id. */
const MERGE_REQUEST_STATE_ID = { opened: 1, closed: 2, merged: 3 } as const;

/** GitLab's draft prefixes (Gitlab::Regex::MergeRequests#merge_request_draft). */
const DRAFT_TITLE = /^(?:\[draft\]|\(draft\)|draft:)/i;

export const isDraftTitle = (title: string): boolean => DRAFT_TITLE.test(title);

const BLANK = /^0+$/;

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
 * GitLab's merge request hook data: the user, the project, the merge request's safe attributes
 * with `action`, `url`, `last_commit` and, for new commits, `oldrev`.
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
  if (input.oldrev !== undefined && isGitObjectId(input.oldrev) && !BLANK.test(input.oldrev)) {
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
  if (!isGitObjectId(sha)) return null;
  try {
    const commit = await readCommit(ctx.repositories.pathFor(project.project.id), sha);
    return commit === null ? null : hookCommit(ctx, project, commit);
  } catch (error) {
    ctx.log.error({ err: error, sha }, "could not read a merge request's last commit");
    return null;
  }
}
