import { Type, type Static } from "typebox";
import { PaginationQuery } from "../../http/pagination.ts";

/** `:branch` is URL-encoded when it holds slashes (`feature%2Fx`), as in GitLab. */
export const BranchParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 500 }),
  branch: Type.String({ minLength: 1, maxLength: 255 }),
});
export type BranchParams = Static<typeof BranchParams>;

export const ListBranchesQuery = Type.Intersect([
  PaginationQuery,
  Type.Object({ search: Type.Optional(Type.String({ maxLength: 255 })) }),
]);
export type ListBranchesQuery = Static<typeof ListBranchesQuery>;
