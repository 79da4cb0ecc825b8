import { isGitObjectId } from "../../lib/git-ids.ts";
import { isRecord } from "../../lib/json.ts";
import type { ReviewEvent } from "../previews/review-event.ts";
import { bitbucketReview, bitbucketUpdates } from "./bitbucket-events.ts";
import { pullRequestReview } from "./github-events.ts";
import { gitlabReview } from "./gitlab-events.ts";
import {
  checkBranchName,
  firstLine,
  MalformedPayload,
  MAX_REF,
  splitRef,
  str,
  ZEROS,
  type JsonObject,
  type RefUpdate,
} from "./payloads.ts";
import type { WebhookProvider } from "./signatures.ts";

/**
 * What a delivery asks for, read from an authenticated payload. Only refs, commit ids, titles,
 * request numbers and URLs, and trust facts (fork, author role) are taken from it: the
 * repository to build (its URL, its id) is always the site's own, whatever the payload says.
 */

/** What a pull/merge request event means for its deploy preview. */
export type WebhookEvent =
  | { type: "ping" }
  | { type: "push"; updates: RefUpdate[] }
  | { type: "review"; review: ReviewEvent }
  | { type: "other" };

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
