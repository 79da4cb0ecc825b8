import { GitHubApi, type Auth } from "./github-api.ts";
import { GitHubAppAuth, installationTokens, type InstallationTokenCache } from "./github-app.ts";
import { field, githubMessage, toHook, toKey, toRepo } from "./github-parse.ts";
import { FINE_GRAINED_NEEDS, type GitHubOperation } from "./github-refusals.ts";
import {
  apiRepoPath,
  numericId,
  parseRepoRef,
  repoPath,
  type GitHubRepoRef,
} from "./github-refs.ts";
import type { ProviderHttp } from "./http.ts";
import {
  containing,
  filePathSegments,
  header,
  isString,
  PAGE_SIZE,
  record,
  sameKey,
} from "./rest.ts";
import {
  ProviderError,
  type CloneCredentials,
  type CommitStatus,
  type HookSpec,
  type ProviderClient,
  type ProviderConnection,
  type ProviderIdentity,
  type ProviderRepo,
  type RemoteDeployKey,
  type RemoteHook,
} from "./types.ts";

/**
 * # The GitHub adapter (REST v3)
 *
 * Two kinds of credential:
 * - a personal access token (classic `ghp_…` with scopes, or fine-grained `github_pat_…` with
 *   per-repository permissions), sent as `Authorization: Bearer`;
 * - a GitHub App (id + private key): `/app/...` calls carry the App's JWT; repository calls
 *   carry an installation token of the installation that covers the repository
 *   (`GET /repos/:o/:r/installation`), minted and cached by `github-app.ts`.
 *
 * The calls go through `github-api.ts`; repositories are named as `github-refs.ts` reads them,
 * answers read as `github-parse.ts` checks them, and every refusal becomes a `ProviderError`
 * whose hint names the scope or permission the call needs (`github-refusals.ts`).
 */

/** GitHub's limit on a commit status description. */
const MAX_STATUS_DESCRIPTION = 140;

export class GitHubClient implements ProviderClient {
  readonly provider = "github" as const;
  private readonly api: GitHubApi;
  private readonly app: GitHubAppAuth;

  constructor(
    readonly connection: ProviderConnection,
    readonly http: ProviderHttp,
    tokens: InstallationTokenCache = installationTokens,
  ) {
    this.api = new GitHubApi(connection, http);
    this.app = new GitHubAppAuth(this.api, connection.credential, tokens);
  }

  /** GitHub's web host for this API (`https://github.com`, or a GHES host). */
  get webUrl(): string {
    return this.api.webUrl;
  }

  async verify(): Promise<ProviderIdentity> {
    const credential = this.connection.credential;
    if (credential.kind === "github_app") {
      const res = await this.api.call("GET", "/app", this.app.jwt(), {
        action: "read the App",
        purpose: "app",
      });
      const slug = field(res.body, "slug", isString, "GET /app");
      const permissions = record(record(res.body).permissions);
      const missing = [
        ["contents", "Contents: Read-only (to clone)"],
        ["statuses", "Commit statuses: Read and write"],
      ]
        .filter(([name]) => permissions[name!] === undefined)
        .map(([, label]) => label!);
      return {
        username: slug,
        ...(missing.length > 0
          ? {
              hint: `The App ${slug} lacks ${missing.join(" and ")}: add them in the App's settings → Permissions & events, then accept the new permissions on each installation.`,
            }
          : {}),
      };
    }
    if (credential.kind !== "token") {
      throw new ProviderError(
        "invalid",
        "GitHub connections use a personal access token or a GitHub App, not an app password",
        "create a token at https://github.com/settings/tokens, or give the App id and private key",
      );
    }
    const res = await this.api.call("GET", "/user", this.patAuth(), {
      action: "identify the token's user",
      purpose: "identity",
    });
    const username = field(res.body, "login", isString, "GET /user");
    const scopesHeader = header(res, "x-oauth-scopes");
    if (scopesHeader === undefined) return { username, hint: FINE_GRAINED_NEEDS };
    const scopes = scopesHeader
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
    if (!scopes.includes("repo")) {
      const has = scopes.length === 0 ? "no scopes at all" : `only ${scopes.join(", ")}`;
      throw new ProviderError(
        "forbidden",
        `the GitHub token of ${username} has ${has}; Slipway needs the \`repo\` scope`,
        `Edit the token at ${this.webUrl}/settings/tokens and tick \`repo\` (it covers private repositories, deploy keys and commit statuses) and \`admin:repo_hook\` (webhooks). A fine-grained token works too: give it Administration, Webhooks and Commit statuses (Read and write) and Contents (Read-only).`,
        403,
      );
    }
    return { username, scopes };
  }

