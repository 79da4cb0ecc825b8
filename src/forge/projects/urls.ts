import type { ForgeContext } from "../context.ts";
import type { ProjectWithNamespace } from "./projects.ts";

/** `namespace/project`, as URLs and GitLab's `path_with_namespace` name a project. */
export function fullPath({ project, namespace }: ProjectWithNamespace): string {
  return `${namespace.path}/${project.path}`;
}

/** The project's clone URL over SSH (scp-like on port 22, an `ssh://` URL on any other). */
export function sshUrl(ctx: Pick<ForgeContext, "config">, p: ProjectWithNamespace): string {
  const { sshHost, sshPort } = ctx.config;
  return sshPort === 22
    ? `git@${sshHost}:${fullPath(p)}.git`
    : `ssh://git@${sshHost}:${sshPort}/${fullPath(p)}.git`;
}

/** The project's clone URL over HTTP(S). */
export function httpUrl(ctx: Pick<ForgeContext, "config">, p: ProjectWithNamespace): string {
  return `${ctx.config.publicUrl}/${fullPath(p)}.git`;
}
