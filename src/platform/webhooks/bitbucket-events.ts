import { isGitObjectId } from "../../lib/git-ids.ts";
import { isRecord } from "../../lib/json.ts";
import type { ReviewAction, ReviewEvent } from "../previews/review-event.ts";
import {
  branchAt,
  checkBranchName,
  commitAt,
  displayName,
  firstLine,
  MalformedPayload,
  MAX_REF,
  objectAt,
  reviewNumber,
  sameName,
  str,
  stringAt,
  type JsonObject,
  type RefUpdate,
  webUrl,
  withoutHead,
} from "./payloads.ts";

export const MAX_CHANGES = 100;

/**
 * Bitbucket Cloud's `repo:push`: `push.changes[]`, each `{new, old}` with `type` (`branch`,
 * `tag`, or Mercurial's `named_branch`/`bookmark`), `name` and `target.hash`; `new` is null
 * when the ref was deleted.
 */
export function bitbucketUpdates(payload: JsonObject): RefUpdate[] {
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

/**
 * Bitbucket Cloud's `pullrequest:*` events: `pullrequest.id`, `source.commit.hash` (often
 * abbreviated), `source.branch.name`, and the source and destination repositories' full names.
 * Bitbucket says nothing about the author's role: a same-repository request is trusted (its
 * author could push the branch), a fork is not.
 */
export function bitbucketReview(event: string, payload: JsonObject): ReviewEvent {
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
