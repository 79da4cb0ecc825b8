import { GIT_OBJECT_ID } from "../../lib/git-ids.ts";
import { isValidBranchName } from "../../lib/git-refs.ts";
import { isRecord } from "../../lib/json.ts";
import { withoutControlCharacters } from "../../lib/text.ts";
import type { ReviewEvent } from "../previews/review-event.ts";

/**
 * Reading providers' payloads: the shapes every provider's events become, and checked readers
 * of their fields. A payload is data from outside, however well signed: every field is checked
 * for type, size and form, and a refusal names the field.
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

/** The payload cannot be read; the message says what is wrong with it, for its sender. */
export class MalformedPayload extends Error {
  override name = "MalformedPayload";
}

export const ZEROS = /^0+$/;
export const MAX_REF = 1024;
export const MAX_TITLE = 255;

export type JsonObject = Record<string, unknown>;

export const str = (value: unknown): string | undefined =>
  typeof value === "string" ? value : undefined;

export function splitRef(ref: string): { kind: RefUpdate["kind"]; name: string } {
  if (ref.startsWith("refs/heads/")) return { kind: "branch", name: ref.slice(11) };
  if (ref.startsWith("refs/tags/")) return { kind: "tag", name: ref.slice(10) };
  return { kind: "other", name: ref };
}

/** A branch name a provider could never send (and git must never see) is not a push to read. */
export function checkBranchName(update: RefUpdate): void {
  if (update.kind === "branch" && !update.deleted && !isValidBranchName(update.name)) {
    throw new MalformedPayload(
      `the branch name ${JSON.stringify(update.name.slice(0, 80))} is not a valid git branch name`,
    );
  }
}

export function firstLine(message: string | undefined): string | null {
  if (message === undefined) return null;
  const line = withoutControlCharacters(message.split("\n")[0] ?? "").trim();
  if (line === "") return null;
  return line.length > MAX_TITLE ? `${line.slice(0, MAX_TITLE - 1)}…` : line;
}

/** `review_id` is a 32-bit integer column. */
export const MAX_REVIEW_NUMBER = 2_147_483_647;
/** Bitbucket's pull request events often carry an abbreviated commit id, not a full one. */
export const ABBREVIATED_SHA = /^[0-9a-f]{7,64}$/;
export const MAX_URL = 1000;
export const MAX_NAME = 100;

export function objectAt(value: unknown, field: string): JsonObject {
  if (!isRecord(value)) throw new MalformedPayload(`${field} is missing or not an object`);
  return value;
}

export function stringAt(value: unknown, field: string): string {
  const text = str(value);
  if (text === undefined || text === "" || text.length > MAX_REF) {
    throw new MalformedPayload(`${field} is missing or not a string`);
  }
  return text;
}

export function reviewNumber(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new MalformedPayload(`${field} is not a positive integer`);
  }
  if (value > MAX_REVIEW_NUMBER) throw new MalformedPayload(`${field} is too large`);
  return value;
}

export function commitAt(value: unknown, field: string, abbreviated = false): string {
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

export function branchAt(value: unknown, field: string): string {
  const name = stringAt(value, field);
  if (!isValidBranchName(name)) {
    throw new MalformedPayload(
      `${field} ${JSON.stringify(name.slice(0, 80))} is not a valid git branch name`,
    );
  }
  return name;
}

/** An http(s) URL to show, or null: a payload's URL is never fetched, only displayed. */
export function webUrl(value: unknown): string | null {
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
export function displayName(value: unknown): string {
  const text = str(value)
    ?.replace(/[^\x20-\x7e]/g, "?")
    .trim();
  if (text === undefined || text === "") return "an unnamed repository";
  return text.length > MAX_NAME ? `${text.slice(0, MAX_NAME - 1)}…` : text;
}

export const numberText = (value: unknown): string =>
  typeof value === "number" && Number.isSafeInteger(value) ? String(value) : "unknown";

export const sameName = (a: unknown, b: unknown): boolean =>
  typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();

/** A review whose commits do not matter for this action (closing, labels, comments...). */
export function withoutHead(
  base: Pick<ReviewEvent, "number" | "action" | "providerAction" | "url" | "title">,
): ReviewEvent {
  return { ...base, head: null, headBranch: null, fork: false, untrusted: null };
}
