import type { GitProviderName } from "../db/schema.ts";

/**
 * # Git providers: one client interface over GitHub, GitLab, Bitbucket and Gitea
 *
 * Linking a site through a connection (`/git_connections`) does the provider's half — deploy
 * key, webhook, branch check — through a `ProviderClient`; health checks, repair, unlink, commit
 * statuses and GitHub App clone tokens go through it too. Each provider has one adapter file
 * (`gitlab.ts`, `github.ts`, `bitbucket.ts`, `gitea.ts`; GitHub's helped by `github-*.ts`) that
 * maps its API onto this interface and its failures onto `ProviderError` with a hint in the
 * provider's own terminology; what they share (checked JSON readers, comparing keys, the
 * credential's header, one call and its refusal mapping, every page of a list) is in `rest.ts`.
 * Adapters make HTTP calls only through `ProviderHttp` (`http.ts`), which checks the host
 * against the platform's private-address policy at connect time and never logs credentials.
 * `contract.test.ts` holds all four to this interface.
 */

export type { GitProviderName };

export type ProviderCredential =
  | { kind: "token"; token: string }
  | { kind: "app_password"; username: string; password: string }
  | { kind: "github_app"; appId: number; privateKey: string };

export interface ProviderConnection {
  provider: GitProviderName;
  /** API base URL without a trailing slash (`https://api.github.com`, `https://gitlab.com`). */
  baseUrl: string;
  credential: ProviderCredential;
}

/** A repository as the provider reports it. `id` is the native id as a string. */
export interface ProviderRepo {
  /** GitHub/GitLab/Gitea: the integer id as a string; Bitbucket: `workspace/repo_slug`. */
  id: string;
  /** `owner/name`, `group/sub/project`, `workspace/repo_slug`. */
  fullPath: string;
  sshUrl: string;
  httpsUrl: string;
  webUrl: string;
  defaultBranch: string;
  private: boolean;
}

export interface RemoteDeployKey {
  /** The provider's id of the key, as a string. */
  id: string;
  title: string;
  /** `ssh-ed25519 AAAA…` (comment possibly stripped by the provider). */
  key: string;
  readOnly: boolean;
}

export type HookEventKind = "push" | "pull_request";

export interface RemoteHook {
  id: string;
  url: string;
  events: HookEventKind[];
  active: boolean;
  /** Set when the provider itself disabled the hook (e.g. GitLab after repeated failures). */
  disabledReason?: string;
}

export interface HookSpec {
  url: string;
  secret: string;
  events: HookEventKind[];
}

export type CommitState = "pending" | "success" | "failure" | "error";

export interface CommitStatus {
  state: CommitState;
  /** Shown by the provider as the status's name, e.g. `slipway/site-name`. */
  context: string;
  description: string;
  targetUrl: string;
}

export interface ProviderIdentity {
  /** The user name, or for a GitHub App its slug. */
  username: string;
  /** Scopes the token has, when the provider says (GitHub `X-OAuth-Scopes`, GitLab token info). */
  scopes?: string[];
  /**
   * What the credential needs that the provider could not confirm, for a human (e.g. GitHub
   * fine-grained tokens, whose permissions are not reported).
   */
  hint?: string;
}

/** Credentials for an HTTPS clone (GitHub App installation tokens). */
export interface CloneCredentials {
  username: string;
  password: string;
  expiresAt?: string;
}

export interface ProviderClient {
  readonly provider: GitProviderName;
  /** Checks the credential; throws `ProviderError` (`unauthorized`, ...) when it does not work. */
  verify(): Promise<ProviderIdentity>;
  /** Repositories the credential can administer or read, filtered by a search string. */
  listRepos(search?: string): Promise<ProviderRepo[]>;
  /** One repository by its native id (`42`) or path (`group/project`, `workspace/slug`). */
  getRepo(ref: string): Promise<ProviderRepo>;
  branchExists(repo: ProviderRepo, branch: string): Promise<boolean>;
  /**
   * The repository's branch names, every page up to the shared cap, narrowed to those whose
   * name contains `search` (GitLab's own search; case-insensitive elsewhere).
   */
  listBranches(repo: ProviderRepo, search?: string): Promise<string[]>;
  /**
   * One file's text at `ref` (a branch, tag or commit; `path` relative to the root), or null
   * when there is no such file there. A path with `.`/`..` parts is refused unsent, a file over
   * `READ_FILE_MAX_BYTES` (`rest.ts`) as `invalid`.
   */
  readFile(repo: ProviderRepo, ref: string, path: string): Promise<string | null>;
  listDeployKeys(repo: ProviderRepo): Promise<RemoteDeployKey[]>;
  /** Installs a read-only deploy key. */
  addDeployKey(repo: ProviderRepo, key: { title: string; key: string }): Promise<RemoteDeployKey>;
  /** Removes a deploy key; a key that is already gone is not an error. */
  removeDeployKey(repo: ProviderRepo, id: string): Promise<void>;
  listHooks(repo: ProviderRepo): Promise<RemoteHook[]>;
  addHook(repo: ProviderRepo, hook: HookSpec): Promise<RemoteHook>;
  /** Re-enables and updates an existing hook (URL, secret, events). */
  updateHook(repo: ProviderRepo, id: string, hook: HookSpec): Promise<RemoteHook>;
  /** Removes a hook; a hook that is already gone is not an error. */
  removeHook(repo: ProviderRepo, id: string): Promise<void>;
  setCommitStatus(repo: ProviderRepo, sha: string, status: CommitStatus): Promise<void>;
  /**
   * GitHub Apps only: credentials for an HTTPS clone through `installationId`, after checking
   * that the installation belongs to this connection's App (`forbidden` otherwise).
   */
  cloneCredentials?(installationId: number, repo?: ProviderRepo): Promise<CloneCredentials>;
}

export type ProviderErrorKind =
  "unauthorized" | "forbidden" | "not_found" | "conflict" | "invalid" | "unavailable";

/**
 * A provider refused or failed a call. `message` says what happened, `hint` what to do, in the
 * provider's own terms ("the token needs the `api` scope", "you must be a Maintainer").
 */
export class ProviderError extends Error {
  override name = "ProviderError";
  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    readonly hint: string,
    /** The provider's HTTP status, when there was one. */
    readonly status?: number,
  ) {
    super(message);
  }
}
