import type { Actor } from "../users/tokens.ts";
import type { ForgeContext } from "../context.ts";
import { isoNow } from "../context.ts";
import type { Namespace, Project, User } from "../db/schema.ts";
import { badParams, forbidden, invalidRecord, notFound } from "../errors.ts";
import {
  AccessLevel,
  canAdminProject,
  canReadProject,
  canRemoveProject,
  type ProjectAccess,
} from "./policies.ts";
import { isValidBranchName } from "../../lib/git-refs.ts";

/** A project and the namespace its path lives in. */
export interface ProjectWithNamespace {
  project: Project;
  namespace: Namespace;
}

/** What `createProject` is given: a name or a path (or both), the rest has GitLab's defaults. */
export interface NewProject {
  name?: string;
  path?: string;
  namespace_id?: number;
  description?: string;
  visibility?: Project["visibility"];
  default_branch?: string;
}

export type ProjectAbility = "read" | "admin" | "remove";

const abilityCheck: Record<ProjectAbility, (a: ProjectAccess) => boolean> = {
  read: canReadProject,
  admin: canAdminProject,
  remove: canRemoveProject,
};

/** A project with its namespace and what the given user may do with it. */
export interface LoadedProject extends ProjectWithNamespace {
  access: ProjectAccess;
}

/** Finds a project by integer id or `namespace/path`, without any access check. */
export async function lookupProject(
  ctx: ForgeContext,
  idOrPath: string,
): Promise<ProjectWithNamespace | undefined> {
  const base = ctx.db
    .selectFrom("projects as p")
    .innerJoin("namespaces as n", "n.id", "p.namespace_id")
    .selectAll("p")
    .select([
      "n.path as ns_path",
      "n.name as ns_name",
      "n.kind as ns_kind",
      "n.owner_id as ns_owner_id",
      "n.created_at as ns_created_at",
    ]);
  let row;
  if (/^\d+$/.test(idOrPath)) {
    const id = Number(idOrPath);
    if (!Number.isSafeInteger(id)) return undefined;
    row = await base.where("p.id", "=", id).executeTakeFirst();
  } else {
    const parts = idOrPath.split("/");
    if (parts.length !== 2 || parts.some((s) => s === "" || s === "." || s === ".."))
      return undefined;
    const [namespacePath, path] = parts as [string, string];
    // Paths are case-insensitive, as GitLab's routes are (`Owner/Site` finds `owner/site`).
    row = await base
      .where("n.path", "=", namespacePath.toLowerCase())
      .where((eb) => eb(eb.fn("lower", ["p.path"]), "=", path.toLowerCase()))
      .executeTakeFirst();
  }
  if (!row) return undefined;
  const { ns_path, ns_name, ns_kind, ns_owner_id, ns_created_at, ...project } = row;
  return {
    project,
    namespace: {
      id: project.namespace_id,
      path: ns_path,
      name: ns_name,
      kind: ns_kind,
      owner_id: ns_owner_id,
      created_at: ns_created_at,
    },
  };
}

export async function memberLevel(
  ctx: ForgeContext,
  projectId: number,
  userId: number,
): Promise<number> {
  const row = await ctx.db
    .selectFrom("members")
    .select("access_level")
    .where("project_id", "=", projectId)
    .where("user_id", "=", userId)
    .executeTakeFirst();
  return row?.access_level ?? AccessLevel.NoAccess;
}

export async function accessFor(
  ctx: ForgeContext,
  user: User | null,
  found: ProjectWithNamespace,
): Promise<ProjectAccess> {
  const level = user ? await memberLevel(ctx, found.project.id, user.id) : AccessLevel.NoAccess;
  return { user, project: found.project, level };
}

/**
 * GitLab's `find_project!` + `authorize!`: a project the caller cannot see is "404 Project Not
 * Found" (its existence is not leaked); one they see but may not change is "403 Forbidden".
 */
export async function findProject(
  ctx: ForgeContext,
  user: User | null,
  idOrPath: string,
  ability: ProjectAbility = "read",
): Promise<LoadedProject> {
  const found = await lookupProject(ctx, idOrPath);
  if (!found) throw notFound("Project");
  const access = await accessFor(ctx, user, found);
  if (!canReadProject(access)) throw notFound("Project");
  if (!abilityCheck[ability](access)) throw forbidden();
  return { ...found, access };
}

/** Turns a project name into a path the way GitLab's `parameterize` does. */
function pathFromName(name: string): string {
  return name
    .trim()
    .replace(/[^a-zA-Z0-9_.-]+/g, "-")
    .replace(/^[-.]+|[-.]+$/g, "")
    .toLowerCase();
}

