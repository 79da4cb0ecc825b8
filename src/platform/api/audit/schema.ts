import { Type, type Static } from "typebox";

export const AuditParams = Type.Object({
  account_id: Type.String({ minLength: 1, maxLength: 200 }),
});
export type AuditParams = Static<typeof AuditParams>;

/** Netlify's `listAccountAuditEvents` query. */
export const AuditQuery = Type.Object({
  query: Type.Optional(Type.String({ maxLength: 200 })),
  log_type: Type.Optional(Type.String({ pattern: "^[a-z_]{1,40}$" })),
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});
export type AuditQuery = Static<typeof AuditQuery>;
