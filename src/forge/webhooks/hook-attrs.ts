import type { ForgeContext } from "../context.ts";
import type { CommitInfo } from "../git/commits.ts";
import type { ProjectWithNamespace } from "../projects/projects.ts";
import { fullPath, httpUrl, sshUrl } from "../projects/urls.ts";

/**
 * What GitLab's hook payloads say about a project and a commit (Project#hook_attrs,
 * Commit#hook_attrs), shared by the push and the merge request payloads.
 */

export interface HookProjectAttrs {
  id: number;
  name: string;
  description: string;
  web_url: string;
  avatar_url: null;
  git_ssh_url: string;
  git_http_url: string;
  namespace: string;
  visibility_level: number;
  path_with_namespace: string;
  default_branch: string;
  ci_config_path: null;
  homepage: string;
  url: string;
  ssh_url: string;
  http_url: string;
}

const VISIBILITY_LEVEL = { private: 0, internal: 10, public: 20 } as const;

/** GitLab's Project#hook_attrs, with the deprecated aliases. */
export function projectHookAttrs(
  ctx: Pick<ForgeContext, "config">,
  p: ProjectWithNamespace,
): HookProjectAttrs {
  const web = `${ctx.config.publicUrl}/${fullPath(p)}`;
  const ssh = sshUrl(ctx, p);
  const http = httpUrl(ctx, p);
  return {
    id: p.project.id,
    name: p.project.name,
    description: p.project.description,
    web_url: web,
    avatar_url: null,
    git_ssh_url: ssh,
    git_http_url: http,
    namespace: p.namespace.name,
    visibility_level: VISIBILITY_LEVEL[p.project.visibility],
    path_with_namespace: fullPath(p),
    default_branch: p.project.default_branch,
    ci_config_path: null,
    homepage: web,
    url: ssh,
    ssh_url: ssh,
    http_url: http,
  };
}

/** GitLab's Commit#hook_attrs without the file lists (a merge request's `last_commit`). */
export interface HookCommit {
  id: string;
  message: string;
  title: string;
  timestamp: string;
  url: string;
  author: { name: string; email: string };
}

/** A commit of the project as hook payloads show it, with its web URL. */
export function hookCommit(
  ctx: Pick<ForgeContext, "config">,
  project: ProjectWithNamespace,
  commit: CommitInfo,
): HookCommit {
  return {
    id: commit.id,
    message: commit.message,
    title: commitTitle(commit.message),
    timestamp: commit.committedAt,
    url: `${ctx.config.publicUrl}/${fullPath(project)}/-/commit/${commit.id}`,
    author: { name: commit.authorName, email: commit.authorEmail },
  };
}

/** GitLab's Commit#title: the first line, cut at a word near 80 characters when 100 or longer. */
export function commitTitle(message: string): string {
  const first = message.trim() === "" ? "No commit message" : (message.split(/[\r\n]/, 1)[0] ?? "");
  const chars = Array.from(first);
  if (chars.length < 100) return first;
  const room = 80;
  const head = chars.slice(0, room + 1).join("");
  const space = head.lastIndexOf(" ");
  const stop = space >= 0 ? Array.from(head.slice(0, space)).length : room;
  return chars.slice(0, stop).join("") + "…";
}
