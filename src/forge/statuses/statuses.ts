import type { Transaction, Updateable } from "kysely";
import { hasControlOrSpace } from "../../lib/text.ts";
import type { ForgeContext } from "../context.ts";
import type { CommitStatus, CommitStatusesTable, ForgeDatabase, User } from "../db/schema.ts";
import { branchesContaining, resolveCommit } from "../git/commits.ts";
import { badParams, forbidden, invalidRecord, notFound, withMessage } from "../errors.ts";
import type { Page } from "../db/page.ts";
import { canCreateCommitStatus, canReadCommitStatus } from "../projects/policies.ts";
import type { LoadedProject } from "../projects/projects.ts";

/**
 * Commit statuses (GitLab's `lib/api/commit_statuses.rb` and Ci::CreateCommitStatusService).
 * A status lives in an external pipeline of its commit and ref. Posting the same name, ref and
 * user again moves the status that is still pending or running through GitLab's state machine;
 * once it has finished, a new status replaces it and the old one is marked retried, so the
 * default listing shows one status per name and ref.
 */

/** The states a client may post (`values:` of GitLab's `requires :state`). */
export const POSTABLE_STATES = [
  "pending",
  "running",
  "success",
  "failed",
  "canceled",
  "skipped",
] as const;
export type PostableState = (typeof POSTABLE_STATES)[number];

/** A posted status: the state, and the attributes GitLab's `attributes_for_keys` reads. */
export interface NewCommitStatus {
  state: PostableState;
  ref?: string | null;
  name?: string | null;
  context?: string | null;
  target_url?: string | null;
  description?: string | null;
  coverage?: number | null;
}

/** What a status listing is narrowed and ordered by. */
export interface CommitStatusFilter {
  ref?: string;
  stage?: string;
  name?: string;
  pipeline_id?: number;
  /** Grape's Boolean, read here: `true`/`false`, `1`/`0`, `t`/`f`, `yes`/`no`... */
  all?: string;
  order_by?: "id" | "pipeline_id";
  sort?: "asc" | "desc";
}

type Status = CommitStatus["status"];
type Db = Transaction<ForgeDatabase>;

/** The only stage external statuses have. */
const EXTERNAL_STAGE = "external";
const MAX_NAME = 255;
const MAX_TARGET_URL = 255;
const MAX_DESCRIPTION = 65_535;

export interface StatusWithAuthor {
  status: CommitStatus;
  author: User | null;
}

export function assertCanCreateStatus(loaded: LoadedProject): void {
  if (!canCreateCommitStatus(loaded.access)) throw forbidden();
}

export function assertCanReadStatuses(loaded: LoadedProject): void {
  if (!canReadCommitStatus(loaded.access)) throw forbidden();
}

/** The full id of the commit `:sha` names, or GitLab's "404 Commit Not Found". */
export async function findCommit(
  ctx: ForgeContext,
  loaded: LoadedProject,
  revision: string,
): Promise<string> {
  const sha = await resolveCommit(ctx.repositories.pathFor(loaded.project.id), revision);
  if (sha === null) throw notFound("Commit");
  return sha;
}

/** A value GitLab's `attributes_for_keys` would take: present and not blank. */
function given<T>(value: T | null | undefined): value is T {
  return value !== undefined && value !== null && value !== "";
}

/** GenericCommitStatus's validations, as `{attribute: [messages]}`. */
function validationErrors(input: NewCommitStatus, name: string): Record<string, string[]> {
  const errors: Record<string, string[]> = {};
  if (name.trim() === "") errors.name = ["can't be blank"];
  else if (name.length > MAX_NAME)
    errors.name = [`is too long (maximum is ${MAX_NAME} characters)`];
  if (given(input.target_url)) {
    const problems = targetUrlProblems(input.target_url);
    if (problems.length > 0) errors.target_url = problems;
  }
  if (given(input.description) && input.description.length > MAX_DESCRIPTION) {
    errors.description = [`is too long (maximum is ${MAX_DESCRIPTION} characters)`];
  }
  if (given(input.coverage) && !Number.isFinite(input.coverage)) {
    errors.coverage = ["is not a number"];
  }
  return errors;
}

