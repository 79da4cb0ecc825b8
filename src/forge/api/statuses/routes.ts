import type { ForgeContext } from "../../context.ts";
import type { ForgeApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { readPage, setPaginationHeaders } from "../../http/pagination.ts";
import { findProject } from "../../projects/projects.ts";
import { presentCommitStatus } from "./presenter.ts";
import { CommitStatusParams, CreateCommitStatusBody, ListCommitStatusesQuery } from "./schema.ts";
import {
  assertCanCreateStatus,
  assertCanReadStatuses,
  findCommit,
  listCommitStatuses,
  postCommitStatus,
} from "../../statuses/statuses.ts";

/**
 * Commit statuses: posting needs Developer, reading needs Reporter (or a public project). GitLab's
 * own examples post `?state=success`: the query string is a parameter source for every route
 * (`http/params.ts`).
 */
export function commitStatusRoutes(app: ForgeApp, ctx: ForgeContext): void {
  app.post(
    "/projects/:id/statuses/:sha",
    { schema: { params: CommitStatusParams, body: CreateCommitStatusBody } },
    async (request, reply) => {
      const actor = requireActor(request);
      const loaded = await findProject(ctx, actor.user, request.params.id);
      assertCanCreateStatus(loaded);
      const { status, author } = await postCommitStatus(
        ctx,
        loaded,
        actor.user,
        request.params.sha,
        request.body,
      );
      return reply.code(201).send(presentCommitStatus(ctx, status, author));
    },
  );

  app.get(
    "/projects/:id/repository/commits/:sha/statuses",
    { schema: { params: CommitStatusParams, querystring: ListCommitStatusesQuery } },
    async (request, reply) => {
      const actor = requireActor(request);
      const loaded = await findProject(ctx, actor.user, request.params.id);
      assertCanReadStatuses(loaded);
      const sha = await findCommit(ctx, loaded, request.params.sha);
      const page = readPage(request.query);
      const { rows, total } = await listCommitStatuses(ctx, loaded, sha, request.query, page);
      setPaginationHeaders(request, reply, page, total);
      return rows.map(({ status, author }) => presentCommitStatus(ctx, status, author));
    },
  );
}