  async listRepos(search?: string): Promise<ProviderRepo[]> {
    const needle = search?.trim().toLowerCase() ?? "";
    const matches = (repo: ProviderRepo) => repo.fullPath.toLowerCase().includes(needle);
    if (this.connection.credential.kind !== "github_app") {
      const repos = await this.api.paged(
        `/user/repos?per_page=${PAGE_SIZE}&sort=full_name&affiliation=owner,collaborator,organization_member`,
        this.patAuth(),
        { action: "list your repositories", purpose: "repo" },
      );
      return repos.map((r) => toRepo(r, "GET /user/repos")).filter(matches);
    }
    const found: ProviderRepo[] = [];
    for (const installationId of await this.app.installationIds()) {
      const pages = await this.api.paged(
        `/installation/repositories?per_page=${PAGE_SIZE}`,
        await this.app.installationAuth({ installationId }),
        { action: "list the installation's repositories", purpose: "repo" },
        "repositories",
      );
      found.push(...pages.map((r) => toRepo(r, "GET /installation/repositories")));
    }
    return found.filter(matches);
  }

  async getRepo(ref: string): Promise<ProviderRepo> {
    const parsed = parseRepoRef(ref);
    if (this.connection.credential.kind !== "github_app") {
      return this.readRepo(parsed, this.patAuth(), ref);
    }
    if (parsed.kind === "path") {
      const auth = await this.app.repositoryAuth(`${parsed.owner}/${parsed.name}`);
      return this.readRepo(parsed, auth, ref);
    }
    // A numeric id names no owner: ask each installation of the App.
    for (const installationId of await this.app.installationIds()) {
      const res = await this.api.call(
        "GET",
        `/repositories/${parsed.id}`,
        await this.app.installationAuth({ installationId }),
        { action: `read repository ${parsed.id}`, purpose: "repo" },
        { tolerated: [404] },
      );
      if (res.status !== 404) return toRepo(res.body, "GET /repositories/:id");
    }
    throw new ProviderError(
      "not_found",
      `no installation of the GitHub App can see repository ${parsed.id}`,
      "install the App on the repository's owner and give it access to the repository (Repository access: All repositories, or select it)",
      404,
    );
  }

  async branchExists(repo: ProviderRepo, branch: string): Promise<boolean> {
    const operation: GitHubOperation = {
      action: `read the branch ${branch} of ${repo.fullPath}`,
      purpose: "repo",
      repo: repo.fullPath,
    };
    const res = await this.api.call(
      "GET",
      `${repoPath(repo)}/branches/${encodeURIComponent(branch)}`,
      await this.repoAuth(repo),
      operation,
      { tolerated: [301, 404] },
    );
    // 301: the branch was renamed (GitHub points at the new name); it does not exist as named.
    if (res.status === 301) return false;
    if (res.status !== 404) return true;
    if (/branch not found/i.test(githubMessage(res.body))) return false;
    throw this.api.refusal(res, operation);
  }

  async readFile(repo: ProviderRepo, ref: string, path: string): Promise<string | null> {
    const file = filePathSegments(path).join("/");
    const res = await this.api.call(
      "GET",
      `${repoPath(repo)}/contents/${file}?${new URLSearchParams({ ref }).toString()}`,
      await this.repoAuth(repo),
      { action: `read ${path} of ${repo.fullPath}`, purpose: "repo", repo: repo.fullPath },
      { tolerated: [404], rawFile: true },
    );
    if (res.status === 404) return null;
    // A directory answers with its listing (JSON): not a file.
    if (/application\/json/i.test(String(res.headers["content-type"] ?? ""))) return null;
    return typeof res.body === "string" ? res.body : "";
  }

  async listBranches(repo: ProviderRepo, search?: string): Promise<string[]> {
    // GitHub's branch list has no search: every page is read and filtered here.
    const branches = await this.api.paged(
      `${repoPath(repo)}/branches?per_page=${PAGE_SIZE}`,
      await this.repoAuth(repo),
      { action: `list the branches of ${repo.fullPath}`, purpose: "repo", repo: repo.fullPath },
    );
    const names = branches.map((b) =>
      field(b, "name", isString, "GET /repos/:owner/:repo/branches"),
    );
    return containing(names, search);
  }

