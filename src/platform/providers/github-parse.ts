import { isRecord } from "../../lib/json.ts";
import { isString } from "./rest.ts";
import {
  ProviderError,
  type HookEventKind,
  type ProviderRepo,
  type RemoteDeployKey,
  type RemoteHook,
} from "./types.ts";

/**
 * Reading GitHub's JSON, checked and never trusted: a field that is missing or of another type
 * is GitHub (or whatever answers at base_url) sending something Slipway cannot read, named by
 * the request it answered (`GET /user`).
 */

/** What to check when GitHub's answers cannot be read. */
export const BASE_URL_HINT =
  "check that the connection's base_url is GitHub's REST API (https://api.github.com, or https://<host>/api/v3 for GitHub Enterprise Server)";

function unexpected(what: string): ProviderError {
  return new ProviderError(
    "unavailable",
    `GitHub sent an unexpected response to ${what}`,
    BASE_URL_HINT,
  );
}

/** `body[name]`, which must pass `check`. */
export function field<T>(
  body: unknown,
  name: string,
  check: (v: unknown) => v is T,
  what: string,
): T {
  const value = isRecord(body) ? body[name] : undefined;
  if (!check(value)) throw unexpected(what);
  return value;
}

export const isInteger = (v: unknown): v is number => Number.isSafeInteger(v);
const isBoolean = (v: unknown): v is boolean => typeof v === "boolean";

/** A list: the body itself, or its `key` (`{total_count, repositories: [...]}`). */
export function items(body: unknown, what: string, key?: string): unknown[] {
  const value = key === undefined ? body : isRecord(body) ? body[key] : undefined;
  if (!Array.isArray(value)) throw unexpected(what);
  return value;
}

export function toRepo(body: unknown, what: string): ProviderRepo {
  return {
    id: String(field(body, "id", isInteger, what)),
    fullPath: field(body, "full_name", isString, what),
    sshUrl: field(body, "ssh_url", isString, what),
    httpsUrl: field(body, "clone_url", isString, what),
    webUrl: field(body, "html_url", isString, what),
    defaultBranch: field(body, "default_branch", isString, what),
    private: field(body, "private", isBoolean, what),
  };
}

export function toKey(body: unknown, what: string): RemoteDeployKey {
  return {
    id: String(field(body, "id", isInteger, what)),
    title: field(body, "title", isString, what),
    key: field(body, "key", isString, what),
    readOnly: field(body, "read_only", isBoolean, what),
  };
}

const HOOK_EVENTS: readonly HookEventKind[] = ["push", "pull_request"];

export function toHook(body: unknown, what: string): RemoteHook {
  const config = field(body, "config", isRecord, what);
  const events = field(body, "events", Array.isArray, what) as unknown[];
  return {
    id: String(field(body, "id", isInteger, what)),
    url: typeof config.url === "string" ? config.url : "",
    events: HOOK_EVENTS.filter((e) => events.includes(e) || events.includes("*")),
    active: field(body, "active", isBoolean, what),
  };
}

/** GitHub's `message`, with the `errors[].message`/`code` of a 422, for people. */
export function githubMessage(body: unknown): string {
  if (!isRecord(body)) return typeof body === "string" ? body.slice(0, 300) : "";
  const message = typeof body.message === "string" ? body.message : "";
  const details = Array.isArray(body.errors)
    ? body.errors
        .map((e) =>
          isRecord(e)
            ? typeof e.message === "string"
              ? e.message
              : [e.resource, e.field, e.code].filter((p) => typeof p === "string").join(" ")
            : typeof e === "string"
              ? e
              : "",
        )
        .filter((m) => m !== "")
    : [];
  return details.length > 0 ? `${message} (${details.join("; ")})` : message;
}
