import { isValidBranchName } from "../../../lib/git-refs.ts";
import type { WebhookProvider } from "./signatures.ts";

/**
 * What a delivery asks for, read from an authenticated payload. Only refs, commit ids and a
 * commit title are taken from it: the repository to build (its URL, its id) is always the
 * site's own, whatever the payload says.
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

export type WebhookEvent =
  { type: "ping" } | { type: "push"; updates: RefUpdate[] } | { type: "other" };

/** The payload cannot be read; the message says what is wrong with it, for its sender. */
export class MalformedPayload extends Error {
  override name = "MalformedPayload";
}

const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const ZEROS = /^0+$/;
const MAX_REF = 1024;
const MAX_TITLE = 255;

/** What the event header says, before the body is looked at. */
export function eventType(provider: WebhookProvider, event: string): WebhookEvent["type"] {
  const name = event.toLowerCase();
  if (name === "ping" || name === "diagnostics:ping") return "ping";
  switch (provider) {
    case "gitlab":
      return name === "push hook" || name === "tag push hook" ? "push" : "other";
    case "github":
    case "gitea":
      return name === "push" ? "push" : "other";
    case "bitbucket":
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
  if (!isObject(parsed)) throw new MalformedPayload("the body is not a JSON object");
  return parsed;
}

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

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
  if (!deleted && !SHA.test(after)) {
    throw new MalformedPayload(`after is not a commit id: ${JSON.stringify(after.slice(0, 80))}`);
  }
  const before = str(payload.before)?.toLowerCase();
  const { kind, name } = splitRef(ref);
  const update: RefUpdate = {
    ref,
    kind,
    name,
    before: before !== undefined && SHA.test(before) && !ZEROS.test(before) ? before : null,
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
      if (isObject(commit) && str(commit.id)?.toLowerCase() === after) {
        return firstLine(str(commit.title) ?? str(commit.message));
      }
    }
  }
  if (isObject(payload.head_commit)) return firstLine(str(payload.head_commit.message));
  return null;
}

function firstLine(message: string | undefined): string | null {
  if (message === undefined) return null;
  const line = (message.split("\n")[0] ?? "")
    // eslint-disable-next-line no-control-regex
    .replace(/[\x00-\x1f\x7f]/g, " ")
    .trim();
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
  if (!isObject(push) || !Array.isArray(push.changes)) {
    throw new MalformedPayload("push.changes is missing or not an array");
  }
  const changes = push.changes as unknown[];
  if (changes.length > MAX_CHANGES) {
    throw new MalformedPayload(`push.changes has more than ${MAX_CHANGES} entries`);
  }
  return changes.map((change, i) => {
    if (!isObject(change)) throw new MalformedPayload(`push.changes.${i} is not an object`);
    const next = change.new;
    const previous = change.old;
    if (next !== null && !isObject(next)) {
      throw new MalformedPayload(`push.changes.${i}.new is not an object`);
    }
    const subject = next ?? (isObject(previous) ? previous : undefined);
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
      isObject(target) ? str(target.hash)?.toLowerCase() : undefined;
    const deleted = next === null;
    const after = deleted ? undefined : hash(next.target);
    if (!deleted && (after === undefined || !SHA.test(after))) {
      throw new MalformedPayload(`push.changes.${i}.new.target.hash is not a commit id`);
    }
    const before = isObject(previous) ? hash(previous.target) : undefined;
    const update: RefUpdate = {
      ref: kind === "branch" ? `refs/heads/${name}` : kind === "tag" ? `refs/tags/${name}` : name,
      kind,
      name,
      before: before !== undefined && SHA.test(before) ? before : null,
      after: after ?? null,
      deleted,
      title: deleted || !isObject(next.target) ? null : firstLine(str(next.target.message)),
    };
    checkBranchName(update);
    return update;
  });
}
