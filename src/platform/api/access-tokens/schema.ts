import { Type, type Static } from "typebox";

export const CreateAccessTokenBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  /** Days until it stops working; without it the token lasts until revoked. */
  expires_in_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
});
export type CreateAccessTokenBody = Static<typeof CreateAccessTokenBody>;

export const AccessTokenParams = Type.Object({ token_id: Type.String({ maxLength: 100 }) });
export type AccessTokenParams = Static<typeof AccessTokenParams>;
