import type { ForgeContext } from "../../context.ts";
import type { ForgeApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { readPage, setPaginationHeaders } from "../../http/pagination.ts";
import { findProject } from "../../projects/projects.ts";
import { presentMergeRequest, presentMergeRequestBasic } from "./presenter.ts";
import {
  CreateMergeRequestBody,
  ListMergeRequestsQuery,
  MergeRequestParams,
  ProjectMergeRequestsParams,
  UpdateMergeRequestBody,
} from "./schema.ts";
import {
  assertCanReadMergeRequests,
  createMergeRequest,
  findMergeRequest,
  listMergeRequests,
  loadView,
  loadViews,
  readDetails,
  updateMergeRequest,
} from "../../merge-requests/merge-requests.ts";

/**
 * Merge requests (GitLab's `lib/api/merge_requests.rb`, same-project subset). Reading follows
 * the project's visibility (anonymous on a public project); creating needs Developer; updating
 * needs Developer or being the author.
 */
export function mergeRequestRoutes(app: ForgeApp, ctx: ForgeContext): void {
  app.get(
    "/projects/:id/merge_requests",
    { schema: { params: ProjectMergeRequestsParams, querystring: ListMergeRequestsQuery } },
    async (request, reply) => {
      const loaded = await findProject(ctx, request.actor?.user ?? null, request.params.id);
      assertCanReadMergeRequests(loaded);
      const page = readPage(request.query);
      const { rows, total } = await listMergeRequests(ctx, loaded, request.query, page);
      setPaginationHeaders(request, reply, page, total);
      return (await loadViews(ctx, rows)).map((view) =>
        presentMergeRequestBasic(ctx, loaded, view),
      );
    },
  );

  app.get(
    "/projects/:id/merge_requests/:merge_request_iid",
    { schema: { params: MergeRequestParams } },
    async (request) => {
      const loaded = await findProject(ctx, request.actor?.user ?? null, request.params.id);
      const mr = await findMergeRequest(ctx, loaded, request.params.merge_request_iid);
      const [view, details] = await Promise.all([loadView(ctx, mr), readDetails(ctx, loaded, mr)]);
      return presentMergeRequest(ctx, loaded, view, details);
    },
  );

  app.post(
    "/projects/:id/merge_requests",
    { schema: { params: ProjectMergeRequestsParams, body: CreateMergeRequestBody } },
    async (request, reply) => {
      const actor = requireActor(request);
      const loaded = await findProject(ctx, actor.user, request.params.id);
      const mr = await createMergeRequest(ctx, loaded, actor.user, request.body);
      const [view, details] = await Promise.all([loadView(ctx, mr), readDetails(ctx, loaded, mr)]);
      return reply.code(201).send(presentMergeRequest(ctx, loaded, view, details));
    },
  );

  app.put(
    "/projects/:id/merge_requests/:merge_request_iid",
    { schema: { params: MergeRequestParams, body: UpdateMergeRequestBody } },
    async (request) => {
      const actor = requireActor(request);
      const loaded = await findProject(ctx, actor.user, request.params.id);
      const found = await findMergeRequest(ctx, loaded, request.params.merge_request_iid, "update");
      const mr = await updateMergeRequest(ctx, loaded, actor.user, found, request.body);
      const [view, details] = await Promise.all([loadView(ctx, mr), readDetails(ctx, loaded, mr)]);
      return presentMergeRequest(ctx, loaded, view, details);
    },
  );
}
