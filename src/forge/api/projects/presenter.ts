import type { ForgeContext } from "../../context.ts";
import type { ProjectWithNamespace } from "../../projects/projects.ts";
import { fullPath, httpUrl, sshUrl } from "../../projects/urls.ts";

/** GitLab's ProjectIdentity, used inside deploy key listings. */
export function presentProjectIdentity(p: ProjectWithNamespace) {
  return {
    id: p.project.id,
    description: p.project.description,
    name: p.project.name,
    name_with_namespace: `${p.namespace.name} / ${p.project.name}`,
    path: p.project.path,
    path_with_namespace: fullPath(p),
    created_at: p.project.created_at,
  };
}

/** GitLab's Project entity (the fields clients rely on). */
export function presentProject(ctx: ForgeContext, p: ProjectWithNamespace) {
  const web = `${ctx.config.publicUrl}/${fullPath(p)}`;
  return {
    ...presentProjectIdentity(p),
    default_branch: p.project.default_branch,
    visibility: p.project.visibility,
    ssh_url_to_repo: sshUrl(ctx, p),
    http_url_to_repo: httpUrl(ctx, p),
    web_url: web,
    readme_url: null,
    avatar_url: null,
    topics: [],
    tag_list: [],
    forks_count: 0,
    star_count: 0,
    last_activity_at: p.project.last_activity_at,
    archived: false,
    empty_repo: false,
    creator_id: p.project.creator_id,
    namespace: {
      id: p.namespace.id,
      name: p.namespace.name,
      path: p.namespace.path,
      kind: p.namespace.kind,
      full_path: p.namespace.path,
      parent_id: null,
      avatar_url: null,
      web_url: `${ctx.config.publicUrl}/${p.namespace.path}`,
    },
    _links: {
      self: `${ctx.config.publicUrl}/api/v4/projects/${p.project.id}`,
      repo_branches: `${ctx.config.publicUrl}/api/v4/projects/${p.project.id}/repository/branches`,
      members: `${ctx.config.publicUrl}/api/v4/projects/${p.project.id}/members`,
      hooks: `${ctx.config.publicUrl}/api/v4/projects/${p.project.id}/hooks`,
    },
  };
}
