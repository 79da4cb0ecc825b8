import { Type, type Static } from "typebox";

/** Ids as the clients send them: an account id or slug; a site id (UUID), name or domain. */
const Id = Type.String({ minLength: 1, maxLength: 255, pattern: "^[A-Za-z0-9._-]+$" });

export const TeamInstallationsParams = Type.Object({ account_id: Id, site_id: Id });
export type TeamInstallationsParams = Static<typeof TeamInstallationsParams>;

export const SafeIntegrationsParams = Type.Object({ site_id: Id });
export type SafeIntegrationsParams = Static<typeof SafeIntegrationsParams>;
