import type { Updateable } from "kysely";
import { isValidBranchName } from "../../lib/git-refs.ts";
import type { ForgeContext } from "../context.ts";
import type { Page } from "../db/page.ts";
import type { MergeRequest, MergeRequestsTable, User } from "../db/schema.ts";
import { branchTip, changedPaths, mergeBase, mergeRequestHeadRef, setRef } from "../git/commits.ts";
import { badParams, ForgeError, forbidden, invalidRecord, notFound } from "../errors.ts";
import {
  canCreateMergeRequest,
  canReadMergeRequest,
  canUpdateMergeRequest,
} from "../projects/policies.ts";
import type { LoadedProject } from "../projects/projects.ts";
import {
  assertNoOpenDuplicate,
  changeMergeRequest,
  changesBetween,
  closeMergeRequest,
  EDIT_KEYS,
  emitMergeRequestEvent,
  OPEN_KEYS,
  reopen,
  repoOf,
  saveChanges,
} from "./changes.ts";

/**
 * Merge requests within one project (the forge has no forks), after GitLab's
 * MergeRequests::CreateService and UpdateService: finding, listing, opening and editing them.
 * Every change goes through `changes.ts`, stored in one transaction with its head ref and hooks.
 */

/** `POST /projects/:id/merge_requests`. */
export interface NewMergeRequest {
  title: string;
  source_branch: string;
  target_branch: string;
  description?: string | null;
  target_project_id?: number;
}

/** GitLab's `at_least_one_of` list for `PUT /projects/:id/merge_requests/:merge_request_iid`. */
export const UPDATE_PARAMS = [
  "assignee_id",
  "assignee_ids",
  "reviewer_ids",
  "description",
  "labels",
  "add_labels",
  "remove_labels",
  "milestone_id",
  "remove_source_branch",
  "allow_collaboration",
  "allow_maintainer_to_push",
  "squash",
  "target_branch",
  "title",
  "state_event",
  "discussion_locked",
  "merge_after",
] as const;

/**
 * `PUT /projects/:id/merge_requests/:merge_request_iid`: the attributes the forge changes; the
 * other parameters GitLab accepts count only for "at least one parameter".
 */
export type MergeRequestEdit = {
  title?: string;
  description?: string | null;
  target_branch?: string;
  state_event?: "close" | "reopen";
} & Partial<Record<(typeof UPDATE_PARAMS)[number], unknown>>;

/** `GET /projects/:id/merge_requests`: MergeRequestsFinder's filters of the forge's subset. */
export interface MergeRequestFilter {
  state?: "opened" | "closed" | "locked" | "merged" | "all";
  /** `title` and `updated_at` order by themselves; anything else by `created_at`. */
  order_by?: string;
  sort?: "asc" | "desc";
  source_branch?: string;
  target_branch?: string;
  author_id?: number;
  search?: string;
  /** `iids[]=1&iids[]=2` (as gitbeaker sends arrays) or `iids=1,2`. */
  iids?: string | string[];
  "iids[]"?: string | string[];
}

/** A merge request with the users its entity names. */
export interface MergeRequestView {
  mergeRequest: MergeRequest;
  author: User | null;
  closedBy: User | null;
  mergedBy: User | null;
}

/** What only the single-merge-request entity shows, read from the repository. */
export interface MergeRequestDetails {
  /** Merge base of the target branch and the head (GitLab's diff_refs.base_sha). */
  baseSha: string | null;
  /** The target branch's commit the diff starts from (diff_refs.start_sha). */
  startSha: string | null;
  changesCount: number;
  canMerge: boolean;
}

const MAX_TITLE = 255;
const MAX_DESCRIPTION = 1_048_576;

/** `{"message":[...]}` with 422 (GitLab's `unprocessable_entity!(errors[:base])`). */
const unprocessable = (messages: string[]): ForgeError =>
  new ForgeError("unprocessable", { message: messages });

// --- reading ---

/** `find_merge_request_with_access`: a miss is `404 Not found`, a missing right `403 Forbidden`. */
export async function findMergeRequest(
  ctx: ForgeContext,
  loaded: LoadedProject,
  iid: number,
  ability: "read" | "update" = "read",
): Promise<MergeRequest> {
  const mr = Number.isSafeInteger(iid)
    ? await ctx.db
        .selectFrom("merge_requests")
        .selectAll()
        .where("project_id", "=", loaded.project.id)
        .where("iid", "=", iid)
        .executeTakeFirst()
    : undefined;
  if (!mr) throw notFound();
  const allowed =
    ability === "read"
      ? canReadMergeRequest(loaded.access)
      : canUpdateMergeRequest(loaded.access, mr.author_id);
  if (!allowed) throw forbidden();
  return mr;
}

export function assertCanReadMergeRequests(loaded: LoadedProject): void {
  if (!canReadMergeRequest(loaded.access)) throw forbidden();
}

