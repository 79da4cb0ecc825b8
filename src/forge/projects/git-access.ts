import { existsSync } from "node:fs";
import { fingerprintSha256 } from "../../lib/ssh-keys.ts";
import type { ForgeContext } from "../context.ts";
import type { Key } from "../db/schema.ts";
import {
  GitAccessMessages,
  parseProjectPath,
  type GitAccess,
  type GitAccessDecision,
  type GitActor,
  type GitOperation,
} from "../git/access.ts";
import { findKeyByBlob, isKeyExpired } from "../users/ssh-keys.ts";
import { authenticateToken, hasGitScope } from "../users/tokens.ts";
import { canDownloadCode, canPushCode, canReadProject } from "./policies.ts";
import { accessFor, lookupProject, type ProjectWithNamespace } from "./projects.ts";

/**
 * The one place that decides who may fetch from or push to a forge repository, over SSH and over
 * smart HTTP alike. It follows GitLab's `Gitlab::GitAccess#check` step by step, with its exact
 * messages, because git clients show them to people verbatim.
 */

/** The decisions below, as the git transports ask for them. */
export function gitAccess(ctx: ForgeContext): GitAccess {
  return {
    actorForToken: (token) => actorForToken(ctx, token),
    findKeyForBlob: (blob) => findKeyForBlob(ctx, blob),
    actorForKey: (keyId) => actorForKey(ctx, keyId),
    check: (actor, rawPath, operation) => checkGitAccess(ctx, actor, rawPath, operation),
  };
}

const denied = (status: "not_found" | "forbidden", message: string): GitAccessDecision => ({
  allowed: false,
  status,
  message,
});

/** Whether a deploy key is attached to the project, and with `can_push`. */
async function deployKeyLink(
  ctx: ForgeContext,
  keyId: number,
  projectId: number,
): Promise<{ canPush: boolean } | undefined> {
  const row = await ctx.db
    .selectFrom("deploy_keys_projects")
    .select("can_push")
    .where("deploy_key_id", "=", keyId)
    .where("project_id", "=", projectId)
    .executeTakeFirst();
  return row ? { canPush: row.can_push === 1 } : undefined;
}

/**
 * Decides one git operation on the project named by `rawPath`. Order as in GitLab: the credential
 * itself (expired key, blocked user, token scopes), then whether the project is visible (else
 * "not found", never revealing that it exists), then download or push rights on it.
 */
export async function checkGitAccess(
  ctx: ForgeContext,
  actor: GitActor,
  rawPath: string,
  operation: GitOperation,
): Promise<GitAccessDecision> {
  // check_valid_actor!
  if (actor.kind !== "anonymous" && actor.key && isKeyExpired(actor.key, ctx.now())) {
    return denied("forbidden", GitAccessMessages.keyExpired);
  }
  // check_active_user!
  if (actor.kind === "user" && actor.user.state !== "active") {
    return denied("forbidden", GitAccessMessages.accountBlocked);
  }
  // check_authentication_abilities!
  if (actor.kind === "user") {
    if (operation === "download" && !actor.abilities.download) {
      return denied("forbidden", GitAccessMessages.authDownload);
    }
    if (operation === "push" && !actor.abilities.push) {
      return denied("forbidden", GitAccessMessages.authUpload);
    }
  }

  // check_container! / check_project_accessibility!
  const path = parseProjectPath(rawPath);
  const found = path === undefined ? undefined : await lookupProject(ctx, path);
  if (!found) return denied("not_found", GitAccessMessages.projectNotFound);
  const { project } = found;
  const isPublic = project.visibility === "public";
  const access = await accessFor(ctx, actor.kind === "user" ? actor.user : null, found);
  const link =
    actor.kind === "deploy_key" ? await deployKeyLink(ctx, actor.key.id, project.id) : undefined;
  const canRead =
    actor.kind === "deploy_key" ? link !== undefined || isPublic : canReadProject(access);
  if (!canRead) return denied("not_found", GitAccessMessages.projectNotFound);

  // check_repository_existence!
  if (!existsSync(ctx.repositories.pathFor(project.id))) {
    return denied("not_found", GitAccessMessages.noRepo);
  }

  if (operation === "download") {
    // check_download_access!: deploy key attached, a user allowed to, or a guest on a public project.
    const passed =
      actor.kind === "deploy_key" ? link !== undefined || isPublic : canDownloadCode(access);
    if (!passed) return denied("forbidden", GitAccessMessages.download);
    return { allowed: true, projectId: project.id, pusherId: null };
  }

  // check_push_access!
  switch (actor.kind) {
    case "deploy_key": {
      // A push is attributed to the key's owner; a key whose owner is gone cannot push.
      if (!link?.canPush || actor.key.user_id === null) {
        return denied("forbidden", GitAccessMessages.deployKeyUpload);
      }
      const ownerRefusal = await deployKeyOwnerRefusal(ctx, actor.key.user_id, found);
      if (ownerRefusal) return denied("forbidden", ownerRefusal);
      return { allowed: true, projectId: project.id, pusherId: actor.key.user_id };
    }
    case "user":
      if (!canPushCode(access)) return denied("forbidden", GitAccessMessages.pushCode);
      return { allowed: true, projectId: project.id, pusherId: actor.user.id };
    case "anonymous":
      return denied("forbidden", GitAccessMessages.upload);
  }
}

