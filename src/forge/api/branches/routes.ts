import type { ForgeContext } from "../../context.ts";
import type { ForgeApp } from "../../http/app.ts";
import { paginate } from "../../http/pagination.ts";
import { findProject } from "../../projects/projects.ts";
import { ProjectIdParams } from "../projects/schema.ts";
import { presentBranch } from "./presenter.ts";
import { BranchParams, ListBranchesQuery } from "./schema.ts";
import { assertCanReadCode, findBranch, listBranches } from "../../projects/branches.ts";

/** GitLab's repository branches API (`lib/api/branches.rb`), read-only. */
export function branchRoutes(app: ForgeApp, ctx: ForgeContext): void {
  app.get(
    "/projects/:id/repository/branches",
    { schema: { params: ProjectIdParams, querystring: ListBranchesQuery } },
    async (request, reply) => {
      const loaded = await findProject(ctx, request.actor?.user ?? null, request.params.id);
      assertCanReadCode(loaded);
      const search = request.query.search;
      const branches = (await listBranches(ctx, loaded.project.id)).filter(
        (b) => search === undefined || b.name.includes(search),
      );
      return paginate(request, reply, request.query, branches).map((b) =>
        presentBranch(ctx, loaded, b),
      );
    },
  );

  app.get(
    "/projects/:id/repository/branches/:branch",
    { schema: { params: BranchParams } },
    async (request) => {
      const loaded = await findProject(ctx, request.actor?.user ?? null, request.params.id);
      assertCanReadCode(loaded);
      const head = await findBranch(ctx, loaded.project.id, request.params.branch);
      return presentBranch(ctx, loaded, head);
    },
  );
}
