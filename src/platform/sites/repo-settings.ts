import type { Actor } from "../accounts/tokens.ts";
import type { PlatformContext } from "../context.ts";
import type { RepoProvider, Site } from "../db/schema.ts";
import { isValidBranchName } from "../../lib/git-refs.ts";
import { hasControlCharacters } from "../../lib/text.ts";
import { invalidField } from "../errors.ts";
import { checkRepoHost, type ResolveHost } from "../repos/host-guard.ts";
import { quote, RepoUrlError, validateRepoUrl, type RepoUrl } from "../repos/repo-url.ts";
import { resolveInstallationSetting } from "../connections/installations.ts";
import { deployKeyForSite } from "../deploy-keys/deploy-keys.ts";

/**
 * A site's repository settings: the checks of single fields (each throws a 422 that names the
 * field and says why; none of them touches the database), the settings as stored in the site's
 * columns, and `resolveRepoSettings`, which merges a request into the current settings and
 * checks the result before anything is stored.
 */

/**
 * Netlify's `repoInfo` (`repo`, or `build_settings`) as the domain reads it: the API's schema
 * caps lengths and types; `resolveRepoSettings` checks contents and says why a value is refused.
 * An empty string clears an optional setting.
 */
export interface RepoInput {
  provider?: RepoProvider;
  repo_url?: string;
  repo_path?: string;
  /** The provider's repository id: an integer (GitHub, GitLab) or `workspace/repo` (Bitbucket). */
  id?: number | string;
  repo_branch?: string;
  cmd?: string;
  dir?: string;
  base?: string;
  deploy_key_id?: string;
  installation_id?: number | null;
  /** The account's git connection to link through (Slipway installs the key and hook itself). */
  connection_id?: string;
  allowed_branches?: string[];
  env?: Record<string, string>;
  stop_builds?: boolean;
  build_network?: boolean;
  deploy_previews?: boolean;
}

/** A site's repository settings, complete and checked. */
export interface RepoSettings {
  provider: RepoProvider;
  repoUrl: string;
  repoPath: string | null;
  repoId: number | string | null;
  branch: string;
  cmd: string | null;
  dir: string | null;
  base: string | null;
  deployKeyId: string | null;
  /** GitHub App installation the repository is cloned through (`links/installations.ts`). */
  installationId: number | null;
  allowedBranches: string[];
  stopBuilds: boolean;
  /** Whether the build command may use the network (package installs); on by default. */
  buildNetwork: boolean;
  /** Whether pull/merge requests build deploy previews; on by default. */
  deployPreviews: boolean;
}

const DEFAULT_BRANCH = "main";

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
  if (hasControlCharacters(value)) throw invalidField(field, "must not contain control characters");
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
  if (hasControlCharacters(value)) throw invalidField(field, "must not contain control characters");
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

/** The repository settings stored on a site, or null when it is not linked. */
export function readRepoSettings(site: Site): RepoSettings | null {
  if (site.repo_url === null || site.repo_provider === null) return null;
  return {
    provider: site.repo_provider,
    repoUrl: site.repo_url,
    repoPath: site.repo_path,
    repoId: site.repo_id === null ? null : (JSON.parse(site.repo_id) as number | string),
    branch: site.repo_branch ?? DEFAULT_BRANCH,
    cmd: site.build_cmd,
    dir: site.publish_dir,
    base: site.base_dir,
    deployKeyId: site.deploy_key_id,
    installationId: site.installation_id,
    allowedBranches: JSON.parse(site.allowed_branches) as string[],
    stopBuilds: site.stop_builds === 1,
    buildNetwork: site.build_network === 1,
    deployPreviews: site.deploy_previews === 1,
  };
}

const emptyToNull = (value: string | undefined): string | null | undefined =>
  value === undefined ? undefined : value === "" ? null : value;

/**
 * Merges a `repo` (or `build_settings`) object into the current settings and checks the
 * result, field by field, before anything is stored. Linking needs `repo_url` (or, as
 * `netlify-cli` sends it for a hand-typed remote, a URL in `repo_path`).
 */