/** `addressable_url: true` (http or https; local addresses allowed) and at most 255 characters. */
function targetUrlProblems(raw: string): string[] {
  const problems: string[] = [];
  let valid = false;
  if (!hasControlOrSpace(raw)) {
    try {
      const url = new URL(raw);
      valid = (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
    } catch {
      valid = false;
    }
  }
  if (!valid) problems.push("is blocked: Only allowed schemes are http, https");
  if (raw.length > MAX_TARGET_URL) {
    problems.push(`is too long (maximum is ${MAX_TARGET_URL} characters)`);
  }
  return problems;
}

/** The outcome of applying a posted state to a status in GitLab's state machine. */
type Transition =
  | { ok: true; status: Status; started: boolean; finished: boolean }
  | { ok: false; message: string };

/** Which states each event leaves from (CommitStatus's state machine, for external jobs). */
const EVENTS = {
  enqueue: { to: "pending", from: ["created", "skipped"] },
  run: { to: "running", from: ["pending"] },
  success: { to: "success", from: ["created", "pending", "running"] },
  drop: { to: "failed", from: ["created", "pending", "running"] },
  cancel: { to: "canceled", from: ["created", "pending", "running"] },
  skip: { to: "skipped", from: ["created", "pending"] },
} as const satisfies Record<string, { to: Status; from: readonly Status[] }>;
type EventName = keyof typeof EVENTS;

const EVENT_FOR: Record<PostableState, EventName> = {
  pending: "enqueue",
  running: "run",
  success: "success",
  failed: "drop",
  canceled: "cancel",
  skipped: "skip",
};

function fire(event: EventName, from: Status): Transition {
  const { to, from: allowed } = EVENTS[event];
  if (!(allowed as readonly Status[]).includes(from)) {
    return {
      ok: false,
      message: `Cannot transition status via :${event} from :${from} (Reason(s): Status cannot transition via "${event}")`,
    };
  }
  return {
    ok: true,
    status: to,
    started: to === "running",
    finished: to === "success" || to === "failed" || to === "canceled",
  };
}

/** `running` is `enqueue` (allowed to fail quietly) followed by `run!`. */
function transition(current: Status, requested: PostableState): Transition {
  const from = requested === "running" && current === "created" ? "pending" : current;
  return fire(EVENT_FOR[requested], from);
}

export async function postCommitStatus(
  ctx: ForgeContext,
  loaded: LoadedProject,
  user: User,
  revision: string,
  input: NewCommitStatus,
): Promise<StatusWithAuthor> {
  const projectId = loaded.project.id;
  const sha = await findCommit(ctx, loaded, revision);
  const name = given(input.name) ? input.name : given(input.context) ? input.context : "default";
  const errors = validationErrors(input, name);
  if (Object.keys(errors).length > 0) throw invalidRecord(errors);
  const ref = given(input.ref) ? input.ref : await defaultRef(ctx, projectId, sha);
  if (ref === null) throw notFound("References for commit");

  const status = await ctx.db.transaction().execute(async (trx) => {
    const now = ctx.now().toISOString();
    const pipelineId = await pipelineFor(trx, projectId, sha, ref, now);
    const existing = await trx
      .selectFrom("commit_statuses")
      .selectAll()
      .where("pipeline_id", "=", pipelineId)
      .where("name", "=", name)
      .where("author_id", "=", user.id)
      .where("retried", "=", 0)
      .where("status", "in", ["pending", "running"])
      .orderBy("id", "desc")
      .executeTakeFirst();
    const moved = transition(existing?.status ?? "created", input.state);
    if (!moved.ok) throw withMessage("bad_request", moved.message);
    const values: Updateable<CommitStatusesTable> = { status: moved.status, updated_at: now };
    if (moved.started) values.started_at = now;
    if (moved.finished) values.finished_at = now;
    if (given(input.target_url)) values.target_url = input.target_url;
    if (given(input.description)) values.description = input.description;
    if (given(input.coverage)) values.coverage = String(input.coverage);
    if (existing) {
      return trx
        .updateTable("commit_statuses")
        .set(values)
        .where("id", "=", existing.id)
        .returningAll()
        .executeTakeFirstOrThrow();
    }
    // A new job with the same name makes the older ones of this pipeline "retried".
    await trx
      .updateTable("commit_statuses")
      .set({ retried: 1, updated_at: now })
      .where("pipeline_id", "=", pipelineId)
      .where("name", "=", name)
      .where("retried", "=", 0)
      .execute();
    return trx
      .insertInto("commit_statuses")
      .values({
        project_id: projectId,
        pipeline_id: pipelineId,
        sha,
        ref,
        name,
        status: moved.status,
        target_url: values.target_url ?? null,
        description: values.description ?? null,
        coverage: values.coverage ?? null,
        author_id: user.id,
        allow_failure: 0,
        retried: 0,
        created_at: now,
        updated_at: now,
        started_at: values.started_at ?? null,
        finished_at: values.finished_at ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  });
  return { status, author: user };
}

/**
 * Without `ref`: the ref of the commit's newest pipeline, else the first branch that contains
 * the commit (GitLab's `branch_names_contains(sha).first`).
 */
async function defaultRef(
  ctx: ForgeContext,
  projectId: number,
  sha: string,
): Promise<string | null> {
  const pipeline = await ctx.db
    .selectFrom("commit_status_pipelines")
    .select("ref")
    .where("project_id", "=", projectId)
    .where("sha", "=", sha)
    .orderBy("id", "desc")
    .executeTakeFirst();
  if (pipeline) return pipeline.ref;
  const branches = await branchesContaining(ctx.repositories.pathFor(projectId), sha);
  return branches[0] ?? null;
}

async function pipelineFor(
  trx: Db,
  projectId: number,
  sha: string,
  ref: string,
  now: string,
): Promise<number> {
  const found = await trx
    .selectFrom("commit_status_pipelines")
    .select("id")
    .where("project_id", "=", projectId)
    .where("sha", "=", sha)
    .where("ref", "=", ref)
    .executeTakeFirst();
  if (found) return found.id;
  const created = await trx
    .insertInto("commit_status_pipelines")
    .values({ project_id: projectId, sha, ref, created_at: now })
    .returning("id")
    .executeTakeFirstOrThrow();
  return created.id;
}

/** Grape's Boolean coercion for `all`; anything else is `all is invalid`. */
function readBoolean(name: string, value: string | undefined): boolean {
  if (value === undefined || value === "") return false;
  const lowered = value.toLowerCase();
  if (["true", "1", "t", "yes", "y", "on"].includes(lowered)) return true;
  if (["false", "0", "f", "no", "n", "off"].includes(lowered)) return false;
  throw badParams(`${name} is invalid`);
}

/** `GET /projects/:id/repository/commits/:sha/statuses`: one page and the total. */
export async function listCommitStatuses(
  ctx: ForgeContext,
  loaded: LoadedProject,
  sha: string,
  query: CommitStatusFilter,
  page: Page,
): Promise<{ rows: StatusWithAuthor[]; total: number }> {
  const all = readBoolean("all", query.all);
  if (given(query.stage) && query.stage !== EXTERNAL_STAGE) return { rows: [], total: 0 };
  let base = ctx.db
    .selectFrom("commit_statuses as s")
    .leftJoin("users as u", "u.id", "s.author_id")
    .where("s.project_id", "=", loaded.project.id)
    .where("s.sha", "=", sha);
  if (!all) base = base.where("s.retried", "=", 0);
  if (given(query.ref)) base = base.where("s.ref", "=", query.ref);
  if (given(query.name)) base = base.where("s.name", "=", query.name);
  if (query.pipeline_id !== undefined) base = base.where("s.pipeline_id", "=", query.pipeline_id);
  const count = await base.select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirst();
  const direction = query.sort ?? "asc";
  const rows = await base
    .selectAll("s")
    .select([
      "u.id as u_id",
      "u.username as u_username",
      "u.name as u_name",
      "u.email as u_email",
      "u.is_admin as u_is_admin",
      "u.state as u_state",
      "u.created_at as u_created_at",
    ])
    .orderBy(query.order_by === "pipeline_id" ? "s.pipeline_id" : "s.id", direction)
    .orderBy("s.id", direction)
    .limit(page.perPage)
    .offset(page.offset)
    .execute();
  return {
    total: Number(count?.n ?? 0),
    rows: rows.map(
      ({ u_id, u_username, u_name, u_email, u_is_admin, u_state, u_created_at, ...status }) => ({
        status,
        author:
          u_id === null
            ? null
            : {
                id: u_id,
                username: u_username ?? "",
                name: u_name ?? "",
                email: u_email ?? "",
                is_admin: u_is_admin ?? 0,
                state: u_state ?? "active",
                created_at: u_created_at ?? "",
              },
      }),
    ),
  };
}
