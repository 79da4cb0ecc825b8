import { Type, type Static } from "typebox";

export const CreateAccessTokenBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  /** Days until it stops working; without it the token lasts until revoked. */
  expires_in_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
  /** When it stops working (ISO 8601, in the future); instead of `expires_in_days`. */
  expires_at: Type.Optional(Type.String({ maxLength: 40 })),
  /** `all` (default), `read` (GET only) or `deploy` (what a CI job needs). */
  scope: Type.Optional(
    Type.Union([Type.Literal("all"), Type.Literal("read"), Type.Literal("deploy")]),
  ),
});
export type CreateAccessTokenBody = Static<typeof CreateAccessTokenBody>;

export const AccessTokenParams = Type.Object({ token_id: Type.String({ maxLength: 100 }) });
export type AccessTokenParams = Static<typeof AccessTokenParams>;
