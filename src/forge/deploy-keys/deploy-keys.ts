import type { Kysely } from "kysely";
import { parsePublicKey } from "../../lib/ssh-keys.ts";
import { checkUnmodifiedSince, parseExpiresAt } from "../users/key-times.ts";
import { createKeyRecord, pageOfKeys, titleErrors } from "../users/ssh-keys.ts";
import type { ForgeContext } from "../context.ts";
import { isoNow } from "../context.ts";
import type { Page, PageOf } from "../db/page.ts";
import type { DeployKeyProject, ForgeDatabase, Key, User } from "../db/schema.ts";
import { badParams, forbidden, invalidRecord, notFound } from "../errors.ts";
import { AccessLevel } from "../projects/policies.ts";
import {
  accessFor,
  findProject,
  lookupProject,
  type ProjectWithNamespace,
} from "../projects/projects.ts";
import {
  canUpdateDeployKey,
  canUpdateDeployKeysProject,
  canUpdateDeployKeyTitle,
} from "./policy.ts";

// Admin mode: GitLab's spec expects an admin *without* admin mode to be treated like a regular
// user (403 on the admin endpoints, 404 on private projects). This forge has no admin mode —
// an admin is always in it — so those cases are adapted: admins always succeed.

/** A deploy key as attached to one project. */
export interface AttachedDeployKey {
  key: Key;
  link: DeployKeyProject;
}

export interface DeployKeyWithProjects {
  key: Key;
  projects: { project: ProjectWithNamespace; canPush: boolean }[];
}

/** A key to create: `POST /deploy_keys` (instance-wide) or `POST /projects/:id/deploy_keys`. */
export interface NewDeployKey {
  key: string;
  title: string;
  expires_at?: string | null;
  /** Write access to the project it is added to (project keys only). */
  can_push?: boolean;
}

/** `PUT /projects/:id/deploy_keys/:key_id`: at least one of the two. */
export interface DeployKeyEdit {
  title?: string;
  can_push?: boolean;
}

type Db = Kysely<ForgeDatabase>;

/** `authenticated_as_admin!` */
function assertAdmin(user: User): void {
  if (user.is_admin !== 1) throw forbidden();
}

/**
 * `current_user.accessible_deploy_keys`: deploy keys attached to any project the user is a
 * member of (at any access level), plus every public (instance-wide) key.
 */
function accessibleDeployKeys(db: Db, user: User) {
  return db
    .selectFrom("keys")
    .selectAll()
    .where("kind", "=", "deploy")
    .where((eb) =>
      eb.or([
        eb("public", "=", 1),
        eb(
          "id",
          "in",
          eb
            .selectFrom("deploy_keys_projects")
            .select("deploy_key_id")
            .where(
              "project_id",
              "in",
              eb.selectFrom("members").select("project_id").where("user_id", "=", user.id),
            ),
        ),
      ]),
    );
}

/** The join row of a key and a project, with the key. */
async function findAttached(
  db: Db,
  projectId: number,
  keyId: number,
): Promise<AttachedDeployKey | undefined> {
  if (!Number.isSafeInteger(keyId)) return undefined;
  const link = await db
    .selectFrom("deploy_keys_projects")
    .selectAll()
    .where("project_id", "=", projectId)
    .where("deploy_key_id", "=", keyId)
    .executeTakeFirst();
  if (!link) return undefined;
  const key = await db
    .selectFrom("keys")
    .selectAll()
    .where("id", "=", link.deploy_key_id)
    .executeTakeFirstOrThrow();
  return { key, link };
}

