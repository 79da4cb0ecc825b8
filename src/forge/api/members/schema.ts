import { Type } from "typebox";

export const AccessLevelSchema = Type.Union([10, 20, 30, 40, 50].map((n) => Type.Literal(n)));

export const AddMemberBody = Type.Object({
  user_id: Type.Integer({ minimum: 1 }),
  access_level: AccessLevelSchema,
  expires_at: Type.Optional(Type.String({ format: "date" })),
});

export const MemberParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 500 }),
  user_id: Type.Integer({ minimum: 1 }),
});
