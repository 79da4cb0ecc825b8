import { Type, type Static } from "typebox";

export const CreateUserBody = Type.Object({
  email: Type.String({ minLength: 3, maxLength: 254 }),
  full_name: Type.Optional(Type.String({ maxLength: 255 })),
  /** The new user's personal account (default: named after the user, slug from the e-mail). */
  account_name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  account_slug: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
  admin: Type.Optional(Type.Boolean()),
});
export type CreateUserBody = Static<typeof CreateUserBody>;
