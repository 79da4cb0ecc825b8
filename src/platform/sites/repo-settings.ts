import { isValidBranchName } from "../../lib/git-refs.ts";
import { invalidField } from "../errors.ts";
import { checkRepoHost, type ResolveHost } from "../repos/host-guard.ts";
import { quote, RepoUrlError, validateRepoUrl, type RepoUrl } from "../repos/repo-url.ts";

/**
 * Checks of the single fields of a site's repository settings. Each throws a 422 that names the
 * field and says why; none of them touches the database.
 */

/** A branch name by git's rules, and never one git could read as an option. */
export function checkBranch(field: string, name: string): string {
  if (name.startsWith("-")) {
    throw invalidField(field, `the branch name ${quote(name)} must not start with "-"`);
  }
  if (!isValidBranchName(name)) {
    throw invalidField(
      field,
      `${quote(name)} is not a valid git branch name (no spaces, control characters, ~ ^ : ? * [ \\, "..", "@{" or "//"; no part may start with "." or end with ".lock"; it may not end with "/" or ".")`,
    );
  }
  return name;
}

const MAX_DIR = 1024;

/**
 * A directory inside the checkout (`dir`, `base`): relative, no `..`, nothing git or a shell
 * could misread. `""` and `"."` mean the checkout's root (stored as null).
 */
export function checkCheckoutDir(field: string, value: string): string | null {
  if (value === "" || value === "." || value === "./") return null;
  if (value.length > MAX_DIR) throw invalidField(field, `must be at most ${MAX_DIR} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value))
    throw invalidField(field, "must not contain control characters");
  if (value.includes("\\")) throw invalidField(field, "must use / as the separator, not \\");
  if (value.startsWith("/") || value.startsWith("~")) {
    throw invalidField(
      field,
      `${quote(value)} must be a path relative to the repository root, not an absolute path`,
    );
  }
  if (value.split("/").some((s) => s === "..")) {
    throw invalidField(
      field,
      `${quote(value)} must stay inside the repository: ".." is not allowed`,
    );
  }
  if (value.startsWith("-")) throw invalidField(field, `${quote(value)} must not start with "-"`);
  return value;
}

/** Build environment variable names as POSIX shells accept them. */
export function checkEnv(field: string, env: Record<string, string>): Record<string, string> {
  for (const name of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,255}$/.test(name)) {
      throw invalidField(
        `${field}.${name.slice(0, 80)}`,
        "is not a valid environment variable name (letters, digits and _, not starting with a digit)",
      );
    }
  }
  return env;
}

/** Free-text identifiers (`repo_path`, a string `repo.id`): printable, no leading dash. */
export function checkText(field: string, value: string, max: number): string {
  if (value.length > max) throw invalidField(field, `must be at most ${max} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value))
    throw invalidField(field, "must not contain control characters");
  if (value.startsWith("-")) throw invalidField(field, `${quote(value)} must not start with "-"`);
  return value;
}

/**
 * A repository URL: syntax first (`validateRepoUrl`), then where its host points (`checkRepoHost`).
 */
export async function checkRepoUrl(
  field: string,
  value: string,
  options: { resolve: ResolveHost; allowed: readonly string[] },
): Promise<RepoUrl> {
  let url: RepoUrl;
  try {
    url = validateRepoUrl(value);
  } catch (error) {
    if (error instanceof RepoUrlError) throw invalidField(field, error.reason);
    throw error;
  }
  const host = await checkRepoHost(options, url.host, url.port);
  if (!host.ok) throw invalidField(field, host.reason);
  return url;
}