  async listDeployKeys(repo: ProviderRepo): Promise<RemoteDeployKey[]> {
    const keys = await this.api.paged(
      `${repoPath(repo)}/keys?per_page=${PAGE_SIZE}`,
      await this.repoAuth(repo),
      { action: `list the deploy keys of ${repo.fullPath}`, purpose: "keys", repo: repo.fullPath },
    );
    return keys.map((k) => toKey(k, "GET /repos/:owner/:repo/keys"));
  }

  async addDeployKey(
    repo: ProviderRepo,
    key: { title: string; key: string },
  ): Promise<RemoteDeployKey> {
    const operation: GitHubOperation = {
      action: `add a deploy key to ${repo.fullPath}`,
      purpose: "keys",
      repo: repo.fullPath,
    };
    const res = await this.api.call(
      "POST",
      `${repoPath(repo)}/keys`,
      await this.repoAuth(repo),
      operation,
      { body: { title: key.title, key: key.key, read_only: true }, tolerated: [422] },
    );
    if (res.status !== 422) return toKey(res.body, "POST /repos/:owner/:repo/keys");
    if (/already in use/i.test(githubMessage(res.body))) {
      // Ours from an earlier attempt (a retry, a crash after GitHub answered): reuse it.
      const ours = (await this.listDeployKeys(repo)).find((k) => sameKey(k.key, key.key));
      if (ours) return ours;
      throw new ProviderError(
        "conflict",
        `GitHub refused the deploy key for ${repo.fullPath}: "key is already in use" elsewhere`,
        "GitHub accepts a key as the deploy key of one repository only, and never a key that is also a user's SSH key: remove it from the other repository or account, or let Slipway generate a new key for this site",
        422,
      );
    }
    throw this.api.refusal(res, operation);
  }

  async removeDeployKey(repo: ProviderRepo, id: string): Promise<void> {
    await this.api.call(
      "DELETE",
      `${repoPath(repo)}/keys/${numericId(id, "deploy key")}`,
      await this.repoAuth(repo),
      {
        action: `remove deploy key ${id} from ${repo.fullPath}`,
        purpose: "keys",
        repo: repo.fullPath,
      },
      { tolerated: [404] },
    );
  }

  async listHooks(repo: ProviderRepo): Promise<RemoteHook[]> {
    const hooks = await this.api.paged(
      `${repoPath(repo)}/hooks?per_page=${PAGE_SIZE}`,
      await this.repoAuth(repo),
      { action: `list the webhooks of ${repo.fullPath}`, purpose: "hooks", repo: repo.fullPath },
    );
    return hooks.map((h) => toHook(h, "GET /repos/:owner/:repo/hooks"));
  }

  async addHook(repo: ProviderRepo, hook: HookSpec): Promise<RemoteHook> {
    const operation: GitHubOperation = {
      action: `create a webhook on ${repo.fullPath}`,
      purpose: "hooks",
      repo: repo.fullPath,
    };
    const res = await this.api.call(
      "POST",
      `${repoPath(repo)}/hooks`,
      await this.repoAuth(repo),
      operation,
      { body: hookBody(hook, true), tolerated: [422] },
    );
    if (res.status !== 422) return toHook(res.body, "POST /repos/:owner/:repo/hooks");
    if (/already exists/i.test(githubMessage(res.body))) {
      // GitHub allows one hook per URL: ours from an earlier attempt; make it what we want.
      const existing = (await this.listHooks(repo)).find((h) => h.url === hook.url);
      if (existing) return this.updateHook(repo, existing.id, hook);
    }
    throw this.api.refusal(res, operation);
  }

  async updateHook(repo: ProviderRepo, id: string, hook: HookSpec): Promise<RemoteHook> {
    const res = await this.api.call(
      "PATCH",
      `${repoPath(repo)}/hooks/${numericId(id, "webhook")}`,
      await this.repoAuth(repo),
      { action: `update webhook ${id} of ${repo.fullPath}`, purpose: "hooks", repo: repo.fullPath },
      { body: hookBody(hook, false) },
    );
    return toHook(res.body, "PATCH /repos/:owner/:repo/hooks/:id");
  }

  async removeHook(repo: ProviderRepo, id: string): Promise<void> {
    await this.api.call(
      "DELETE",
      `${repoPath(repo)}/hooks/${numericId(id, "webhook")}`,
      await this.repoAuth(repo),
      {
        action: `remove webhook ${id} from ${repo.fullPath}`,
        purpose: "hooks",
        repo: repo.fullPath,
      },
      { tolerated: [404] },
    );
  }

