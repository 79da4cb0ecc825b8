import type { ForgeContext } from "../../context.ts";
import type { ForgeApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { withMessage } from "../../errors.ts";
import {
  paginate,
  PaginationQuery,
  readPage,
  setPaginationHeaders,
} from "../../http/pagination.ts";
import { testHook } from "../../webhooks/deliveries.ts";
import { ProjectIdParams } from "../projects/schema.ts";
import { findProject } from "../../projects/projects.ts";
import { presentHook, presentHookEvent } from "./presenter.ts";
import {
  CreateHookBody,
  HookEventsQuery,
  HookParams,
  TestHookParams,
  UpdateHookBody,
  type TestTriggerParam,
} from "./schema.ts";
import {
  createHook,
  findHook,
  listHookEvents,
  listHooks,
  removeHook,
  updateHook,
} from "../../webhooks/hooks.ts";

/** What GitLab's TestHooks::ProjectService answers for triggers it has no data for here. */
const UNTESTABLE: Partial<Record<TestTriggerParam, string>> = {
  issues_events: "Ensure the project has issues.",
  confidential_issues_events: "Ensure the project has issues.",
  note_events: "Ensure the project has notes.",
  confidential_note_events: "Ensure the project has notes.",
  merge_requests_events: "Ensure the project has merge requests.",
  job_events: "Ensure the project has CI jobs.",
  pipeline_events: "Ensure the project has CI pipelines.",
  wiki_page_events: "Ensure the wiki is enabled and has pages.",
  releases_events: "Ensure the project has releases.",
};

/**
 * Project hooks (GitLab's `lib/api/project_hooks.rb`): reading needs `read_web_hook`, changing
 * `admin_web_hook` — both Maintainer or higher.
 */
export function hookRoutes(app: ForgeApp, ctx: ForgeContext): void {
  app.get(
    "/projects/:id/hooks",
    { schema: { params: ProjectIdParams, querystring: PaginationQuery } },
    async (request, reply) => {
      const actor = requireActor(request);
      const { project } = await findProject(ctx, actor.user, request.params.id, "admin");
      const hooks = await listHooks(ctx, project);
      return paginate(request, reply, request.query, hooks).map((h) => presentHook(ctx, h));
    },
  );

  app.get("/projects/:id/hooks/:hook_id", { schema: { params: HookParams } }, async (request) => {
    const actor = requireActor(request);
    const { project } = await findProject(ctx, actor.user, request.params.id, "admin");
    return presentHook(ctx, await findHook(ctx, project, request.params.hook_id));
  });

  app.post(
    "/projects/:id/hooks",
    { schema: { params: ProjectIdParams, body: CreateHookBody } },
    async (request, reply) => {
      const actor = requireActor(request);
      const { project } = await findProject(ctx, actor.user, request.params.id, "admin");
      const hook = await createHook(ctx, project, request.body);
      return reply.code(201).send(presentHook(ctx, hook));
    },
  );

  app.put(
    "/projects/:id/hooks/:hook_id",
    { schema: { params: HookParams, body: UpdateHookBody } },
    async (request) => {
      const actor = requireActor(request);
      const { project } = await findProject(ctx, actor.user, request.params.id, "admin");
      const hook = await findHook(ctx, project, request.params.hook_id);
      return presentHook(ctx, await updateHook(ctx, hook, request.body));
    },
  );

  app.delete(
    "/projects/:id/hooks/:hook_id",
    { schema: { params: HookParams } },
    async (request, reply) => {
      const actor = requireActor(request);
      const { project } = await findProject(ctx, actor.user, request.params.id, "admin");
      const hook = await findHook(ctx, project, request.params.hook_id);
      await removeHook(ctx, hook, request.headers["if-unmodified-since"]);
      return reply.code(204).send();
    },
  );

  app.get(
    "/projects/:id/hooks/:hook_id/events",
    { schema: { params: HookParams, querystring: HookEventsQuery } },
    async (request, reply) => {
      const actor = requireActor(request);
      const { project } = await findProject(ctx, actor.user, request.params.id, "admin");
      const hook = await findHook(ctx, project, request.params.hook_id);
      const page = readPage(request.query);
      const { rows, total } = await listHookEvents(ctx, hook, request.query, page);
      setPaginationHeaders(request, reply, page, total);
      return rows.map(presentHookEvent);
    },
  );

  app.post(
    "/projects/:id/hooks/:hook_id/test/:trigger",
    { schema: { params: TestHookParams } },
    async (request, reply) => {
      const actor = requireActor(request);
      const { project } = await findProject(ctx, actor.user, request.params.id, "admin");
      const hook = await findHook(ctx, project, request.params.hook_id);
      const { trigger } = request.params;
      if (trigger !== "push_events" && trigger !== "tag_push_events") {
        throw withMessage(
          "unprocessable",
          UNTESTABLE[trigger] ?? "Testing not available for this hook",
        );
      }
      const outcome = await testHook(ctx, hook, actor.user, trigger);
      if (!outcome.ok) throw withMessage("unprocessable", outcome.message);
      return reply.code(201).send({ message: "201 Created" });
    },
  );
}
