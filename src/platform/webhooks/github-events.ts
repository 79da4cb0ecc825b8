import { isRecord } from "../../lib/json.ts";
import type { ReviewAction, ReviewEvent } from "../previews/review-event.ts";
import {
  branchAt,
  commitAt,
  displayName,
  firstLine,
  MalformedPayload,
  objectAt,
  reviewNumber,
  sameName,
  str,
  stringAt,
  type JsonObject,
  webUrl,
  withoutHead,
} from "./payloads.ts";

/** GitHub's `author_association` values of people with write access (Coolify's rule too). */
const TRUSTED_ASSOCIATIONS = new Set(["OWNER", "MEMBER", "COLLABORATOR"]);
/**
 * GitHub's and Gitea's `pull_request` (the same shape). A fork is a head repository other than
 * the base one (GitHub: `full_name`; Gitea: the repository id; a deleted fork has no head
 * repository). GitHub: only OWNER, MEMBER and COLLABORATOR authors of same-repository requests
 * build automatically. Gitea sends no author role: a same-repository request (its author could
 * push a branch) is trusted, a fork only when the payload marks the author as a collaborator.
 */
export function pullRequestReview(provider: "github" | "gitea", payload: JsonObject): ReviewEvent {
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
