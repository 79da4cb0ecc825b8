import { Type, type Static, type TOptional, type TBoolean } from "typebox";
import { PaginationQuery } from "../../http/pagination.ts";
import { BRANCH_FILTER_STRATEGIES } from "../../webhooks/branch-filter.ts";
import { EVENT_FLAGS, type EventFlag } from "../../webhooks/hooks.ts";

export const HookParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 500 }),
  hook_id: Type.Integer({ minimum: 1 }),
});

const eventFlags = Object.fromEntries(
  EVENT_FLAGS.map((flag) => [flag, Type.Optional(Type.Boolean())]),
) as Record<EventFlag, TOptional<TBoolean>>;

const commonHookParams = {
  name: Type.Optional(Type.String({ maxLength: 255 })),
  description: Type.Optional(Type.String({ maxLength: 2048 })),
  token: Type.Optional(Type.String({ maxLength: 1024 })),
  enable_ssl_verification: Type.Optional(Type.Boolean()),
  push_events_branch_filter: Type.Optional(Type.String({ maxLength: 10_000 })),
  branch_filter_strategy: Type.Optional(
    Type.Union(BRANCH_FILTER_STRATEGIES.map((s) => Type.Literal(s))),
  ),
  ...eventFlags,
};

const URL_PARAM = Type.String({ maxLength: 2048 });

export const CreateHookBody = Type.Object({ url: URL_PARAM, ...commonHookParams });
export type CreateHookBody = Static<typeof CreateHookBody>;

export const UpdateHookBody = Type.Object({ url: Type.Optional(URL_PARAM), ...commonHookParams });
export type UpdateHookBody = Static<typeof UpdateHookBody>;

/** `:trigger` values GitLab's test endpoint accepts. */
export const TEST_TRIGGERS = [
  "push_events",
  "tag_push_events",
  "issues_events",
  "confidential_issues_events",
  "note_events",
  "confidential_note_events",
  "merge_requests_events",
  "job_events",
  "pipeline_events",
  "wiki_page_events",
  "releases_events",
  "emoji_events",
  "resource_access_token_events",
] as const;
export type TestTriggerParam = (typeof TEST_TRIGGERS)[number];

export const TestHookParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 500 }),
  hook_id: Type.Integer({ minimum: 1 }),
  trigger: Type.Union(TEST_TRIGGERS.map((t) => Type.Literal(t))),
});

export const HookEventsQuery = Type.Intersect([
  PaginationQuery,
  Type.Object({
    /** An HTTP status, or `successful`, `client_failure`, `server_failure`. */
    status: Type.Optional(
      Type.Union([
        Type.Integer({ minimum: 100, maximum: 599 }),
        Type.Literal("successful"),
        Type.Literal("client_failure"),
        Type.Literal("server_failure"),
      ]),
    ),
  }),
]);
export type HookEventsQuery = Static<typeof HookEventsQuery>;
