import { Type, type Static } from "typebox";

/** `POST /session`: an e-mail address and password, or a pasted access token. */
export const SignInBody = Type.Object({
  email: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  token: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
});
export type SignInBody = Static<typeof SignInBody>;
