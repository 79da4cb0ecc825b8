import type { ForgeContext } from "../../context.ts";
import type { ForgeApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { paginate } from "../../http/pagination.ts";
import { presentProject } from "./presenter.ts";
import { CreateProjectBody, ListProjectsQuery, ProjectIdParams } from "./schema.ts";
import {
  createProject,
  findProject,
  listProjects,
  removeProject,
} from "../../projects/projects.ts";

export function projectRoutes(app: ForgeApp, ctx: ForgeContext): void {
  app.post("/projects", { schema: { body: CreateProjectBody } }, async (request, reply) => {
    const actor = requireActor(request);
    const created = await createProject(ctx, actor, request.body);
    return reply.code(201).send(presentProject(ctx, created));
  });

  app.get("/projects", { schema: { querystring: ListProjectsQuery } }, async (request, reply) => {
    const actor = requireActor(request);
    const { search, owned, membership } = request.query;
    const projects = await listProjects(ctx, actor.user, { search, owned, membership });
    return paginate(request, reply, request.query, projects).map((p) => presentProject(ctx, p));
  });

  app.get("/projects/:id", { schema: { params: ProjectIdParams } }, async (request) => {
    const loaded = await findProject(ctx, request.actor?.user ?? null, request.params.id);
    return presentProject(ctx, loaded);
  });

  app.delete("/projects/:id", { schema: { params: ProjectIdParams } }, async (request, reply) => {
    const actor = requireActor(request);
    const loaded = await findProject(ctx, actor.user, request.params.id, "remove");
    await removeProject(ctx, loaded);
    return reply.code(202).send({ message: "202 Accepted" });
  });
}