/** The merge requests with the users their entities name, in the given order. */
export async function loadViews(
  ctx: ForgeContext,
  mergeRequests: readonly MergeRequest[],
): Promise<MergeRequestView[]> {
  const ids = new Set<number>();
  for (const mr of mergeRequests) {
    for (const id of [mr.author_id, mr.closed_by_id, mr.merged_by_id]) if (id !== null) ids.add(id);
  }
  const users =
    ids.size === 0
      ? []
      : await ctx.db
          .selectFrom("users")
          .selectAll()
          .where("id", "in", [...ids])
          .execute();
  const byId = new Map(users.map((u) => [u.id, u]));
  const find = (id: number | null): User | null => (id === null ? null : (byId.get(id) ?? null));
  return mergeRequests.map((mr) => ({
    mergeRequest: mr,
    author: find(mr.author_id),
    closedBy: find(mr.closed_by_id),
    mergedBy: find(mr.merged_by_id),
  }));
}

export async function loadView(ctx: ForgeContext, mr: MergeRequest): Promise<MergeRequestView> {
  const [view] = await loadViews(ctx, [mr]);
  if (!view) throw new Error("unreachable: one merge request in, one view out");
  return view;
}

/** Diff refs and counts for the single-merge-request entity, read from the repository. */
export async function readDetails(
  ctx: ForgeContext,
  loaded: LoadedProject,
  mr: MergeRequest,
): Promise<MergeRequestDetails> {
  const repo = repoOf(ctx, loaded);
  const startSha = await branchTip(repo, mr.target_branch);
  const baseSha = startSha === null ? null : await mergeBase(repo, startSha, mr.head_sha);
  const changesCount =
    baseSha === null ? 0 : (await changedPaths(repo, baseSha, mr.head_sha)).length;
  return { baseSha, startSha, changesCount, canMerge: canCreateMergeRequest(loaded.access) };
}

function parseIids(query: MergeRequestFilter): number[] | undefined {
  const raw = [query.iids, query["iids[]"]].flatMap((v) =>
    v === undefined ? [] : Array.isArray(v) ? v : v.split(","),
  );
  if (raw.length === 0) return undefined;
  return raw.map((value) => {
    const trimmed = value.trim();
    if (!/^\d+$/.test(trimmed) || !Number.isSafeInteger(Number(trimmed))) {
      throw badParams("iids is invalid");
    }
    return Number(trimmed);
  });
}

/** `GET /projects/:id/merge_requests` (MergeRequestsFinder's filters of the forge's subset). */
export async function listMergeRequests(
  ctx: ForgeContext,
  loaded: LoadedProject,
  query: MergeRequestFilter,
  page: Page,
): Promise<{ rows: MergeRequest[]; total: number }> {
  const iids = parseIids(query);
  let base = ctx.db.selectFrom("merge_requests").where("project_id", "=", loaded.project.id);
  const state = query.state ?? "all";
  // The forge never locks merge requests.
  if (state === "locked") return { rows: [], total: 0 };
  if (state === "opened" || state === "closed" || state === "merged") {
    base = base.where("state", "=", state);
  }
  if (query.source_branch !== undefined)
    base = base.where("source_branch", "=", query.source_branch);
  if (query.target_branch !== undefined)
    base = base.where("target_branch", "=", query.target_branch);
  if (query.author_id !== undefined) base = base.where("author_id", "=", query.author_id);
  if (iids !== undefined) base = base.where("iid", "in", iids.length > 0 ? iids : [-1]);
  // Wildcards are dropped rather than escaped: LIKE escapes differ between databases.
  const search = query.search?.replace(/[%_\\]/g, "") ?? "";
  if (search !== "") {
    const pattern = `%${search}%`;
    base = base.where((eb) =>
      eb.or([eb("title", "like", pattern), eb("description", "like", pattern)]),
    );
  }
  const count = await base.select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirst();
  const column =
    query.order_by === "title"
      ? "title"
      : query.order_by === "updated_at"
        ? "updated_at"
        : "created_at";
  const direction = query.sort ?? "desc";
  const rows = await base
    .selectAll()
    .orderBy(column, direction)
    .orderBy("id", direction)
    .limit(page.perPage)
    .offset(page.offset)
    .execute();
  return { rows, total: Number(count?.n ?? 0) };
}

// --- validation ---

function textErrors(fields: { title?: string; description?: string }): Record<string, string[]> {
  const errors: Record<string, string[]> = {};
  if (fields.title !== undefined) {
    if (fields.title.trim() === "") errors.title = ["can't be blank"];
    else if (fields.title.length > MAX_TITLE) {
      errors.title = [`is too long (maximum is ${MAX_TITLE} characters)`];
    }
  }
  if (fields.description !== undefined && fields.description.length > MAX_DESCRIPTION) {
    errors.description = [`is too long (maximum is ${MAX_DESCRIPTION} characters)`];
  }
  return errors;
}

// --- the API's operations ---

