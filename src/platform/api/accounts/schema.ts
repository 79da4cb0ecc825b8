import { Type, type Static } from "typebox";

export const ListAccountsQuery = Type.Object({
  minimal: Type.Optional(Type.Boolean()),
});
export type ListAccountsQuery = Static<typeof ListAccountsQuery>;

export const AccountParams = Type.Object({
  account_id: Type.String({ minLength: 1, maxLength: 100 }),
});
export type AccountParams = Static<typeof AccountParams>;

/** A limit, 0 for none, or null for the instance's default. */
const Limit = Type.Union([
  Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  Type.Null(),
]);

export const QuotaOverridesBody = Type.Object(
  {
    storage_bytes: Type.Optional(Limit),
    sites: Type.Optional(Limit),
    concurrent_builds: Type.Optional(Limit),
  },
  { additionalProperties: false },
);
export type QuotaOverridesBody = Static<typeof QuotaOverridesBody>;
