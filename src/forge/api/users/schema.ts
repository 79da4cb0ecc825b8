import { Type, type Static } from "typebox";
import { SCOPES } from "../../users/tokens.ts";

export const UserIdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });

export const CreateUserBody = Type.Object({
  username: Type.String({ minLength: 2, maxLength: 255, pattern: "^[a-zA-Z0-9_][a-zA-Z0-9_.-]*$" }),
  name: Type.String({ minLength: 1, maxLength: 255 }),
  email: Type.String({ minLength: 3, maxLength: 255, pattern: "^[^@\\s]+@[^@\\s]+$" }),
  password: Type.Optional(Type.String({ maxLength: 255 })),
  admin: Type.Optional(Type.Boolean()),
  skip_confirmation: Type.Optional(Type.Boolean()),
});
export type CreateUserBody = Static<typeof CreateUserBody>;

export const CreateTokenBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 255 }),
  scopes: Type.Array(Type.Union(SCOPES.map((s) => Type.Literal(s))), { minItems: 1 }),
  expires_at: Type.Optional(Type.String({ format: "date" })),
});
export type CreateTokenBody = Static<typeof CreateTokenBody>;