export async function createMergeRequest(
  ctx: ForgeContext,
  loaded: LoadedProject,
  user: User,
  input: NewMergeRequest,
): Promise<MergeRequest> {
  if (!canCreateMergeRequest(loaded.access)) throw forbidden();
  if (input.target_project_id !== undefined && input.target_project_id !== loaded.project.id) {
    // Forks do not exist on the forge, so no other project can be the target.
    throw unprocessable(["Source project is not a fork of the target project"]);
  }
  const description = input.description ?? "";
  const errors = textErrors({ title: input.title, description });
  if (Object.keys(errors).length > 0) throw invalidRecord(errors);

  const repo = repoOf(ctx, loaded);
  const { source_branch: source, target_branch: target } = input;
  const problems: string[] = [];
  if (source.trim() === "" || target.trim() === "") {
    problems.push("You must select source and target branch");
  }
  if (source === target) problems.push("You must select different branches");
  const sourceSha = source === "" ? null : await branchTip(repo, source);
  if (source !== "" && sourceSha === null)
    problems.push(`Source branch "${source}" does not exist`);
  if (target !== "" && (await branchTip(repo, target)) === null) {
    problems.push(`Target branch "${target}" does not exist`);
  }
  if (problems.length > 0 || sourceSha === null) throw unprocessable(problems);

  return ctx.db.transaction().execute(async (trx) => {
    const projectId = loaded.project.id;
    await assertNoOpenDuplicate(trx, {
      project_id: projectId,
      source_branch: source,
      target_branch: target,
    });
    const last = await trx
      .selectFrom("merge_requests")
      .select((eb) => eb.fn.max("iid").as("iid"))
      .where("project_id", "=", projectId)
      .executeTakeFirst();
    const iid = Number(last?.iid ?? 0) + 1;
    const now = ctx.now().toISOString();
    const created = await trx
      .insertInto("merge_requests")
      .values({
        project_id: projectId,
        iid,
        source_project_id: projectId,
        source_branch: source,
        target_branch: target,
        title: input.title,
        description,
        state: "opened",
        author_id: user.id,
        head_sha: sourceSha,
        updated_by_id: null,
        last_edited_at: null,
        last_edited_by_id: null,
        closed_at: null,
        closed_by_id: null,
        merged_at: null,
        merged_by_id: null,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    // Written before the commit: a crash in between leaves at most a ref the next
    // merge request with this iid overwrites, never a merge request without its ref.
    await setRef(repo, mergeRequestHeadRef(iid), sourceSha, `merge request !${iid}: opened`);
    await emitMergeRequestEvent({ ctx, trx, project: loaded, user }, created, "open", {
      changes: changesBetween(null, created, OPEN_KEYS),
    });
    return created;
  });
}

export async function updateMergeRequest(
  ctx: ForgeContext,
  loaded: LoadedProject,
  user: User,
  mr: MergeRequest,
  input: MergeRequestEdit,
): Promise<MergeRequest> {
  if (!UPDATE_PARAMS.some((name) => input[name] !== undefined)) {
    throw badParams(
      `${UPDATE_PARAMS.join(", ")} are missing, at least one parameter must be provided`,
    );
  }
  // Grape's `allow_blank: false`.
  if (input.title !== undefined && input.title.trim() === "") throw badParams("title is empty");
  if (input.target_branch !== undefined && input.target_branch.trim() === "") {
    throw badParams("target_branch is empty");
  }
  const description = input.description ?? undefined;
  const errors = textErrors({ title: input.title, description });
  if (Object.keys(errors).length > 0) throw invalidRecord(errors);

  const repo = repoOf(ctx, loaded);
  const target = input.target_branch;
  if (target !== undefined && target !== mr.target_branch) {
    if (!isValidBranchName(target)) throw invalidRecord({ target_branch: ["is invalid"] });
    if (target === mr.source_branch) {
      throw unprocessable(["You can't use same project/branch for source and target"]);
    }
    if ((await branchTip(repo, target)) === null) {
      throw unprocessable([`Target branch "${target}" does not exist`]);
    }
  }
  // Reopening reloads the diff from the source branch; without that branch it is a no-op.
  const sourceTip = input.state_event === "reopen" ? await branchTip(repo, mr.source_branch) : null;

  return changeMergeRequest(ctx, loaded, user, mr.id, async (events, current) => {
    let row = current;
    // GitLab changes the state first, then the other attributes (Issuable::BaseService#update).
    if (input.state_event === "close") row = await closeMergeRequest(events, row);
    if (input.state_event === "reopen") row = await reopen(events, row, sourceTip);

    const edited: Updateable<MergeRequestsTable> = {};
    if (input.title !== undefined && input.title !== row.title) edited.title = input.title;
    if (description !== undefined && description !== row.description) {
      edited.description = description;
    }
    const retarget = target !== undefined && target !== row.target_branch;
    if (retarget) edited.target_branch = target;
    if (Object.keys(edited).length === 0) return row;
    if (retarget && row.state === "opened") {
      await assertNoOpenDuplicate(events.trx, { ...row, target_branch: target });
    }
    const now = ctx.now().toISOString();
    const textEdited = edited.title !== undefined || edited.description !== undefined;
    const updated = await saveChanges(events.trx, row, {
      ...edited,
      updated_at: now,
      updated_by_id: user.id,
      ...(textEdited ? { last_edited_at: now, last_edited_by_id: user.id } : {}),
    });
    await emitMergeRequestEvent(events, updated, "update", {
      changes: changesBetween(row, updated, EDIT_KEYS),
    });
    return updated;
  });
}