export async function createProject(
  ctx: ForgeContext,
  actor: Actor,
  input: NewProject,
): Promise<LoadedProject> {
  if (input.name === undefined && input.path === undefined) {
    throw badParams("name, path are missing, at least one parameter must be provided");
  }
  const path = input.path ?? pathFromName(input.name ?? "");
  const name = input.name ?? path;
  if (path === "" || /\.(git|atom)$/.test(path)) {
    throw invalidRecord({ path: ["cannot end in .git or .atom, or be empty"] });
  }
  const defaultBranch = input.default_branch ?? "main";
  if (!isValidBranchName(defaultBranch)) throw badParams("default_branch is invalid");
  const namespace = await ctx.db
    .selectFrom("namespaces")
    .selectAll()
    .where(
      input.namespace_id !== undefined ? "id" : "owner_id",
      "=",
      input.namespace_id ?? actor.user.id,
    )
    .executeTakeFirst();
  if (!namespace) throw notFound("Namespace");
  if (namespace.owner_id !== actor.user.id && actor.user.is_admin !== 1) {
    throw invalidRecord({ namespace: ["is not valid"] });
  }
  const now = isoNow(ctx);
  const project = await ctx.db.transaction().execute(async (trx) => {
    const clash = await trx
      .selectFrom("projects")
      .select("id")
      .where("namespace_id", "=", namespace.id)
      .where((eb) =>
        eb.or([eb(eb.fn("lower", ["path"]), "=", path.toLowerCase()), eb("name", "=", name)]),
      )
      .executeTakeFirst();
    if (clash)
      throw invalidRecord({ name: ["has already been taken"], path: ["has already been taken"] });
    const created = await trx
      .insertInto("projects")
      .values({
        namespace_id: namespace.id,
        creator_id: actor.user.id,
        name,
        path,
        description: input.description ?? "",
        visibility: input.visibility ?? "private",
        default_branch: defaultBranch,
        created_at: now,
        updated_at: now,
        last_activity_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await trx
      .insertInto("members")
      .values({
        project_id: created.id,
        user_id: actor.user.id,
        access_level: AccessLevel.Owner,
        created_at: now,
      })
      .execute();
    return created;
  });
  try {
    await ctx.repositories.create(project.id, defaultBranch);
  } catch (error) {
    await ctx.db.deleteFrom("projects").where("id", "=", project.id).execute();
    throw error;
  }
  return { project, namespace, access: { user: actor.user, project, level: AccessLevel.Owner } };
}

/** `GET /projects` filters: a name search, and GitLab's `owned` and `membership` limits. */
export interface ProjectFilter {
  search?: string;
  /** Only projects in a namespace the user owns. */
  owned?: boolean;
  /** Only projects the user is a member of (for an admin too). */
  membership?: boolean;
}

/**
 * Projects the user can see (members' projects, internal and public ones; all for an admin),
 * newest first like GitLab, narrowed by the filter.
 */
export async function listProjects(
  ctx: ForgeContext,
  user: User,
  { search, owned = false, membership = false }: ProjectFilter = {},
): Promise<ProjectWithNamespace[]> {
  let query = ctx.db.selectFrom("projects as p").select("p.id").orderBy("p.id", "desc");
  if (owned) {
    query = query.where(
      "p.namespace_id",
      "in",
      ctx.db.selectFrom("namespaces").select("id").where("owner_id", "=", user.id),
    );
  }
  if (membership) {
    query = query.where(
      "p.id",
      "in",
      ctx.db.selectFrom("members").select("project_id").where("user_id", "=", user.id),
    );
  }
  if (user.is_admin !== 1) {
    query = query.where((eb) =>
      eb.or([
        eb(
          "p.id",
          "in",
          eb.selectFrom("members").select("project_id").where("user_id", "=", user.id),
        ),
        eb("p.visibility", "in", ["public", "internal"]),
      ]),
    );
  }
  if (search !== undefined && search !== "")
    query = query.where("p.name", "like", `%${search.replace(/[%_]/g, "")}%`);
  const ids = await query.execute();
  const found = await Promise.all(ids.map((r) => lookupProject(ctx, String(r.id))));
  return found.filter((p): p is ProjectWithNamespace => p !== undefined);
}

export async function removeProject(ctx: ForgeContext, loaded: LoadedProject): Promise<void> {
  await ctx.db.deleteFrom("projects").where("id", "=", loaded.project.id).execute();
  await ctx.repositories.remove(loaded.project.id);
}
