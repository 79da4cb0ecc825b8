import type { DeployKeyProject, Key } from "../../db/schema.ts";
import type { ProjectWithNamespace } from "../../projects/projects.ts";
import { presentProjectIdentity } from "../projects/presenter.ts";

/**
 * GitLab's `Entities::DeployKey`: unlike a user's SSH key, `key` is the full stored
 * (sanitized) key, comment included. `fingerprint_sha256` carries the `SHA256:` prefix, as
 * GitLab's documentation and `ssh-keygen -l` show it.
 */
export function presentDeployKey(key: Key) {
  return {
    id: key.id,
    title: key.title,
    key: key.key,
    usage_type: "auth_and_signing",
    created_at: key.created_at,
    expires_at: key.expires_at,
    fingerprint: key.fingerprint,
    fingerprint_sha256: key.fingerprint_sha256,
  };
}

/** `Entities::DeployKeysProject`: the key merged with this project's `can_push`. */
export function presentDeployKeysProject(key: Key, link: DeployKeyProject) {
  return { ...presentDeployKey(key), can_push: link.can_push === 1 };
}

/** The admin listing adds the projects using the key, split by write access. */
export function presentDeployKeyWithProjects(
  key: Key,
  projects: { project: ProjectWithNamespace; canPush: boolean }[],
) {
  return {
    ...presentDeployKey(key),
    projects_with_write_access: projects
      .filter((p) => p.canPush)
      .map((p) => presentProjectIdentity(p.project)),
    projects_with_readonly_access: projects
      .filter((p) => !p.canPush)
      .map((p) => presentProjectIdentity(p.project)),
  };
}
