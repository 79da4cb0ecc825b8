import { Type, type Static } from "typebox";
import { PaginationQuery } from "../../http/pagination.ts";
import type { UPDATE_PARAMS } from "../../merge-requests/merge-requests.ts";

export const ProjectMergeRequestsParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 500 }),
});

export const MergeRequestParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 500 }),
  merge_request_iid: Type.Integer(),
});

/**
 * `POST /projects/:id/merge_requests`. Title and description lengths are model validations
 * (`{"message":{"title":[...]}}`), checked by the service; labels, assignees and the other
 * optional GitLab parameters are accepted and ignored.
 */
export const CreateMergeRequestBody = Type.Object({
  title: Type.String(),
  source_branch: Type.String(),
  target_branch: Type.String(),
  description: Type.Optional(Type.Union([Type.Null(), Type.String()])),
  target_project_id: Type.Optional(Type.Integer()),
});
export type CreateMergeRequestBody = Static<typeof CreateMergeRequestBody>;

export const UpdateMergeRequestBody = Type.Object({
  title: Type.Optional(Type.String()),
  description: Type.Optional(Type.Union([Type.Null(), Type.String()])),
  target_branch: Type.Optional(Type.String()),
  state_event: Type.Optional(Type.Union([Type.Literal("close"), Type.Literal("reopen")])),
});
export type UpdateMergeRequestBody = Static<typeof UpdateMergeRequestBody> &
  Partial<Record<(typeof UPDATE_PARAMS)[number], unknown>>;

export const MERGE_REQUEST_STATES = ["opened", "closed", "locked", "merged", "all"] as const;
export const MERGE_REQUEST_ORDERS = [
  "created_at",
  "label_priority",
  "milestone_due",
  "popularity",
  "priority",
  "title",
  "updated_at",
  "merged_at",
] as const;

export const ListMergeRequestsQuery = Type.Intersect([
  PaginationQuery,
  Type.Object({
    state: Type.Optional(Type.Union(MERGE_REQUEST_STATES.map((s) => Type.Literal(s)))),
    order_by: Type.Optional(Type.Union(MERGE_REQUEST_ORDERS.map((s) => Type.Literal(s)))),
    sort: Type.Optional(Type.Union([Type.Literal("asc"), Type.Literal("desc")])),
    source_branch: Type.Optional(Type.String()),
    target_branch: Type.Optional(Type.String()),
    author_id: Type.Optional(Type.Integer()),
    search: Type.Optional(Type.String({ maxLength: 255 })),
    /** `iids[]=1&iids[]=2` (as gitbeaker sends arrays) or `iids=1,2`. */
    iids: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
    "iids[]": Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
  }),
]);
// Unions built with `map` lose their literal types in Static; name them explicitly.
export type ListMergeRequestsQuery = Omit<
  Static<typeof ListMergeRequestsQuery>,
  "state" | "order_by"
> & {
  state?: (typeof MERGE_REQUEST_STATES)[number];
  order_by?: (typeof MERGE_REQUEST_ORDERS)[number];
};
