import { Type, type Static } from "typebox";
import { MAX_STORED_LINES } from "../../builds/build-log.ts";

export const BuildParams = Type.Object({ build_id: Type.String({ maxLength: 100 }) });
export type BuildParams = Static<typeof BuildParams>;

export const ListBuildsQuery = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});
export type ListBuildsQuery = Static<typeof ListBuildsQuery>;

/** Netlify's createSiteBuild query (`image` and `template_id` are accepted and ignored). */
export const CreateBuildQuery = Type.Object({
  branch: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  title: Type.Optional(Type.String({ maxLength: 1000 })),
  clear_cache: Type.Optional(Type.Boolean()),
  image: Type.Optional(Type.String({ maxLength: 255 })),
  template_id: Type.Optional(Type.String({ maxLength: 255 })),
});
export type CreateBuildQuery = Static<typeof CreateBuildQuery>;

/** Netlify's createSiteBuild body (`netlify-cli` sends `clear_cache` here; the query works too). */
export const CreateBuildBody = Type.Object({
  clear_cache: Type.Optional(Type.Boolean()),
  image: Type.Optional(Type.String({ maxLength: 255 })),
});
export type CreateBuildBody = Static<typeof CreateBuildBody>;

/**
 * Slipway's log API: lines after `since` (a `seq`), at most `limit` (default: the rest of the
 * log), as a JSON array or NDJSON.
 */
export const BuildLogQuery = Type.Object({
  since: Type.Optional(Type.Integer({ minimum: -1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_STORED_LINES })),
  format: Type.Optional(Type.Enum(["json", "ndjson"])),
});
export type BuildLogQuery = Static<typeof BuildLogQuery>;

/**
 * The live log: lines after `since` (or the `Last-Event-ID` header); with `batch`, each event
 * carries every line read at once (`event: lines`, a JSON array) instead of one (`event: line`).
 */
export const BuildLogStreamQuery = Type.Object({
  since: Type.Optional(Type.Integer({ minimum: -1 })),
  batch: Type.Optional(Type.Boolean()),
});
export type BuildLogStreamQuery = Static<typeof BuildLogStreamQuery>;
