import type { Project, User } from "../db/schema.ts";

/** GitLab's access levels. */
export const AccessLevel = {
  NoAccess: 0,
  Guest: 10,
  Reporter: 20,
  Developer: 30,
  Maintainer: 40,
  Owner: 50,
} as const;

/** Who is asking about which project; `level` is the membership level (0 for none). */
export interface ProjectAccess {
  user: User | null;
  project: Project;
  level: number;
}

const isAdmin = (a: ProjectAccess): boolean => a.user?.is_admin === 1;

/** Project existence is hidden (404) from whoever cannot read it. */
export function canReadProject(a: ProjectAccess): boolean {
  if (isAdmin(a) || a.level >= AccessLevel.Guest) return true;
  if (a.project.visibility === "public") return true;
  return a.project.visibility === "internal" && a.user !== null;
}

/** `admin_project`: deploy keys, hooks, members (Maintainer or higher). */
export function canAdminProject(a: ProjectAccess): boolean {
  return isAdmin(a) || a.level >= AccessLevel.Maintainer;
}

/** Deleting a project is for its Owner. */
export function canRemoveProject(a: ProjectAccess): boolean {
  return isAdmin(a) || a.level >= AccessLevel.Owner;
}

/** Clone and fetch: Reporter+ on any project; anyone who can read a public/internal project. */
export function canDownloadCode(a: ProjectAccess): boolean {
  if (isAdmin(a) || a.level >= AccessLevel.Reporter) return true;
  return canReadProject(a) && a.project.visibility !== "private";
}

/** Push: Developer or higher. */
export function canPushCode(a: ProjectAccess): boolean {
  return isAdmin(a) || a.level >= AccessLevel.Developer;
}

/** `read_commit_status`: like reading the code (Reporter+, or a public or internal project). */
export function canReadCommitStatus(a: ProjectAccess): boolean {
  return canDownloadCode(a);
}

/** `create_commit_status`: Developer or higher (a Reporter or Guest gets a 403). */
export function canCreateCommitStatus(a: ProjectAccess): boolean {
  return isAdmin(a) || a.level >= AccessLevel.Developer;
}

/** `read_merge_request`: whoever can read the project. */
export function canReadMergeRequest(a: ProjectAccess): boolean {
  return canReadProject(a);
}

/** `create_merge_request_from` the project itself: Developer or higher (who can push). */
export function canCreateMergeRequest(a: ProjectAccess): boolean {
  return isAdmin(a) || a.level >= AccessLevel.Developer;
}

/** `update_merge_request`: Developer or higher, or its author while they can read the project. */
export function canUpdateMergeRequest(a: ProjectAccess, authorId: number | null): boolean {
  if (canCreateMergeRequest(a)) return true;
  return a.user !== null && authorId === a.user.id && canReadProject(a);
}
