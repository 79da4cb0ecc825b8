import { GIT_OBJECT_ID, isGitObjectId } from "../../lib/git-ids.ts";
import { isValidBranchName } from "../../lib/git-refs.ts";
import { isRecord } from "../../lib/json.ts";
import { withoutControlCharacters } from "../../lib/text.ts";
import type { ReviewAction, ReviewEvent } from "../previews/review-event.ts";
import type { WebhookProvider } from "./signatures.ts";

/**
 * What a delivery asks for, read from an authenticated payload. Only refs, commit ids, titles,
 * request numbers and URLs, and trust facts (fork, author role) are taken from it: the
 * repository to build (its URL, its id) is always the site's own, whatever the payload says.
 */

export interface RefUpdate {
  /** `refs/heads/main`, `refs/tags/v1`, or `refs/heads/<name>` rebuilt from Bitbucket's fields. */
  ref: string;
  kind: "branch" | "tag" | "other";
  /** The branch or tag name (the ref without its prefix). */
  name: string;
  /** The commit before the push; null when new or unknown. */
  before: string | null;
  /** The commit after the push; null when the ref was deleted. */
  after: string | null;
  deleted: boolean;
  /** The first line of the newest commit's message, when the payload has it. */
  title: string | null;
}

/** What a pull/merge request event means for its deploy preview. */
export type WebhookEvent =
  | { type: "ping" }
  | { type: "push"; updates: RefUpdate[] }
  | { type: "review"; review: ReviewEvent }
  | { type: "other" };

/** The payload cannot be read; the message says what is wrong with it, for its sender. */
export class MalformedPayload extends Error {
  override name = "MalformedPayload";
}

const ZEROS = /^0+$/;
const MAX_REF = 1024;
const MAX_TITLE = 255;

/** What the event header says, before the body is looked at. */
export function eventType(provider: WebhookProvider, event: string): WebhookEvent["type"] {
  const name = event.toLowerCase();
  if (name === "ping" || name === "diagnostics:ping") return "ping";
  switch (provider) {
    case "gitlab":
      if (name === "merge request hook") return "review";
      return name === "push hook" || name === "tag push hook" ? "push" : "other";
    case "github":
      if (name === "pull_request") return "review";
      return name === "push" ? "push" : "other";
    case "gitea":
      // Gitea names synchronisations `pull_request` in X-Gitea-Event (`pull_request_sync` in
      // X-Gitea-Event-Type); both are accepted.
      if (name === "pull_request" || name === "pull_request_sync") return "review";
      return name === "push" ? "push" : "other";
    case "bitbucket":
      if (name.startsWith("pullrequest:")) return "review";
      return name === "repo:push" ? "push" : "other";
  }
}

/**
 * Reads a push payload. JSON is expected; GitHub's and Gitea's form-encoded deliveries
 * (`payload=<json>`) are accepted too. Throws `MalformedPayload` for anything else.
 */
export function parseEvent(
  provider: WebhookProvider,
  event: string,
  contentType: string | undefined,
  body: Buffer | undefined,
): WebhookEvent {
  const type = eventType(provider, event);
  if (type === "review") {
    return { type, review: parseReview(provider, event, decodeBody(contentType, body)) };
  }
  if (type !== "push") return { type };
  const payload = decodeBody(contentType, body);
  const updates = provider === "bitbucket" ? bitbucketUpdates(payload) : refPushUpdate(payload);
  return { type: "push", updates };
}

function decodeBody(contentType: string | undefined, body: Buffer | undefined): JsonObject {
  if (body === undefined || body.length === 0) throw new MalformedPayload("the body is empty");
  let text = body.toString("utf8");
  const mediaType = contentType?.split(";")[0]?.trim().toLowerCase();
  if (mediaType === "application/x-www-form-urlencoded") {
    const payload = new URLSearchParams(text).get("payload");
    if (payload === null) {
      throw new MalformedPayload("the form-encoded body has no payload field");
    }
    text = payload;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new MalformedPayload("the body is not valid JSON");
  }
  if (!isRecord(parsed)) throw new MalformedPayload("the body is not a JSON object");
  return parsed;
}

