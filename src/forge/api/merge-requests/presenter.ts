import type { ForgeContext } from "../../context.ts";
import type { User } from "../../db/schema.ts";
import type { MergeRequestDetails, MergeRequestView } from "../../merge-requests/merge-requests.ts";
import type { ProjectWithNamespace } from "../../projects/projects.ts";
import { fullPath } from "../../projects/urls.ts";
import { isDraftTitle } from "../../webhooks/merge-request-payload.ts";
import { presentUserBasic } from "../users/presenter.ts";

export function mergeRequestWebUrl(
  ctx: ForgeContext,
  project: ProjectWithNamespace,
  iid: number,
): string {
  return `${ctx.config.publicUrl}/${fullPath(project)}/-/merge_requests/${iid}`;
}

const user = (ctx: ForgeContext, u: User | null) => (u === null ? null : presentUserBasic(ctx, u));

/** GitLab's Entities::MergeRequestBasic (the fields of the forge's subset, the rest neutral). */
export function presentMergeRequestBasic(
  ctx: ForgeContext,
  project: ProjectWithNamespace,
  view: MergeRequestView,
) {
  const mr = view.mergeRequest;
  const draft = isDraftTitle(mr.title);
  const reference = `!${mr.iid}`;
  return {
    id: mr.id,
    iid: mr.iid,
    project_id: mr.project_id,
    title: mr.title,
    description: mr.description,
    state: mr.state,
    created_at: mr.created_at,
    updated_at: mr.updated_at,
    merged_by: user(ctx, view.mergedBy),
    merge_user: user(ctx, view.mergedBy),
    merged_at: mr.merged_at,
    closed_by: user(ctx, view.closedBy),
    closed_at: mr.closed_at,
    target_branch: mr.target_branch,
    source_branch: mr.source_branch,
    user_notes_count: 0,
    upvotes: 0,
    downvotes: 0,
    author: user(ctx, view.author),
    assignees: [],
    assignee: null,
    reviewers: [],
    source_project_id: mr.source_project_id,
    target_project_id: mr.project_id,
    labels: [],
    draft,
    imported: false,
    imported_from: "none",
    work_in_progress: draft,
    milestone: null,
    merge_when_pipeline_succeeds: false,
    merge_status: "unchecked",
    detailed_merge_status: "unchecked",
    merge_after: null,
    sha: mr.head_sha,
    merge_commit_sha: null,
    squash_commit_sha: null,
    discussion_locked: null,
    should_remove_source_branch: null,
    force_remove_source_branch: false,
    prepared_at: mr.created_at,
    reference,
    references: {
      short: reference,
      relative: reference,
      full: `${fullPath(project)}${reference}`,
    },
    web_url: mergeRequestWebUrl(ctx, project, mr.iid),
    time_stats: {
      time_estimate: 0,
      total_time_spent: 0,
      human_time_estimate: null,
      human_total_time_spent: null,
    },
    squash: false,
    squash_on_merge: false,
    task_completion_status: { count: 0, completed_count: 0 },
    has_conflicts: false,
    blocking_discussions_resolved: true,
  };
}

/** GitLab's Entities::MergeRequest: the basic entity plus diff refs and the caller's rights. */
export function presentMergeRequest(
  ctx: ForgeContext,
  project: ProjectWithNamespace,
  view: MergeRequestView,
  details: MergeRequestDetails,
) {
  return {
    ...presentMergeRequestBasic(ctx, project, view),
    subscribed: false,
    // GitLab sends a string here ("1000+" when capped).
    changes_count: String(details.changesCount),
    latest_build_started_at: null,
    latest_build_finished_at: null,
    first_deployed_to_production_at: null,
    pipeline: null,
    head_pipeline: null,
    diff_refs: {
      base_sha: details.baseSha,
      head_sha: view.mergeRequest.head_sha,
      start_sha: details.startSha,
    },
    merge_error: null,
    first_contribution: false,
    user: { can_merge: details.canMerge },
  };
}