  async setCommitStatus(repo: ProviderRepo, sha: string, status: CommitStatus): Promise<void> {
    // SHA-1 only, not `isGitObjectId`: GitHub has no SHA-256 repositories.
    if (!/^[0-9a-f]{40}$/.test(sha)) {
      throw new ProviderError(
        "invalid",
        `${JSON.stringify(sha.slice(0, 80))} is not a full commit sha`,
        "commit statuses are set on a 40-character hexadecimal commit id",
      );
    }
    const description =
      status.description.length > MAX_STATUS_DESCRIPTION
        ? `${status.description.slice(0, MAX_STATUS_DESCRIPTION - 1)}…`
        : status.description;
    await this.api.call(
      "POST",
      `${repoPath(repo)}/statuses/${sha}`,
      await this.repoAuth(repo),
      {
        action: `set a commit status on ${sha.slice(0, 12)} of ${repo.fullPath}`,
        purpose: "statuses",
        repo: repo.fullPath,
      },
      {
        body: {
          state: status.state,
          target_url: status.targetUrl,
          description,
          context: status.context,
        },
      },
    );
  }

  /**
   * HTTPS clone credentials through an installation of this connection's App: the installation
   * must belong to the App (GitHub answers 404 otherwise, reported as `forbidden`), and the
   * token is limited to reading contents — of `repo` alone when given.
   */
  async cloneCredentials(installationId: number, repo?: ProviderRepo): Promise<CloneCredentials> {
    await this.app.installation(installationId);
    const token = await this.app.token(
      {
        installationId,
        ...(repo !== undefined ? { repositoryIds: [Number(repo.id)] } : {}),
        permissions: { contents: "read" },
      },
      repo,
    );
    return { username: "x-access-token", password: token.token, expiresAt: token.expiresAt };
  }

  /**
   * A repository as an installation of this App sees it (`forbidden` when the installation is
   * not the App's, `not_found` when it has no access to the repository).
   */
  async installationRepo(installationId: number, ref: string): Promise<ProviderRepo> {
    await this.app.installation(installationId);
    const auth = await this.app.installationAuth({
      installationId,
      permissions: { contents: "read" },
    });
    const parsed = parseRepoRef(ref);
    const name =
      parsed.kind === "id" ? `repository ${parsed.id}` : `${parsed.owner}/${parsed.name}`;
    const res = await this.api.call(
      "GET",
      apiRepoPath(parsed),
      auth,
      {
        action: `read ${name} through installation ${installationId}`,
        purpose: "repo",
        repo: name,
      },
      { tolerated: [404] },
    );
    if (res.status !== 404) return toRepo(res.body, "GET /repos/:owner/:repo");
    throw new ProviderError(
      "not_found",
      `the GitHub App installation ${installationId} has no access to ${name}`,
      `add the repository to the installation (${this.webUrl}/settings/installations/${installationId} → Repository access), or check the owner and name`,
      404,
    );
  }

  /** An installation of this App: `forbidden` when GitHub says it is not one of the App's. */
  installation(installationId: number): Promise<{ id: number; account: string }> {
    return this.app.installation(installationId);
  }

  // -------------------------------------------------------------------------------------------

  private patAuth(): Auth {
    const credential = this.connection.credential;
    if (credential.kind !== "token") {
      throw new ProviderError(
        "invalid",
        "this GitHub connection has no personal access token",
        "create a token at https://github.com/settings/tokens",
      );
    }
    return { kind: "pat", token: credential.token };
  }

  /** A PAT connection's token, or the token of the App's installation that covers `repo`. */
  private repoAuth(repo: ProviderRepo): Promise<Auth> {
    return this.connection.credential.kind === "github_app"
      ? this.app.repositoryAuth(repo.fullPath)
      : Promise.resolve(this.patAuth());
  }

  private async readRepo(parsed: GitHubRepoRef, auth: Auth, ref: string): Promise<ProviderRepo> {
    const res = await this.api.call("GET", apiRepoPath(parsed), auth, {
      action: `read the repository ${ref}`,
      purpose: "repo",
      repo: ref,
    });
    return toRepo(res.body, "GET /repos/:owner/:repo");
  }
}

function hookBody(hook: HookSpec, create: boolean) {
  return {
    ...(create ? { name: "web" } : {}),
    active: true,
    events: [...new Set(hook.events)],
    config: { url: hook.url, content_type: "json", secret: hook.secret, insecure_ssl: "0" },
  };
}