/**
 * Why a write-access deploy key may not push for its owner now, or undefined when it may
 * (GitLab's fix of CVE-2023-5198, `DeployKeyAccess#project_has_active_user_keys?`: the owner
 * must still be an active user who can read the project). Without it, a member removed from a
 * private project kept pushing through the key they had added. Fetching with an attached key
 * does not depend on its owner, as in GitLab.
 */
async function deployKeyOwnerRefusal(
  ctx: ForgeContext,
  ownerId: number,
  found: ProjectWithNamespace,
): Promise<string | undefined> {
  const owner = await ctx.db
    .selectFrom("users")
    .selectAll()
    .where("id", "=", ownerId)
    .executeTakeFirst();
  if (!owner) return GitAccessMessages.deployKeyUpload;
  if (owner.state !== "active") {
    return `This deploy key cannot push: its owner @${owner.username} is blocked.`;
  }
  if (!canReadProject(await accessFor(ctx, owner, found))) {
    return `This deploy key cannot push: its owner @${owner.username} no longer has access to this project. Ask a maintainer to add a deploy key of their own.`;
  }
  return undefined;
}

/**
 * The key an SSH client authenticates with, by its public key blob. Expired keys are found too,
 * so that git can be told "Your SSH key has expired." (as GitLab does) instead of a bare
 * authentication failure; a user key whose user is gone is not found.
 */
export async function findKeyForBlob(ctx: ForgeContext, blob: Buffer): Promise<Key | undefined> {
  const usable = await findKeyByBlob(ctx, blob);
  if (usable) return usable;
  const row = await ctx.db
    .selectFrom("keys")
    .selectAll()
    .where("fingerprint_sha256", "=", fingerprintSha256(blob))
    .executeTakeFirst();
  // The fingerprint is only an index: the stored key itself must be the presented one.
  if (!row || row.key.trim().split(/\s+/)[1] !== blob.toString("base64")) return undefined;
  if (row.kind === "user" && row.user_id === null) return undefined;
  return isKeyExpired(row, ctx.now()) ? row : undefined;
}

/**
 * Who a key stands for right now: re-read at every command, so a key or user removed since the
 * connection was opened no longer counts (GitLab treats an unknown key as no actor at all).
 */
export async function actorForKey(ctx: ForgeContext, keyId: number): Promise<GitActor> {
  const key = await ctx.db
    .selectFrom("keys")
    .selectAll()
    .where("id", "=", keyId)
    .executeTakeFirst();
  if (!key) return { kind: "anonymous" };
  if (key.kind === "deploy") return { kind: "deploy_key", key };
  if (key.user_id === null) return { kind: "anonymous" };
  const user = await ctx.db
    .selectFrom("users")
    .selectAll()
    .where("id", "=", key.user_id)
    .executeTakeFirst();
  if (!user) return { kind: "anonymous" };
  return { kind: "user", user, key, abilities: { download: true, push: true } };
}

/**
 * Who a personal access token sent as git's HTTP password stands for: its user, with what the
 * token's scopes allow (`read_repository` to fetch, `write_repository` to push, `api` both).
 * Rejects when the token is unknown, expired or revoked.
 */
export async function actorForToken(ctx: ForgeContext, token: string): Promise<GitActor> {
  const actor = await authenticateToken(ctx, token);
  return {
    kind: "user",
    user: actor.user,
    abilities: { download: hasGitScope(actor, false), push: hasGitScope(actor, true) },
  };
}
