import { ProviderError, type ProviderRepo } from "./types.ts";

/**
 * GitHub repository references: what users write (`1296269`, `owner/name`, a clone or web URL)
 * as an id or an owner and name, and those as REST paths (`/repositories/:id`,
 * `/repos/:owner/:repo`). Anything else is refused before a request is made.
 */

export type GitHubRepoRef =
  { kind: "id"; id: number } | { kind: "path"; owner: string; name: string };

const OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const NAME = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * A repository as users write it: the numeric id (`1296269`), `owner/name`, or a clone or web
 * URL of it (`https://github.com/owner/name.git`, `git@github.com:owner/name.git`).
 */
export function parseRepoRef(ref: string): GitHubRepoRef {
  const text = ref.trim();
  if (/^[1-9][0-9]{0,15}$/.test(text)) return { kind: "id", id: Number(text) };
  let path = text;
  const scp = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(.+)$/.exec(text);
  if (scp) path = scp[1]!;
  else if (/^(https|ssh):\/\//.test(text)) {
    try {
      path = new URL(text).pathname;
    } catch {
      path = "";
    }
  }
  const parts = path
    .replace(/^\/+|\/+$/g, "")
    .replace(/\.git$/, "")
    .split("/");
  const [owner, name] = parts;
  if (
    parts.length !== 2 ||
    owner === undefined ||
    name === undefined ||
    !OWNER.test(owner) ||
    !NAME.test(name) ||
    name === "." ||
    name === ".."
  ) {
    throw new ProviderError(
      "invalid",
      `${JSON.stringify(ref.slice(0, 200))} is not a GitHub repository`,
      "name it by its numeric id (GET /repos/:owner/:repo shows it) or as owner/name",
    );
  }
  return { kind: "path", owner, name };
}

/** `/repositories/:id` or `/repos/:owner/:repo`. */
export function apiRepoPath(ref: GitHubRepoRef): string {
  return ref.kind === "id"
    ? `/repositories/${ref.id}`
    : `/repos/${encodeURIComponent(ref.owner)}/${encodeURIComponent(ref.name)}`;
}

/** `/repos/:owner/:repo` of a repository GitHub described (its `full_name`). */
export function repoPath(repo: ProviderRepo): string {
  return apiRepoPath(parseRepoRef(repo.fullPath));
}

/** A deploy key's or webhook's id as GitHub returned it; anything else never reaches a URL. */
export function numericId(id: string, what: string): string {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) {
    throw new ProviderError(
      "invalid",
      `${JSON.stringify(id.slice(0, 40))} is not a GitHub ${what} id`,
      "GitHub ids are positive integers",
    );
  }
  return id;
}
