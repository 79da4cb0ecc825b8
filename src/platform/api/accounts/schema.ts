import { Type, type Static } from "typebox";

export const ListAccountsQuery = Type.Object({
  minimal: Type.Optional(Type.Boolean()),
});
export type ListAccountsQuery = Static<typeof ListAccountsQuery>;
