import { Type, type Static } from "typebox";
import { CONTEXT_NAMES, SCOPES, VALUE_CONTEXTS } from "../../env/contexts.ts";

const MAX_VALUE = 32_768;
const MAX_VALUES = 50;
const Key = Type.String({ minLength: 1, maxLength: 255 });

/** Netlify's `envVarValue` as clients send it (the `id` of an existing value keeps it). */
export const EnvVarValueBody = Type.Object({
  id: Type.Optional(Type.String({ maxLength: 100 })),
  value: Type.Optional(Type.String({ maxLength: MAX_VALUE })),
  context: Type.Optional(Type.Enum([...VALUE_CONTEXTS])),
  context_parameter: Type.Optional(Type.String({ maxLength: 255 })),
});
export type EnvVarValueBody = Static<typeof EnvVarValueBody>;

/** One variable of `createEnvVars`, and the body of `updateEnvVar` (`key` renames). */
export const EnvVarBody = Type.Object({
  key: Type.Optional(Key),
  scopes: Type.Optional(Type.Array(Type.Enum([...SCOPES]), { maxItems: 4 })),
  values: Type.Optional(Type.Array(EnvVarValueBody, { maxItems: MAX_VALUES })),
  is_secret: Type.Optional(Type.Boolean()),
});
export type EnvVarBody = Static<typeof EnvVarBody>;

export const CreateEnvVarsBody = Type.Array(EnvVarBody, { minItems: 1, maxItems: 100 });
export type CreateEnvVarsBody = Static<typeof CreateEnvVarsBody>;

/** `setEnvVarValue` (PATCH): one value for one context. */
export const SetEnvVarValueBody = Type.Object({
  context: Type.Enum([...VALUE_CONTEXTS]),
  context_parameter: Type.Optional(Type.String({ maxLength: 255 })),
  value: Type.String({ maxLength: MAX_VALUE }),
});
export type SetEnvVarValueBody = Static<typeof SetEnvVarValueBody>;

export const AccountEnvParams = Type.Object({ account_id: Type.String({ maxLength: 100 }) });
export type AccountEnvParams = Static<typeof AccountEnvParams>;

export const EnvVarParams = Type.Object({
  account_id: Type.String({ maxLength: 100 }),
  key: Key,
});
export type EnvVarParams = Static<typeof EnvVarParams>;

export const EnvVarValueParams = Type.Object({
  account_id: Type.String({ maxLength: 100 }),
  key: Key,
  id: Type.String({ maxLength: 100 }),
});
export type EnvVarValueParams = Static<typeof EnvVarValueParams>;

export const SiteEnvParams = Type.Object({ site_id: Type.String({ maxLength: 255 }) });
export type SiteEnvParams = Static<typeof SiteEnvParams>;

/** `site_id`: the site's own variables instead of the account's. */
export const SiteScopeQuery = Type.Object({
  site_id: Type.Optional(Type.String({ maxLength: 255 })),
});
export type SiteScopeQuery = Static<typeof SiteScopeQuery>;

/**
 * Listing filters. The spec spells the scope `post_processing` on `getSiteEnvVars` and
 * `post-processing` elsewhere; both are accepted.
 */
export const ListEnvVarsQuery = Type.Object({
  site_id: Type.Optional(Type.String({ maxLength: 255 })),
  context_name: Type.Optional(Type.Enum([...CONTEXT_NAMES])),
  scope: Type.Optional(Type.Enum([...SCOPES, "post_processing"])),
});
export type ListEnvVarsQuery = Static<typeof ListEnvVarsQuery>;

export const SiteEnvQuery = Type.Object({
  context_name: Type.Optional(Type.Enum([...CONTEXT_NAMES])),
  scope: Type.Optional(Type.Enum([...SCOPES, "post_processing"])),
});
export type SiteEnvQuery = Static<typeof SiteEnvQuery>;
