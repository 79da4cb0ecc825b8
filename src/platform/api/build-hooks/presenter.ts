import type { PlatformConfig } from "../../../config.ts";
import type { BuildHook } from "../../db/schema.ts";

/** Where a build hook is called: the host root, as Netlify's `/build_hooks/<id>`. */
export const BUILD_HOOK_PATH = "/build_hooks";

export function buildHookUrl(config: Pick<PlatformConfig, "publicUrl">, id: string): string {
  return `${config.publicUrl}${BUILD_HOOK_PATH}/${id}`;
}

/** Netlify's `buildHook`: `{id, title, branch, url, site_id, created_at}`. */
export function presentBuildHook(config: PlatformConfig, hook: BuildHook) {
  return {
    id: hook.id,
    title: hook.title,
    branch: hook.branch,
    url: buildHookUrl(config, hook.id),
    site_id: hook.site_id,
    created_at: hook.created_at,
  };
}

/** A build hook's JSON (`GET /sites/:id/build_hooks`). */
export type BuildHookJson = ReturnType<typeof presentBuildHook>;
