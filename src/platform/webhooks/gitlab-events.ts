import { isRecord } from "../../lib/json.ts";
import type { ReviewAction, ReviewEvent } from "../previews/review-event.ts";
import {
  branchAt,
  commitAt,
  displayName,
  firstLine,
  MalformedPayload,
  numberText,
  objectAt,
  reviewNumber,
  str,
  stringAt,
  type JsonObject,
  webUrl,
  withoutHead,
} from "./payloads.ts";

/**
 * GitLab's `Merge Request Hook`: `object_attributes` with `iid`, `action` (open, update,
 * reopen, close, merge, approved...), `last_commit.id`, `source_branch`, `url`, and the source
 * and target project ids. The payload has no author role: a merge request from the project
 * itself is trusted (its author could push the branch), one from a fork is not.
 */
export function gitlabReview(payload: JsonObject): ReviewEvent {
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
