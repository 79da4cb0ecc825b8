import type { ForgeContext } from "../../context.ts";
import { isoNow } from "../../context.ts";
import type { User } from "../../db/schema.ts";
import type { ForgeApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { notFound, withMessage } from "../../errors.ts";
import { paginate, PaginationQuery } from "../../http/pagination.ts";
import { findProject } from "../../projects/projects.ts";
import { ProjectIdParams } from "../projects/schema.ts";
import { presentUserBasic } from "../users/presenter.ts";
import { findUser } from "../../users/users.ts";
import { AddMemberBody, MemberParams } from "./schema.ts";

function presentMember(ctx: ForgeContext, user: User, accessLevel: number, createdAt: string) {
  return {
    ...presentUserBasic(ctx, user),
    access_level: accessLevel,
    created_at: createdAt,
    expires_at: null,
  };
}

/** Project members with GitLab's access levels; managing them needs Maintainer. */
export function memberRoutes(app: ForgeApp, ctx: ForgeContext): void {
  app.get(
    "/projects/:id/members",
    { schema: { params: ProjectIdParams, querystring: PaginationQuery } },
    async (request, reply) => {
      const actor = requireActor(request);
      const { project } = await findProject(ctx, actor.user, request.params.id);
      const rows = await ctx.db
        .selectFrom("members as m")
        .innerJoin("users as u", "u.id", "m.user_id")
        .selectAll("u")
        .select(["m.access_level", "m.created_at as member_since"])
        .where("m.project_id", "=", project.id)
        .orderBy("u.id")
        .execute();
      return paginate(request, reply, request.query, rows).map(
        ({ access_level, member_since, ...user }) =>
          presentMember(ctx, user, access_level, member_since),
      );
    },
  );

  app.post(
    "/projects/:id/members",
    { schema: { params: ProjectIdParams, body: AddMemberBody } },
    async (request, reply) => {
      const actor = requireActor(request);
      const { project } = await findProject(ctx, actor.user, request.params.id, "admin");
      const user = await findUser(ctx, request.body.user_id);
      const existing = await ctx.db
        .selectFrom("members")
        .select("user_id")
        .where("project_id", "=", project.id)
        .where("user_id", "=", user.id)
        .executeTakeFirst();
      if (existing) throw withMessage("conflict", "Member already exists");
      const createdAt = isoNow(ctx);
      await ctx.db
        .insertInto("members")
        .values({
          project_id: project.id,
          user_id: user.id,
          access_level: request.body.access_level,
          created_at: createdAt,
        })
        .execute();
      return reply.code(201).send(presentMember(ctx, user, request.body.access_level, createdAt));
    },
  );

  app.delete(
    "/projects/:id/members/:user_id",
    { schema: { params: MemberParams } },
    async (request, reply) => {
      const actor = requireActor(request);
      const { project } = await findProject(ctx, actor.user, request.params.id, "admin");
      const result = await ctx.db
        .deleteFrom("members")
        .where("project_id", "=", project.id)
        .where("user_id", "=", request.params.user_id)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n) throw notFound("Member");
      return reply.code(204).send();
    },
  );
}