async function attach(
  ctx: ForgeContext,
  db: Db,
  projectId: number,
  keyId: number,
  canPush: boolean,
): Promise<DeployKeyProject> {
  const at = isoNow(ctx);
  return db
    .insertInto("deploy_keys_projects")
    .values({
      deploy_key_id: keyId,
      project_id: projectId,
      can_push: canPush ? 1 : 0,
      created_at: at,
      updated_at: at,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

async function projectsById(
  ctx: ForgeContext,
  ids: readonly number[],
): Promise<Map<number, ProjectWithNamespace>> {
  const found = new Map<number, ProjectWithNamespace>();
  for (const id of new Set(ids)) {
    const project = await lookupProject(ctx, String(id));
    if (project) found.set(id, project);
  }
  return found;
}

/** `GET /deploy_keys`: every deploy key (or only public ones), with the projects using each. */
export async function listAllDeployKeys(
  ctx: ForgeContext,
  user: User,
  options: { onlyPublic: boolean; page: Page },
): Promise<PageOf<DeployKeyWithProjects>> {
  assertAdmin(user);
  let query = ctx.db.selectFrom("keys").where("kind", "=", "deploy");
  if (options.onlyPublic) query = query.where("public", "=", 1);
  const { total, items: keys } = await pageOfKeys(query, options.page);
  if (keys.length === 0) return { total, items: [] };
  const links = await ctx.db
    .selectFrom("deploy_keys_projects")
    .selectAll()
    .where(
      "deploy_key_id",
      "in",
      keys.map((k) => k.id),
    )
    .orderBy("project_id")
    .execute();
  const projects = await projectsById(
    ctx,
    links.map((l) => l.project_id),
  );
  const items = keys.map((key) => ({
    key,
    projects: links
      .filter((l) => l.deploy_key_id === key.id && projects.has(l.project_id))
      .map((l) => ({ project: projects.get(l.project_id)!, canPush: l.can_push === 1 })),
  }));
  return { total: Number(total), items };
}

/** `POST /deploy_keys`: an admin creates an instance-wide public key, attached to nothing. */
export async function createInstanceDeployKey(
  ctx: ForgeContext,
  user: User,
  body: Omit<NewDeployKey, "can_push">,
): Promise<Key> {
  assertAdmin(user);
  const expiresAt = parseExpiresAt(body.expires_at);
  return ctx.db.transaction().execute(async (trx) => {
    const { key } = await createKeyRecord(ctx, trx, {
      kind: "deploy",
      userId: user.id,
      title: body.title,
      key: body.key,
      expiresAt,
      public: true,
    });
    return key;
  });
}

/** `GET /projects/:id/deploy_keys` (Maintainer+). */
export async function listProjectDeployKeys(
  ctx: ForgeContext,
  user: User,
  projectId: string,
  page: Page,
): Promise<PageOf<AttachedDeployKey>> {
  const { project } = await findProject(ctx, user, projectId, "admin");
  const base = ctx.db
    .selectFrom("deploy_keys_projects as l")
    .innerJoin("keys as k", "k.id", "l.deploy_key_id")
    .where("l.project_id", "=", project.id);
  const { total } = await base
    .select((eb) => eb.fn.countAll<number>().as("total"))
    .executeTakeFirstOrThrow();
  const links = await base
    .selectAll("l")
    .orderBy("l.id")
    .limit(page.perPage)
    .offset(page.offset)
    .execute();
  const keys = links.length
    ? await ctx.db
        .selectFrom("keys")
        .selectAll()
        .where(
          "id",
          "in",
          links.map((l) => l.deploy_key_id),
        )
        .execute()
    : [];
  const byId = new Map(keys.map((k) => [k.id, k]));
  return {
    total: Number(total),
    items: links.map((link) => ({ key: byId.get(link.deploy_key_id)!, link })),
  };
}

/** `GET /projects/:id/deploy_keys/:key_id`: a key not attached here is `404 Not found`. */
export async function showProjectDeployKey(
  ctx: ForgeContext,
  user: User,
  projectId: string,
  keyId: number,
): Promise<AttachedDeployKey> {
  const { project } = await findProject(ctx, user, projectId, "admin");
  const attached = await findAttached(ctx.db, project.id, keyId);
  if (!attached) throw notFound();
  return attached;
}

/**
 * `POST /projects/:id/deploy_keys`, GitLab's algorithm:
 * 1. the key is already attached to this project → returned unchanged (201; the new title
 *    and `can_push` are ignored);
 * 2. the key exists and is accessible to the user (attached to a project they are a member
 *    of, or public) → attached here with the requested `can_push`, keeping its title;
 * 3. otherwise a new key is created, which fails on uniqueness if the key exists anyway
 *    (another user's key, a key of a project the user cannot see):
 *    400 `{"message":{"deploy_key.fingerprint_sha256":["has already been taken"]}}`.
 *
 * Steps 1 and 2 match keys by fingerprint. GitLab compares the raw posted string with the
 * stored, sanitized one, so the same key with a different or multi-word comment never
 * matches and falls through to "has already been taken" (python-gitlab#930); matching the key
 * material itself is the behaviour GitLab's documentation describes.
 */
export async function addProjectDeployKey(
  ctx: ForgeContext,
  user: User,
  projectId: string,
  body: NewDeployKey,
): Promise<AttachedDeployKey> {
  const { project } = await findProject(ctx, user, projectId, "admin");
  const expiresAt = parseExpiresAt(body.expires_at);
  const canPush = body.can_push === true;
  const parsed = parsePublicKey(body.key);
  // A key written with authorized_keys options is refused at creation ("is invalid"), so it
  // does not match an existing key either.
  const fingerprint = parsed && !parsed.hadOptions ? parsed.fingerprintSha256 : undefined;
  return ctx.db.transaction().execute(async (trx) => {
    if (fingerprint !== undefined) {
      const existing = await trx
        .selectFrom("deploy_keys_projects as l")
        .innerJoin("keys as k", "k.id", "l.deploy_key_id")
        .select("k.id")
        .where("l.project_id", "=", project.id)
        .where("k.fingerprint_sha256", "=", fingerprint)
        .executeTakeFirst();
      if (existing) return (await findAttached(trx, project.id, existing.id))!;
      const accessible = await accessibleDeployKeys(trx, user)
        .where("fingerprint_sha256", "=", fingerprint)
        .executeTakeFirst();
      if (accessible) {
        const link = await attach(ctx, trx, project.id, accessible.id, canPush);
        return { key: accessible, link };
      }
    }
    const { key } = await createKeyRecord(
      ctx,
      trx,
      {
        kind: "deploy",
        userId: user.id,
        title: body.title,
        key: body.key,
        expiresAt,
        public: false,
      },
      "deploy_key.",
    );
    const link = await attach(ctx, trx, project.id, key.id, canPush);
    return { key, link };
  });
}

/**
 * `PUT /projects/:id/deploy_keys/:key_id`. `can_push` belongs to this project and is always
 * updated; the title belongs to the key and is changed only when the policy allows it (an
 * admin, or a Maintainer of the one project using a private key). For a shared or public key
 * a non-admin's new title is silently ignored (200 with the old title), as in GitLab.
 */
export async function updateProjectDeployKey(
  ctx: ForgeContext,
  user: User,
  projectId: string,
  keyId: number,
  body: DeployKeyEdit,
): Promise<AttachedDeployKey> {
  const loaded = await findProject(ctx, user, projectId, "admin");
  if (body.title === undefined && body.can_push === undefined) {
    throw badParams("title, can_push are missing, at least one parameter must be provided");
  }
  return ctx.db.transaction().execute(async (trx) => {
    const attached = await findAttached(trx, loaded.project.id, keyId);
    if (!attached) throw notFound();
    const { key, link } = attached;

    const usedBy = await trx
      .selectFrom("deploy_keys_projects")
      .select("project_id")
      .where("deploy_key_id", "=", key.id)
      .execute();
    const member = await trx
      .selectFrom("members")
      .select("project_id")
      .where("user_id", "=", user.id)
      .where(
        "project_id",
        "in",
        usedBy.map((u) => u.project_id),
      )
      .executeTakeFirst();
    // Queries inside the transaction must use it: the SQLite connection is held by it.
    const trxCtx: ForgeContext = { ...ctx, db: trx };
    let onlyProjectAccess;
    if (usedBy.length === 1) {
      const only = await lookupProject(trxCtx, String(usedBy[0]!.project_id));
      if (only) onlyProjectAccess = await accessFor(trxCtx, user, only);
    }
    const facts = {
      key,
      projectCount: usedBy.length,
      userHasKey: member !== undefined,
      onlyProjectAccess,
    };
    if (!canUpdateDeployKey(user, facts) && !canUpdateDeployKeysProject(key, loaded.access)) {
      throw forbidden();
    }

    const at = isoNow(ctx);
    let updatedKey = key;
    if (body.title !== undefined && canUpdateDeployKeyTitle(user, facts)) {
      const errors = titleErrors(body.title);
      if (errors.length > 0) throw invalidRecord({ "deploy_key.title": errors });
      if (body.title !== key.title) {
        updatedKey = await trx
          .updateTable("keys")
          .set({ title: body.title, updated_at: at })
          .where("id", "=", key.id)
          .returningAll()
          .executeTakeFirstOrThrow();
      }
    }
    let updatedLink = link;
    const canPush = body.can_push === undefined ? link.can_push : body.can_push ? 1 : 0;
    if (canPush !== link.can_push) {
      updatedLink = await trx
        .updateTable("deploy_keys_projects")
        .set({ can_push: canPush, updated_at: at })
        .where("id", "=", link.id)
        .returningAll()
        .executeTakeFirstOrThrow();
    }
    return { key: updatedKey, link: updatedLink };
  });
}

/**
 * `DELETE /projects/:id/deploy_keys/:key_id`: detaches the key from the project. A private
 * key no other project uses is then deleted from the system; a public key never is.
 */
export async function removeProjectDeployKey(
  ctx: ForgeContext,
  user: User,
  projectId: string,
  keyId: number,
  ifUnmodifiedSince: unknown,
): Promise<void> {
  const { project } = await findProject(ctx, user, projectId, "admin");
  await ctx.db.transaction().execute(async (trx) => {
    const attached = await findAttached(trx, project.id, keyId);
    if (!attached) throw notFound("Deploy key");
    checkUnmodifiedSince(ifUnmodifiedSince, attached.link.updated_at);
    await trx.deleteFrom("deploy_keys_projects").where("id", "=", attached.link.id).execute();
    if (attached.key.public === 1) return;
    const stillUsed = await trx
      .selectFrom("deploy_keys_projects")
      .select("id")
      .where("deploy_key_id", "=", attached.key.id)
      .executeTakeFirst();
    if (!stillUsed) await trx.deleteFrom("keys").where("id", "=", attached.key.id).execute();
  });
}

/**
 * `POST /projects/:id/deploy_keys/:key_id/enable`: attaches a key the user can access
 * (read-only); idempotent. An admin may enable any deploy key (GitLab's
 * `EnableDeployKeyService` looks keys up with `DeployKey.find_by_id` for admins).
 */
export async function enableProjectDeployKey(
  ctx: ForgeContext,
  user: User,
  projectId: string,
  keyId: number,
): Promise<Key> {
  const { project } = await findProject(ctx, user, projectId, "admin");
  if (!Number.isSafeInteger(keyId)) throw notFound("Deploy key");
  return ctx.db.transaction().execute(async (trx) => {
    const key =
      user.is_admin === 1
        ? await trx
            .selectFrom("keys")
            .selectAll()
            .where("kind", "=", "deploy")
            .where("id", "=", keyId)
            .executeTakeFirst()
        : await accessibleDeployKeys(trx, user).where("id", "=", keyId).executeTakeFirst();
    if (!key) throw notFound("Deploy key");
    const attached = await findAttached(trx, project.id, key.id);
    if (!attached) await attach(ctx, trx, project.id, key.id, false);
    return key;
  });
}

async function findUserByIdOrUsername(ctx: ForgeContext, idOrUsername: string) {
  const query = ctx.db.selectFrom("users").selectAll();
  if (/^\d+$/.test(idOrUsername)) {
    const id = Number(idOrUsername);
    if (!Number.isSafeInteger(id)) return undefined;
    return query.where("id", "=", id).executeTakeFirst();
  }
  return query.where("username", "=", idOrUsername).executeTakeFirst();
}

/**
 * `GET /users/:id/project_deploy_keys`: the deploy keys of the projects where both the caller
 * and that user are Maintainers (only the caller's projects when asking about oneself).
 */
export async function listUserProjectDeployKeys(
  ctx: ForgeContext,
  user: User,
  idOrUsername: string,
  page: Page,
): Promise<PageOf<Key>> {
  const target = await findUserByIdOrUsername(ctx, idOrUsername);
  if (!target) throw notFound("User");
  const maintainerOf = (userId: number) =>
    ctx.db
      .selectFrom("members")
      .select("project_id")
      .where("user_id", "=", userId)
      .where("access_level", ">=", AccessLevel.Maintainer);
  let projects = maintainerOf(user.id);
  if (target.id !== user.id) {
    projects = projects.where("project_id", "in", maintainerOf(target.id));
  }
  const projectIds = (await projects.execute()).map((p) => p.project_id);
  if (projectIds.length === 0) throw forbidden("No common authorized project found");
  const base = ctx.db
    .selectFrom("keys")
    .where("kind", "=", "deploy")
    .where(
      "id",
      "in",
      ctx.db
        .selectFrom("deploy_keys_projects")
        .select("deploy_key_id")
        .where("project_id", "in", projectIds),
    );
  return pageOfKeys(base, page);
}
