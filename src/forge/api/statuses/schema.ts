import { Type, type Static } from "typebox";
import { PaginationQuery } from "../../http/pagination.ts";
import { POSTABLE_STATES, type PostableState } from "../../statuses/statuses.ts";

/** `:sha` is a commit id (full or abbreviated) or a branch or tag name, as `project.commit` takes. */
export const CommitStatusParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 500 }),
  sha: Type.String({ minLength: 1, maxLength: 255 }),
});

// One JSON-schema type list rather than a union, so a bad value is one "is invalid" error.
const OptionalText = Type.Optional(Type.Unsafe<string | null>({ type: ["string", "null"] }));

/**
 * `POST /projects/:id/statuses/:sha`. Lengths and URL rules are the model's validations (a
 * `{"message":{...}}` 400 from the service), not Grape's; `pipeline_id` is accepted and ignored
 * (the forge keeps one external pipeline per commit and ref).
 */
export const CreateCommitStatusBody = Type.Object({
  state: Type.Union(POSTABLE_STATES.map((s) => Type.Literal(s))),
  ref: OptionalText,
  name: OptionalText,
  context: OptionalText,
  target_url: OptionalText,
  description: OptionalText,
  coverage: Type.Optional(Type.Unsafe<number | null>({ type: ["number", "null"] })),
  pipeline_id: Type.Optional(Type.Unsafe<number | null>({ type: ["integer", "null"] })),
});
// A union built with `map` loses its literal types in Static; name the state explicitly.
export type CreateCommitStatusBody = Omit<Static<typeof CreateCommitStatusBody>, "state"> & {
  state: PostableState;
};

export const ListCommitStatusesQuery = Type.Intersect([
  PaginationQuery,
  Type.Object({
    ref: Type.Optional(Type.String()),
    stage: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
    pipeline_id: Type.Optional(Type.Integer()),
    /** Grape's Boolean: `true`/`false`, `1`/`0`, `t`/`f`, `yes`/`no` (read by the service). */
    all: Type.Optional(Type.String()),
    order_by: Type.Optional(Type.Union([Type.Literal("id"), Type.Literal("pipeline_id")])),
    sort: Type.Optional(Type.Union([Type.Literal("asc"), Type.Literal("desc")])),
  }),
]);
export type ListCommitStatusesQuery = Static<typeof ListCommitStatusesQuery>;