type JsonObject = Record<string, unknown>;

const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

/** GitHub, GitLab, Gitea: `{ref, before, after, ...}`, one ref per delivery. */
function refPushUpdate(payload: JsonObject): RefUpdate[] {
  const ref = str(payload.ref);
  if (ref === undefined || ref === "" || ref.length > MAX_REF) {
    throw new MalformedPayload("ref is missing or not a string");
  }
  const after = str(payload.after)?.toLowerCase();
  if (after === undefined) throw new MalformedPayload("after is missing or not a string");
  const deleted = payload.deleted === true || ZEROS.test(after);
  if (!deleted && !isGitObjectId(after)) {
    throw new MalformedPayload(`after is not a commit id: ${JSON.stringify(after.slice(0, 80))}`);
  }
  const before = str(payload.before)?.toLowerCase();
  const { kind, name } = splitRef(ref);
  const update: RefUpdate = {
    ref,
    kind,
    name,
    before: before !== undefined && isGitObjectId(before) && !ZEROS.test(before) ? before : null,
    after: deleted ? null : after,
    deleted,
    title: deleted ? null : commitTitle(payload, after),
  };
  checkBranchName(update);
  return [update];
}

function splitRef(ref: string): { kind: RefUpdate["kind"]; name: string } {
  if (ref.startsWith("refs/heads/")) return { kind: "branch", name: ref.slice(11) };
  if (ref.startsWith("refs/tags/")) return { kind: "tag", name: ref.slice(10) };
  return { kind: "other", name: ref };
}

/** A branch name a provider could never send (and git must never see) is not a push to read. */
function checkBranchName(update: RefUpdate): void {
  if (update.kind === "branch" && !update.deleted && !isValidBranchName(update.name)) {
    throw new MalformedPayload(
      `the branch name ${JSON.stringify(update.name.slice(0, 80))} is not a valid git branch name`,
    );
  }
}

/** The pushed commit's title: the commit whose id is `after`, else GitHub's/Gitea's head_commit. */
function commitTitle(payload: JsonObject, after: string): string | null {
  if (Array.isArray(payload.commits)) {
    for (const commit of payload.commits as unknown[]) {
      if (isRecord(commit) && str(commit.id)?.toLowerCase() === after) {
        return firstLine(str(commit.title) ?? str(commit.message));
      }
    }
  }
  if (isRecord(payload.head_commit)) return firstLine(str(payload.head_commit.message));
  return null;
}

function firstLine(message: string | undefined): string | null {
  if (message === undefined) return null;
  const line = withoutControlCharacters(message.split("\n")[0] ?? "").trim();
  if (line === "") return null;
  return line.length > MAX_TITLE ? `${line.slice(0, MAX_TITLE - 1)}…` : line;
}

const MAX_CHANGES = 100;

/**
 * Bitbucket Cloud's `repo:push`: `push.changes[]`, each `{new, old}` with `type` (`branch`,
 * `tag`, or Mercurial's `named_branch`/`bookmark`), `name` and `target.hash`; `new` is null
 * when the ref was deleted.
 */
