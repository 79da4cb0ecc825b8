import type { ForgeContext } from "../../context.ts";
import type { BranchHead } from "../../git/commits.ts";
import type { ProjectWithNamespace } from "../../projects/projects.ts";
import { fullPath } from "../../projects/urls.ts";

/** GitLab's Branch entity (the fields clients read; protection is not modelled: false). */
export function presentBranch(ctx: ForgeContext, project: ProjectWithNamespace, head: BranchHead) {
  const web = `${ctx.config.publicUrl}/${fullPath(project)}`;
  return {
    name: head.name,
    merged: false,
    protected: false,
    default: head.name === project.project.default_branch,
    developers_can_push: false,
    developers_can_merge: false,
    can_push: false,
    web_url: `${web}/-/tree/${head.name}`,
    commit: {
      id: head.sha,
      short_id: head.sha.slice(0, 8),
      title: head.subject,
      message: head.subject,
      author_name: head.authorName,
      author_email: head.authorEmail,
      authored_date: head.authoredAt,
      committer_name: head.committerName,
      committer_email: head.committerEmail,
      committed_date: head.committedAt,
      created_at: head.committedAt,
      parent_ids: [],
      web_url: `${web}/-/commit/${head.sha}`,
    },
  };
}
