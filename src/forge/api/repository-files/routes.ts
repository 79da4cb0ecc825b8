import type { ForgeContext } from "../../context.ts";
import type { ForgeApp } from "../../http/app.ts";
import { readRawFile } from "../../projects/files.ts";
import { findProject } from "../../projects/projects.ts";
import { RawFileParams, RawFileQuery } from "./schema.ts";

/**
 * One file's raw contents (GitLab's `GET /projects/:id/repository/files/:file_path/raw`), as
 * Slipway's GitLab adapter reads package.json and netlify.toml to prefill a site's build
 * settings. Public projects answer anonymous callers.
 */
export function repositoryFileRoutes(app: ForgeApp, ctx: ForgeContext): void {
  app.get(
    "/projects/:id/repository/files/:file_path/raw",
    { schema: { params: RawFileParams, querystring: RawFileQuery } },
    async (request, reply) => {
      const loaded = await findProject(ctx, request.actor?.user ?? null, request.params.id);
      const bytes = await readRawFile(ctx, loaded, request.params.file_path, request.query.ref);
      return reply
        .type("text/plain; charset=utf-8")
        .header("x-gitlab-file-path", request.params.file_path)
        .send(bytes);
    },
  );
}