function bitbucketUpdates(payload: JsonObject): RefUpdate[] {
  const push = payload.push;
  if (!isRecord(push) || !Array.isArray(push.changes)) {
    throw new MalformedPayload("push.changes is missing or not an array");
  }
  const changes = push.changes as unknown[];
  if (changes.length > MAX_CHANGES) {
    throw new MalformedPayload(`push.changes has more than ${MAX_CHANGES} entries`);
  }
  return changes.map((change, i) => {
    if (!isRecord(change)) throw new MalformedPayload(`push.changes.${i} is not an object`);
    const next = change.new;
    const previous = change.old;
    if (next !== null && !isRecord(next)) {
      throw new MalformedPayload(`push.changes.${i}.new is not an object`);
    }
    const subject = next ?? (isRecord(previous) ? previous : undefined);
    if (subject === undefined) {
      throw new MalformedPayload(`push.changes.${i} has neither new nor old`);
    }
    const type = str(subject.type);
    const name = str(subject.name);
    if (name === undefined || name === "" || name.length > MAX_REF) {
      throw new MalformedPayload(`push.changes.${i} has no ref name`);
    }
    const kind: RefUpdate["kind"] =
      type === "branch" || type === "named_branch" ? "branch" : type === "tag" ? "tag" : "other";
    const hash = (target: unknown): string | undefined =>
      isRecord(target) ? str(target.hash)?.toLowerCase() : undefined;
    const deleted = next === null;
    const after = deleted ? undefined : hash(next.target);
    if (!deleted && (after === undefined || !isGitObjectId(after))) {
      throw new MalformedPayload(`push.changes.${i}.new.target.hash is not a commit id`);
    }
    const before = isRecord(previous) ? hash(previous.target) : undefined;
    const update: RefUpdate = {
      ref: kind === "branch" ? `refs/heads/${name}` : kind === "tag" ? `refs/tags/${name}` : name,
      kind,
      name,
      before: before !== undefined && isGitObjectId(before) ? before : null,
      after: after ?? null,
      deleted,
      title: deleted || !isRecord(next.target) ? null : firstLine(str(next.target.message)),
    };
    checkBranchName(update);
    return update;
  });
}

// ---------------------------------------------------------------------------------------------
// Pull requests and merge requests

/** GitHub's `author_association` values of people with write access (Coolify's rule too). */
const TRUSTED_ASSOCIATIONS = new Set(["OWNER", "MEMBER", "COLLABORATOR"]);
/** `review_id` is a 32-bit integer column. */
const MAX_REVIEW_NUMBER = 2_147_483_647;
/** Bitbucket's pull request events often carry an abbreviated commit id, not a full one. */
const ABBREVIATED_SHA = /^[0-9a-f]{7,64}$/;
const MAX_URL = 1000;
const MAX_NAME = 100;

function parseReview(provider: WebhookProvider, event: string, payload: JsonObject): ReviewEvent {
  switch (provider) {
    case "github":
    case "gitea":
      return pullRequestReview(provider, payload);
    case "bitbucket":
      return bitbucketReview(event.toLowerCase(), payload);
    case "gitlab":
      return gitlabReview(payload);
  }
}

function objectAt(value: unknown, field: string): JsonObject {
  if (!isRecord(value)) throw new MalformedPayload(`${field} is missing or not an object`);
  return value;
}

function stringAt(value: unknown, field: string): string {
  const text = str(value);
  if (text === undefined || text === "" || text.length > MAX_REF) {
    throw new MalformedPayload(`${field} is missing or not a string`);
  }
  return text;
}

function reviewNumber(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new MalformedPayload(`${field} is not a positive integer`);
  }
  if (value > MAX_REVIEW_NUMBER) throw new MalformedPayload(`${field} is too large`);
  return value;
}

function commitAt(value: unknown, field: string, abbreviated = false): string {
  const sha = str(value)?.toLowerCase();
  if (
    sha === undefined ||
    !(abbreviated ? ABBREVIATED_SHA : GIT_OBJECT_ID).test(sha) ||
    ZEROS.test(sha)
  ) {
    throw new MalformedPayload(`${field} is not a commit id`);
  }
  return sha;
}

function branchAt(value: unknown, field: string): string {
  const name = stringAt(value, field);
  if (!isValidBranchName(name)) {
    throw new MalformedPayload(
      `${field} ${JSON.stringify(name.slice(0, 80))} is not a valid git branch name`,
    );
  }
  return name;
}

/** An http(s) URL to show, or null: a payload's URL is never fetched, only displayed. */
function webUrl(value: unknown): string | null {
  const text = str(value);
  if (text === undefined || text.length > MAX_URL || !/^https?:\/\/[\x21-\x7e]+$/.test(text)) {
    return null;
  }
  try {
    return new URL(text).href;
  } catch {
    return null;
  }
}

