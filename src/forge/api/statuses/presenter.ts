import type { ForgeContext } from "../../context.ts";
import type { CommitStatus, User } from "../../db/schema.ts";
import { presentUserBasic } from "../users/presenter.ts";

/** GitLab's Entities::CommitStatus. */
export function presentCommitStatus(ctx: ForgeContext, status: CommitStatus, author: User | null) {
  return {
    id: status.id,
    sha: status.sha,
    ref: status.ref,
    status: status.status,
    name: status.name,
    target_url: status.target_url,
    description: status.description,
    created_at: status.created_at,
    started_at: status.started_at,
    finished_at: status.finished_at,
    allow_failure: status.allow_failure === 1,
    coverage: status.coverage === null ? null : Number(status.coverage),
    pipeline_id: status.pipeline_id,
    author: author === null ? null : presentUserBasic(ctx, author),
  };
}
