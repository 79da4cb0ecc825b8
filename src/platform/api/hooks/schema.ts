import { Type, type Static } from "typebox";

/**
 * Netlify's `hook` as clients send it (whole objects read back are accepted: `id`, `site_id`
 * and the times are ignored). `type`, `event` and `data` are checked by the domain, which says
 * which values it takes.
 */
export const HookBody = Type.Object({
  type: Type.Optional(Type.String({ maxLength: 50 })),
  event: Type.Optional(Type.String({ maxLength: 100 })),
  data: Type.Optional(Type.Record(Type.String({ maxLength: 100 }), Type.Unknown())),
  disabled: Type.Optional(Type.Boolean()),
  site_id: Type.Optional(Type.String({ maxLength: 255 })),
});
export type HookBody = Static<typeof HookBody>;

export const HooksQuery = Type.Object({ site_id: Type.Optional(Type.String({ maxLength: 255 })) });
export type HooksQuery = Static<typeof HooksQuery>;

export const HookParams = Type.Object({ hook_id: Type.String({ maxLength: 100 }) });
export type HookParams = Static<typeof HookParams>;