/** A repository name for a reason a person reads: printable, capped. */
function displayName(value: unknown): string {
  const text = str(value)
    ?.replace(/[^\x20-\x7e]/g, "?")
    .trim();
  if (text === undefined || text === "") return "an unnamed repository";
  return text.length > MAX_NAME ? `${text.slice(0, MAX_NAME - 1)}…` : text;
}

const numberText = (value: unknown): string =>
  typeof value === "number" && Number.isSafeInteger(value) ? String(value) : "unknown";

const sameName = (a: unknown, b: unknown): boolean =>
  typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();

/** A review whose commits do not matter for this action (closing, labels, comments...). */
function withoutHead(
  base: Pick<ReviewEvent, "number" | "action" | "providerAction" | "url" | "title">,
): ReviewEvent {
  return { ...base, head: null, headBranch: null, fork: false, untrusted: null };
}

/**
 * GitHub's and Gitea's `pull_request` (the same shape). A fork is a head repository other than
 * the base one (GitHub: `full_name`; Gitea: the repository id; a deleted fork has no head
 * repository). GitHub: only OWNER, MEMBER and COLLABORATOR authors of same-repository requests
 * build automatically. Gitea sends no author role: a same-repository request (its author could
 * push a branch) is trusted, a fork only when the payload marks the author as a collaborator.
 */
function pullRequestReview(provider: "github" | "gitea", payload: JsonObject): ReviewEvent {
  const providerAction = stringAt(payload.action, "action");
  const pr = objectAt(payload.pull_request, "pull_request");
  const number = reviewNumber(payload.number ?? pr.number, "number");
  let action: ReviewAction;
  switch (providerAction) {
    case "opened":
      action = "opened";
      break;
    case "reopened":
      action = "reopened";
      break;
    case "synchronize":
    case "synchronized":
      action = "updated";
      break;
    case "edited":
      // Title, body or base changed: a preview is built only if none exists for the head.
      action = pr.state === "closed" ? "ignored" : "updated";
      break;
    case "closed":
      action = pr.merged === true ? "merged" : "closed";
      break;
    default:
      action = "ignored";
  }
  const base = {
    number,
    action,
    providerAction,
    url: webUrl(pr.html_url),
    title: firstLine(str(pr.title)),
  };
  if (action === "ignored" || action === "closed" || action === "merged") return withoutHead(base);

  const head = objectAt(pr.head, "pull_request.head");
  const target = objectAt(pr.base, "pull_request.base");
  const headRepo = isRecord(head.repo) ? head.repo : undefined;
  const baseRepo = objectAt(target.repo, "pull_request.base.repo");
  let fork: boolean;
  if (provider === "github") {
    stringAt(baseRepo.full_name, "pull_request.base.repo.full_name");
    fork = headRepo === undefined || !sameName(headRepo.full_name, baseRepo.full_name);
  } else {
    const baseId = target.repo_id ?? baseRepo.id;
    if (typeof baseId !== "number") {
      throw new MalformedPayload("pull_request.base.repo.id is missing or not a number");
    }
    fork = (head.repo_id ?? headRepo?.id) !== baseId;
  }
  const association = str(pr.author_association)?.toUpperCase();
  const collaborator = association !== undefined && TRUSTED_ASSOCIATIONS.has(association);
  let untrusted: string | null = null;
  if (fork && (provider === "github" || !collaborator)) {
    untrusted = `from a fork (${displayName(headRepo?.full_name)})`;
  } else if (provider === "github" && !collaborator) {
    untrusted = `from an author who is not a collaborator of the repository (author_association ${displayName(association ?? "missing")})`;
  }
  return {
    ...base,
    head: commitAt(head.sha, "pull_request.head.sha"),
    headBranch: branchAt(head.ref, "pull_request.head.ref"),
    fork,
    untrusted,
  };
}

