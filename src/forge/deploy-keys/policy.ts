import type { Key, User } from "../db/schema.ts";
import { canAdminProject, type ProjectAccess } from "../projects/policies.ts";

/**
 * GitLab's `DeployKeyPolicy` and `DeployKeysProjectPolicy`, as pure functions of facts the
 * service loads. Admins are always in "admin mode" in this forge (there is no separate
 * session-level admin mode), so `admin` below is simply `is_admin`.
 */
export interface DeployKeyFacts {
  key: Key;
  /** How many projects the key is attached to. */
  projectCount: number;
  /** `has_deploy_key`: the key is attached to a project the user is a member of (any level). */
  userHasKey: boolean;
  /**
   * Access to the key's only project when it is attached to exactly one
   * (`almost_orphaned?`); used for `is_maintainer_of_deploy_key_project`.
   */
  onlyProjectAccess: ProjectAccess | undefined;
}

const isAdmin = (user: User): boolean => user.is_admin === 1;

/** `rule { admin | (private_deploy_key & has_deploy_key) }.enable :update_deploy_key` */
export function canUpdateDeployKey(user: User, facts: DeployKeyFacts): boolean {
  return isAdmin(user) || (facts.key.public === 0 && facts.userHasKey);
}

/**
 * `rule { can?(:update_deploy_key) & (admin | orphaned_deploy_key |
 * is_maintainer_of_deploy_key_project) }.enable :update_deploy_key_title`: a key shared by
 * several projects, or a public key, keeps its title when a non-admin edits it.
 */
export function canUpdateDeployKeyTitle(user: User, facts: DeployKeyFacts): boolean {
  if (!canUpdateDeployKey(user, facts)) return false;
  if (isAdmin(user) || facts.projectCount === 0) return true;
  return (
    facts.projectCount === 1 &&
    facts.onlyProjectAccess !== undefined &&
    canAdminProject(facts.onlyProjectAccess)
  );
}

/** `rule { public_deploy_key & can?(:admin_project) }.enable :update_deploy_keys_project` */
export function canUpdateDeployKeysProject(key: Key, projectAccess: ProjectAccess): boolean {
  return key.public === 1 && canAdminProject(projectAccess);
}