export async function resolveRepoSettings(
  ctx: PlatformContext,
  actor: Actor,
  accountId: string,
  current: RepoSettings | null,
  input: RepoInput,
  prefix: string,
): Promise<RepoSettings> {
  const f = (name: string): string => `${prefix}.${name}`;
  const provider: RepoProvider = input.provider ?? current?.provider ?? "git";
  let repoUrl = input.repo_url === "" ? undefined : input.repo_url;
  if (
    repoUrl === undefined &&
    current === null &&
    (provider === "manual" || provider === "git") &&
    input.repo_path !== undefined &&
    /^(ssh:\/\/|https:\/\/|[^/:]+@[^/:]+:)/.test(input.repo_path)
  ) {
    repoUrl = input.repo_path;
  }
  if (repoUrl === undefined && current === null) {
    throw invalidField(
      f("repo_url"),
      "is required to link a repository (ssh://git@host/owner/repo.git, git@host:owner/repo.git or https://host/owner/repo.git)",
    );
  }
  if (repoUrl !== undefined) {
    await checkRepoUrl(f("repo_url"), repoUrl, {
      resolve: ctx.resolveHost,
      allowed: ctx.config.allowedPrivateRepoHosts,
    });
  }

  const branch =
    input.repo_branch !== undefined
      ? checkBranch(f("repo_branch"), input.repo_branch)
      : (current?.branch ?? DEFAULT_BRANCH);
  let allowedBranches: string[];
  if (input.allowed_branches !== undefined) {
    allowedBranches = [
      ...new Set(input.allowed_branches.map((b, i) => checkBranch(f(`allowed_branches.${i}`), b))),
    ];
  } else if (current === null) {
    allowedBranches = [branch];
  } else if (
    current.allowedBranches.length === 1 &&
    current.allowedBranches[0] === current.branch
  ) {
    // Still the default (just the production branch): follow a change of production branch.
    allowedBranches = [branch];
  } else {
    allowedBranches = current.allowedBranches;
  }

  const dir = emptyToNull(input.dir);
  const base = emptyToNull(input.base);
  const cmd = emptyToNull(input.cmd);
  if (cmd !== undefined && cmd !== null && cmd.includes("\0")) {
    throw invalidField(f("cmd"), "must not contain NUL characters");
  }
  const repoPath = emptyToNull(input.repo_path);
  let repoId: number | string | null | undefined = input.id === "" ? null : input.id;
  if (typeof repoId === "string") repoId = checkText(f("id"), repoId, 255);

  let deployKeyId = emptyToNull(input.deploy_key_id);
  if (deployKeyId !== undefined && deployKeyId !== null) {
    deployKeyId = (await deployKeyForSite(ctx, actor, f("deploy_key_id"), deployKeyId, accountId))
      .id;
  }

  return {
    provider,
    repoUrl: repoUrl ?? current!.repoUrl,
    repoPath:
      repoPath === undefined
        ? (current?.repoPath ?? null)
        : repoPath === null
          ? null
          : checkText(f("repo_path"), repoPath, 2048),
    repoId: repoId === undefined ? (current?.repoId ?? null) : repoId,
    branch,
    cmd: cmd === undefined ? (current?.cmd ?? null) : cmd,
    dir:
      dir === undefined
        ? (current?.dir ?? null)
        : dir === null
          ? null
          : checkCheckoutDir(f("dir"), dir),
    base:
      base === undefined
        ? (current?.base ?? null)
        : base === null
          ? null
          : checkCheckoutDir(f("base"), base),
    deployKeyId: deployKeyId === undefined ? (current?.deployKeyId ?? null) : deployKeyId,
    installationId: await resolveInstallationSetting(
      ctx,
      accountId,
      {
        requested: input.installation_id,
        current: current?.installationId ?? null,
        repoUrl: repoUrl ?? current!.repoUrl,
        repoUrlChanged: repoUrl !== undefined && repoUrl !== current?.repoUrl,
      },
      prefix,
    ),
    allowedBranches,
    stopBuilds: input.stop_builds ?? current?.stopBuilds ?? false,
    buildNetwork: input.build_network ?? current?.buildNetwork ?? true,
    deployPreviews: input.deploy_previews ?? current?.deployPreviews ?? true,
  };
}

type RepoColumns = Pick<
  Site,
  | "repo_provider"
  | "repo_url"
  | "repo_path"
  | "repo_id"
  | "repo_branch"
  | "build_cmd"
  | "publish_dir"
  | "base_dir"
  | "deploy_key_id"
  | "installation_id"
  | "allowed_branches"
  | "stop_builds"
  | "build_network"
  | "deploy_previews"
>;

/** The columns that hold repository settings. */
export function repoColumns(settings: RepoSettings | null): RepoColumns {
  return {
    repo_provider: settings?.provider ?? null,
    repo_url: settings?.repoUrl ?? null,
    repo_path: settings?.repoPath ?? null,
    repo_id: settings === null || settings.repoId === null ? null : JSON.stringify(settings.repoId),
    repo_branch: settings?.branch ?? null,
    build_cmd: settings?.cmd ?? null,
    publish_dir: settings?.dir ?? null,
    base_dir: settings?.base ?? null,
    deploy_key_id: settings?.deployKeyId ?? null,
    installation_id: settings?.installationId ?? null,
    allowed_branches: JSON.stringify(settings?.allowedBranches ?? []),
    stop_builds: settings?.stopBuilds === true ? 1 : 0,
    build_network: settings?.buildNetwork === false ? 0 : 1,
    deploy_previews: settings?.deployPreviews === false ? 0 : 1,
  };
}
