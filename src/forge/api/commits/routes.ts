import type { ForgeContext } from "../../context.ts";
import type { ForgeApp } from "../../http/app.ts";
import { showCommit } from "../../projects/commits.ts";
import { findProject } from "../../projects/projects.ts";
import { presentCommitDetail } from "./presenter.ts";
import { CommitParams, ShowCommitQuery } from "./schema.ts";

/**
 * One commit (GitLab's `GET /projects/:id/repository/commits/:sha`), as python-gitlab's
 * `project.commits.get(sha)` reads it before posting statuses. Public projects answer anonymous
 * callers.
 */
export function commitRoutes(app: ForgeApp, ctx: ForgeContext): void {
  app.get(
    "/projects/:id/repository/commits/:sha",
    { schema: { params: CommitParams, querystring: ShowCommitQuery } },
    async (request) => {
      const loaded = await findProject(ctx, request.actor?.user ?? null, request.params.id);
      const commit = await showCommit(ctx, loaded, request.params.sha);
      return presentCommitDetail(ctx, loaded, commit, request.query.stats ?? true);
    },
  );
}
