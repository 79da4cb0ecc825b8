import type { ForgeContext } from "../../context.ts";
import type { CommitDetail } from "../../git/commits.ts";
import type { ProjectWithNamespace } from "../../projects/projects.ts";
import { fullPath } from "../../projects/urls.ts";

/**
 * GitLab's `Entities::CommitDetail`. Pipelines are not modelled: `status` and `last_pipeline`
 * are null (commit statuses are read through `.../commits/:sha/statuses`).
 */
export function presentCommitDetail(
  ctx: ForgeContext,
  project: ProjectWithNamespace,
  commit: CommitDetail,
  withStats: boolean,
) {
  const title = commit.message.split("\n", 1)[0] ?? "";
  return {
    id: commit.id,
    short_id: commit.id.slice(0, 8),
    created_at: commit.committedAt,
    parent_ids: commit.parentIds,
    title,
    message: commit.message,
    author_name: commit.authorName,
    author_email: commit.authorEmail,
    authored_date: commit.authoredAt,
    committer_name: commit.committerName,
    committer_email: commit.committerEmail,
    committed_date: commit.committedAt,
    trailers: {},
    extended_trailers: {},
    web_url: `${ctx.config.publicUrl}/${fullPath(project)}/-/commit/${commit.id}`,
    ...(withStats
      ? {
          stats: {
            additions: commit.additions,
            deletions: commit.deletions,
            total: commit.additions + commit.deletions,
          },
        }
      : {}),
    status: null,
    project_id: project.project.id,
    last_pipeline: null,
  };
}
