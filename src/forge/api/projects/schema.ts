import { Type, type Static } from "typebox";
import { PaginationQuery } from "../../http/pagination.ts";

/** `:id` is the integer id or the URL-encoded `namespace/path`. */
export const ProjectIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 500 }) });

const PATH_PATTERN = "^[a-zA-Z0-9_][a-zA-Z0-9_.-]*$";

export const CreateProjectBody = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  path: Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: PATH_PATTERN })),
  namespace_id: Type.Optional(Type.Integer({ minimum: 1 })),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  visibility: Type.Optional(
    Type.Union([Type.Literal("private"), Type.Literal("internal"), Type.Literal("public")]),
  ),
  default_branch: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  initialize_with_readme: Type.Optional(Type.Boolean()),
});
export type CreateProjectBody = Static<typeof CreateProjectBody>;

export const ListProjectsQuery = Type.Intersect([
  PaginationQuery,
  Type.Object({
    search: Type.Optional(Type.String({ maxLength: 255 })),
    owned: Type.Optional(Type.Boolean()),
    membership: Type.Optional(Type.Boolean()),
  }),
]);
