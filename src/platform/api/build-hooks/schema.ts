import { Type, type Static } from "typebox";

/** Netlify's `buildHookSetup`. `branch` defaults to the site's production branch. */
export const BuildHookSetupBody = Type.Object({
  title: Type.String({ minLength: 1, maxLength: 255 }),
  branch: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
});
export type BuildHookSetupBody = Static<typeof BuildHookSetupBody>;

/** `PUT` changes what it is given. */
export const BuildHookUpdateBody = Type.Object({
  title: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  branch: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
});
export type BuildHookUpdateBody = Static<typeof BuildHookUpdateBody>;

export const SiteBuildHooksParams = Type.Object({ site_id: Type.String({ maxLength: 255 }) });
export type SiteBuildHooksParams = Static<typeof SiteBuildHooksParams>;

export const SiteBuildHookParams = Type.Object({
  site_id: Type.String({ maxLength: 255 }),
  id: Type.String({ maxLength: 100 }),
});
export type SiteBuildHookParams = Static<typeof SiteBuildHookParams>;

/** `POST /build_hooks/:id` at the host root; an unknown or malformed id is a 404. */
export const TriggerParams = Type.Object({ id: Type.String() });
export type TriggerParams = Static<typeof TriggerParams>;

/** Netlify's documented query parameters of a build hook call. */
export const TriggerQuery = Type.Object({
  trigger_branch: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  trigger_title: Type.Optional(Type.String({ maxLength: 1000 })),
  clear_cache: Type.Optional(Type.Boolean()),
});
export type TriggerQuery = Static<typeof TriggerQuery>;
