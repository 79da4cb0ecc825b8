import { Type, type Static } from "typebox";

export const DeployKeyParams = Type.Object({ key_id: Type.String({ maxLength: 100 }) });
export type DeployKeyParams = Static<typeof DeployKeyParams>;

/** Slipway's addition: the account the key is for (default: the caller's default account). */
export const CreateDeployKeyQuery = Type.Object({
  account_slug: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
});
export type CreateDeployKeyQuery = Static<typeof CreateDeployKeyQuery>;
