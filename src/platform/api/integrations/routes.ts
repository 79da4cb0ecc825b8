import type { PlatformApp } from "../../http/app.ts";
import { SafeIntegrationsParams, TeamInstallationsParams } from "./schema.ts";

/** Slipway runs no build extensions: every site has none installed. */
const NO_EXTENSIONS: readonly never[] = [];

/**
 * Netlify's extensions ("integrations") lookups, which `@netlify/config` makes at the host root
 * of the API during `netlify deploy` and `netlify build`, without an Authorization header, and
 * which must answer `200 []` for the build to go on. The answer is the same for every
 * well-formed id, whether or not it names a site: nothing is looked up, so nothing (not even
 * whether a site exists) can be learnt from it.
 */
export function integrationRoutes(app: PlatformApp): void {
  app.get(
    "/team/:account_id/integrations/installations/meta/:site_id",
    { schema: { params: TeamInstallationsParams } },
    async () => NO_EXTENSIONS,
  );
  app.get(
    "/site/:site_id/integrations/safe",
    { schema: { params: SafeIntegrationsParams } },
    async () => NO_EXTENSIONS,
  );
}