/**
 * Bitbucket Cloud's `pullrequest:*` events: `pullrequest.id`, `source.commit.hash` (often
 * abbreviated), `source.branch.name`, and the source and destination repositories' full names.
 * Bitbucket says nothing about the author's role: a same-repository request is trusted (its
 * author could push the branch), a fork is not.
 */
function bitbucketReview(event: string, payload: JsonObject): ReviewEvent {
  const pr = objectAt(payload.pullrequest, "pullrequest");
  const number = reviewNumber(pr.id, "pullrequest.id");
  const actions: Record<string, ReviewAction> = {
    "pullrequest:created": "opened",
    "pullrequest:updated": "updated",
    "pullrequest:fulfilled": "merged",
    "pullrequest:rejected": "closed",
  };
  const action = actions[event] ?? "ignored";
  const links = isRecord(pr.links) ? pr.links : {};
  const base = {
    number,
    action,
    providerAction: event,
    url: webUrl(isRecord(links.html) ? links.html.href : undefined),
    title: firstLine(str(pr.title)),
  };
  if (action === "ignored" || action === "closed" || action === "merged") return withoutHead(base);

  const source = objectAt(pr.source, "pullrequest.source");
  const destination = objectAt(pr.destination, "pullrequest.destination");
  const sourceRepo = isRecord(source.repository) ? source.repository : undefined;
  const destinationRepo = objectAt(destination.repository, "pullrequest.destination.repository");
  stringAt(destinationRepo.full_name, "pullrequest.destination.repository.full_name");
  const fork =
    sourceRepo === undefined || !sameName(sourceRepo.full_name, destinationRepo.full_name);
  return {
    ...base,
    head: commitAt(
      objectAt(source.commit, "pullrequest.source.commit").hash,
      "pullrequest.source.commit.hash",
      true,
    ),
    headBranch: branchAt(
      objectAt(source.branch, "pullrequest.source.branch").name,
      "pullrequest.source.branch.name",
    ),
    fork,
    untrusted: fork ? `from a fork (${displayName(sourceRepo?.full_name)})` : null,
  };
}

/**
 * GitLab's `Merge Request Hook`: `object_attributes` with `iid`, `action` (open, update,
 * reopen, close, merge, approved...), `last_commit.id`, `source_branch`, `url`, and the source
 * and target project ids. The payload has no author role: a merge request from the project
 * itself is trusted (its author could push the branch), one from a fork is not.
 */
function gitlabReview(payload: JsonObject): ReviewEvent {
  const attributes = objectAt(payload.object_attributes, "object_attributes");
  const number = reviewNumber(attributes.iid, "object_attributes.iid");
  const providerAction = stringAt(attributes.action, "object_attributes.action");
  const actions: Record<string, ReviewAction> = {
    open: "opened",
    reopen: "reopened",
    update: "updated",
    close: "closed",
    merge: "merged",
  };
  const action = actions[providerAction] ?? "ignored";
  const base = {
    number,
    action,
    providerAction,
    url: webUrl(attributes.url),
    title: firstLine(str(attributes.title)),
  };
  if (action === "ignored" || action === "closed" || action === "merged") return withoutHead(base);

  const target = attributes.target_project_id;
  if (typeof target !== "number") {
    throw new MalformedPayload("object_attributes.target_project_id is missing or not a number");
  }
  const fork = attributes.source_project_id !== target;
  // GitLab puts the source project's attributes in `object_attributes.source`.
  const source = isRecord(attributes.source) ? attributes.source.path_with_namespace : undefined;
  return {
    ...base,
    head: commitAt(
      objectAt(attributes.last_commit, "object_attributes.last_commit").id,
      "object_attributes.last_commit.id",
    ),
    headBranch: branchAt(attributes.source_branch, "object_attributes.source_branch"),
    fork,
    untrusted: fork
      ? `from a fork (${displayName(source ?? `project ${numberText(attributes.source_project_id)}`)})`
      : null,
  };
}
