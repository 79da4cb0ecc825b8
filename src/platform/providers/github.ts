import type { KeyObject } from "node:crypto";
import {
  appJwt,
  installationTokens,
  parseAppPrivateKey,
  type InstallationToken,
  type InstallationTokenCache,
  type TokenScope,
} from "./github-app.ts";
import type { ProviderHttp, ProviderRequest, ProviderResponse } from "./http.ts";
import { header, isRecord, isString, record, sameKey } from "./rest.ts";
import {
  ProviderError,
  type CloneCredentials,
  type CommitStatus,
  type HookEventKind,
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
 * GitHub answers 404, not 403, for a private repository the credential may not see; every
 * refusal becomes a `ProviderError` whose hint names the scope (classic tokens) or permission
 * (fine-grained tokens, Apps) the call needs.
 */

export const GITHUB_API_VERSION = "2022-11-28";
const MAX_PAGES = 10;
/** GitHub's limit on a commit status description. */
const MAX_STATUS_DESCRIPTION = 140;

type Auth =
  | { kind: "pat"; token: string }
  | { kind: "jwt" }
  | { kind: "installation"; token: string; installationId: number };

/** What a call is for: decides which scope or permission a refusal's hint names. */
type Purpose = "identity" | "repo" | "keys" | "hooks" | "statuses" | "app";

const NEEDS: Record<Purpose, { classic: string; fineGrained: string; app: string }> = {
  identity: { classic: "no scope", fineGrained: "no permission", app: "no permission" },
  repo: {
    classic: "the `repo` scope (to read private repositories)",
    fineGrained: "access to this repository with Contents: Read-only",
    app: "access to this repository with Contents: Read-only",
  },
  keys: {
    classic: "the `repo` scope",
    fineGrained: "Administration: Read and write on this repository",
    app: "the Administration: Read and write permission",
  },
  hooks: {
    classic: "the `admin:repo_hook` scope (or `repo`)",
    fineGrained: "Webhooks: Read and write on this repository",
    app: "the Webhooks: Read and write permission",
  },
  statuses: {
    classic: "the `repo:status` scope (or `repo`)",
    fineGrained: "Commit statuses: Read and write on this repository",
    app: "the Commit statuses: Read and write permission",
  },
  app: { classic: "a GitHub App", fineGrained: "a GitHub App", app: "no permission" },
};

/** What Slipway needs from a fine-grained token, which GitHub does not describe to us. */
const FINE_GRAINED_NEEDS =
  "GitHub does not report a fine-grained token's permissions. On each repository you link it needs Administration: Read and write (deploy keys), Webhooks: Read and write, Commit statuses: Read and write and Contents: Read-only (Metadata: Read-only comes with them).";

// ---------------------------------------------------------------------------------------------
// Repository references

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

// ---------------------------------------------------------------------------------------------
// Reading GitHub's JSON (checked, never trusted)

function unexpected(what: string): ProviderError {
  return new ProviderError(
    "unavailable",
    `GitHub sent an unexpected response to ${what}`,
    "check that the connection's base_url is GitHub's REST API (https://api.github.com, or https://<host>/api/v3 for GitHub Enterprise Server)",
  );
}

function field<T>(body: unknown, name: string, check: (v: unknown) => v is T, what: string): T {
  const value = isRecord(body) ? body[name] : undefined;
  if (!check(value)) throw unexpected(what);
  return value;
}
const isInteger = (v: unknown): v is number => Number.isSafeInteger(v);
const isBoolean = (v: unknown): v is boolean => typeof v === "boolean";

function toRepo(body: unknown, what: string): ProviderRepo {
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

function toKey(body: unknown, what: string): RemoteDeployKey {
  return {
    id: String(field(body, "id", isInteger, what)),
    title: field(body, "title", isString, what),
    key: field(body, "key", isString, what),
    readOnly: field(body, "read_only", isBoolean, what),
  };
}

const HOOK_EVENTS: readonly HookEventKind[] = ["push", "pull_request"];

function toHook(body: unknown, what: string): RemoteHook {
  const config = field(body, "config", isRecord, what);
  const events = field(body, "events", Array.isArray, what) as unknown[];
  return {
    id: String(field(body, "id", isInteger, what)),
    url: typeof config.url === "string" ? config.url : "",
    events: HOOK_EVENTS.filter((e) => events.includes(e) || events.includes("*")),
    active: field(body, "active", isBoolean, what),
  };
}

function list(body: unknown, what: string, key?: string): unknown[] {
  const value = key === undefined ? body : isRecord(body) ? body[key] : undefined;
  if (!Array.isArray(value)) throw unexpected(what);
  return value;
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

// ---------------------------------------------------------------------------------------------

export class GitHubClient implements ProviderClient {
  readonly provider = "github" as const;
  private readonly baseUrl: string;
  private appKey: KeyObject | undefined;

  constructor(
    readonly connection: ProviderConnection,
    readonly http: ProviderHttp,
    private readonly tokens: InstallationTokenCache = installationTokens,
  ) {
    this.baseUrl = connection.baseUrl.replace(/\/+$/, "");
  }

  /** GitHub's web host for this API (`https://github.com`, or a GHES host). */
  get webUrl(): string {
    const url = new URL(this.baseUrl);
    if (url.hostname === "api.github.com") return "https://github.com";
    return `${url.origin}${url.pathname.replace(/\/api\/v3$/, "")}`.replace(/\/+$/, "");
  }

  async verify(): Promise<ProviderIdentity> {
    const credential = this.connection.credential;
    if (credential.kind === "github_app") {
      const res = await this.call("GET", "/app", { kind: "jwt" });
      if (res.status !== 200) throw this.refusal(res, "read the App", "app");
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
    const res = await this.call("GET", "/user", this.patAuth());
    if (res.status !== 200) throw this.refusal(res, "identify the token's user", "identity");
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
      const repos = await this.paged(
        "/user/repos?per_page=100&sort=full_name&affiliation=owner,collaborator,organization_member",
        this.patAuth(),
        "list your repositories",
        "repo",
      );
      return repos.map((r) => toRepo(r, "GET /user/repos")).filter(matches);
    }
    const found: ProviderRepo[] = [];
    for (const installationId of await this.installationIds()) {
      const auth = await this.installationAuth({ installationId });
      const pages = await this.paged(
        "/installation/repositories?per_page=100",
        auth,
        "list the installation's repositories",
        "repo",
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
      const auth = await this.installationAuthFor(`${parsed.owner}/${parsed.name}`);
      return this.readRepo(parsed, auth, ref);
    }
    // A numeric id names no owner: ask each installation of the App.
    for (const installationId of await this.installationIds()) {
      const auth = await this.installationAuth({ installationId });
      const res = await this.call("GET", `/repositories/${parsed.id}`, auth);
      if (res.status === 200) return toRepo(res.body, "GET /repositories/:id");
      if (res.status !== 404) throw this.refusal(res, `read repository ${parsed.id}`, "repo");
    }
    throw new ProviderError(
      "not_found",
      `no installation of the GitHub App can see repository ${parsed.id}`,
      "install the App on the repository's owner and give it access to the repository (Repository access: All repositories, or select it)",
      404,
    );
  }

  async branchExists(repo: ProviderRepo, branch: string): Promise<boolean> {
    const auth = await this.repoAuth(repo);
    const res = await this.call(
      "GET",
      `${repoPath(repo)}/branches/${encodeURIComponent(branch)}`,
      auth,
    );
    if (res.status === 200) return true;
    // 301: the branch was renamed (GitHub points at the new name); it does not exist as named.
    if (res.status === 301) return false;
    if (res.status === 404 && /branch not found/i.test(githubMessage(res.body))) return false;
    throw this.refusal(res, `read the branch ${branch} of ${repo.fullPath}`, "repo", repo.fullPath);
  }

  async listDeployKeys(repo: ProviderRepo): Promise<RemoteDeployKey[]> {
    const keys = await this.paged(
      `${repoPath(repo)}/keys?per_page=100`,
      await this.repoAuth(repo),
      `list the deploy keys of ${repo.fullPath}`,
      "keys",
      undefined,
      repo.fullPath,
    );
    return keys.map((k) => toKey(k, "GET /repos/:owner/:repo/keys"));
  }

  async addDeployKey(
    repo: ProviderRepo,
    key: { title: string; key: string },
  ): Promise<RemoteDeployKey> {
    const res = await this.call("POST", `${repoPath(repo)}/keys`, await this.repoAuth(repo), {
      title: key.title,
      key: key.key,
      read_only: true,
    });
    if (res.status === 201) return toKey(res.body, "POST /repos/:owner/:repo/keys");
    if (res.status === 422 && /already in use/i.test(githubMessage(res.body))) {
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
    throw this.refusal(res, `add a deploy key to ${repo.fullPath}`, "keys", repo.fullPath);
  }

  async removeDeployKey(repo: ProviderRepo, id: string): Promise<void> {
    const res = await this.call(
      "DELETE",
      `${repoPath(repo)}/keys/${numericId(id, "deploy key")}`,
      await this.repoAuth(repo),
    );
    if (res.status === 204 || res.status === 404) return;
    throw this.refusal(res, `remove deploy key ${id} from ${repo.fullPath}`, "keys", repo.fullPath);
  }

  async listHooks(repo: ProviderRepo): Promise<RemoteHook[]> {
    const hooks = await this.paged(
      `${repoPath(repo)}/hooks?per_page=100`,
      await this.repoAuth(repo),
      `list the webhooks of ${repo.fullPath}`,
      "hooks",
      undefined,
      repo.fullPath,
    );
    return hooks.map((h) => toHook(h, "GET /repos/:owner/:repo/hooks"));
  }

  async addHook(repo: ProviderRepo, hook: HookSpec): Promise<RemoteHook> {
    const res = await this.call(
      "POST",
      `${repoPath(repo)}/hooks`,
      await this.repoAuth(repo),
      hookBody(hook, true),
    );
    if (res.status === 201) return toHook(res.body, "POST /repos/:owner/:repo/hooks");
    if (res.status === 422 && /already exists/i.test(githubMessage(res.body))) {
      // GitHub allows one hook per URL: ours from an earlier attempt; make it what we want.
      const existing = (await this.listHooks(repo)).find((h) => h.url === hook.url);
      if (existing) return this.updateHook(repo, existing.id, hook);
    }
    throw this.refusal(res, `create a webhook on ${repo.fullPath}`, "hooks", repo.fullPath);
  }

  async updateHook(repo: ProviderRepo, id: string, hook: HookSpec): Promise<RemoteHook> {
    const res = await this.call(
      "PATCH",
      `${repoPath(repo)}/hooks/${numericId(id, "webhook")}`,
      await this.repoAuth(repo),
      hookBody(hook, false),
    );
    if (res.status === 200) return toHook(res.body, "PATCH /repos/:owner/:repo/hooks/:id");
    throw this.refusal(res, `update webhook ${id} of ${repo.fullPath}`, "hooks", repo.fullPath);
  }

  async removeHook(repo: ProviderRepo, id: string): Promise<void> {
    const res = await this.call(
      "DELETE",
      `${repoPath(repo)}/hooks/${numericId(id, "webhook")}`,
      await this.repoAuth(repo),
    );
    if (res.status === 204 || res.status === 404) return;
    throw this.refusal(res, `remove webhook ${id} from ${repo.fullPath}`, "hooks", repo.fullPath);
  }

  async setCommitStatus(repo: ProviderRepo, sha: string, status: CommitStatus): Promise<void> {
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
    const res = await this.call(
      "POST",
      `${repoPath(repo)}/statuses/${sha}`,
      await this.repoAuth(repo),
      {
        state: status.state,
        target_url: status.targetUrl,
        description,
        context: status.context,
      },
    );
    if (res.status === 201) return;
    throw this.refusal(
      res,
      `set a commit status on ${sha.slice(0, 12)} of ${repo.fullPath}`,
      "statuses",
      repo.fullPath,
    );
  }

  /**
   * HTTPS clone credentials through an installation of this connection's App: the installation
   * must belong to the App (GitHub answers 404 otherwise, reported as `forbidden`), and the
   * token is limited to reading contents — of `repo` alone when given.
   */
  async cloneCredentials(installationId: number, repo?: ProviderRepo): Promise<CloneCredentials> {
    await this.installation(installationId);
    const token = await this.installationToken(
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
    await this.installation(installationId);
    const auth = await this.installationAuth({ installationId, permissions: { contents: "read" } });
    const parsed = parseRepoRef(ref);
    const name =
      parsed.kind === "id" ? `repository ${parsed.id}` : `${parsed.owner}/${parsed.name}`;
    const res = await this.call("GET", apiRepoPath(parsed), auth);
    if (res.status === 200) return toRepo(res.body, "GET /repos/:owner/:repo");
    if (res.status === 404) {
      throw new ProviderError(
        "not_found",
        `the GitHub App installation ${installationId} has no access to ${name}`,
        `add the repository to the installation (${this.webUrl}/settings/installations/${installationId} → Repository access), or check the owner and name`,
        404,
      );
    }
    throw this.refusal(res, `read ${name} through installation ${installationId}`, "repo", name);
  }

  /** An installation of this App: `forbidden` when GitHub says it is not one of the App's. */
  async installation(installationId: number): Promise<{ id: number; account: string }> {
    const app = this.appCredential();
    if (!Number.isSafeInteger(installationId) || installationId <= 0) {
      throw new ProviderError(
        "invalid",
        `${installationId} is not an installation id`,
        "installation ids are positive integers",
      );
    }
    const res = await this.call("GET", `/app/installations/${installationId}`, { kind: "jwt" });
    if (res.status === 404) {
      throw new ProviderError(
        "forbidden",
        `installation ${installationId} does not belong to the GitHub App ${app.appId}`,
        "use an installation of this App (the number at the end of the installation's settings URL, …/settings/installations/<id>), or connect the App that owns it",
        404,
      );
    }
    if (res.status !== 200) throw this.refusal(res, `read installation ${installationId}`, "app");
    const account = record(record(res.body).account).login;
    if (
      isRecord(res.body) &&
      res.body.suspended_at !== null &&
      res.body.suspended_at !== undefined
    ) {
      throw new ProviderError(
        "forbidden",
        `installation ${installationId} of the GitHub App ${app.appId} is suspended`,
        `unsuspend it in the installation's settings (${this.webUrl}/settings/installations/${installationId})`,
      );
    }
    return { id: installationId, account: typeof account === "string" ? account : "" };
  }

  // -------------------------------------------------------------------------------------------

  private appCredential(): { appId: number; privateKey: string } {
    const credential = this.connection.credential;
    if (credential.kind !== "github_app") {
      throw new ProviderError(
        "invalid",
        "only a GitHub App connection has installations",
        "create a connection with the App's id and private key to clone through an installation",
      );
    }
    return credential;
  }

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

  private jwt(): string {
    const { appId, privateKey } = this.appCredential();
    this.appKey ??= parseAppPrivateKey(privateKey);
    return appJwt(appId, this.appKey);
  }

  private async installationIds(): Promise<number[]> {
    const installations = await this.paged(
      "/app/installations?per_page=100",
      { kind: "jwt" },
      "list the App's installations",
      "app",
    );
    return installations.map((i) => field(i, "id", isInteger, "GET /app/installations"));
  }

  private async installationToken(
    scope: TokenScope,
    repo?: ProviderRepo,
  ): Promise<InstallationToken> {
    const { appId, privateKey } = this.appCredential();
    return this.tokens.get({ baseUrl: this.baseUrl, appId, privateKey }, scope, async () => {
      const res = await this.call(
        "POST",
        `/app/installations/${scope.installationId}/access_tokens`,
        { kind: "jwt" },
        {
          ...(scope.repositoryIds ? { repository_ids: scope.repositoryIds } : {}),
          ...(scope.permissions ? { permissions: scope.permissions } : {}),
        },
      );
      if (res.status === 201) {
        return {
          token: field(res.body, "token", isString, "POST /app/installations/:id/access_tokens"),
          expiresAt: field(
            res.body,
            "expires_at",
            isString,
            "POST /app/installations/:id/access_tokens",
          ),
        };
      }
      if (res.status === 422 && repo !== undefined) {
        throw new ProviderError(
          "forbidden",
          `the GitHub App installation ${scope.installationId} no longer has access to ${repo.fullPath} (${githubMessage(res.body)})`,
          `add the repository back to the installation (${this.webUrl}/settings/installations/${scope.installationId} → Repository access)`,
          422,
        );
      }
      throw this.refusal(res, `mint a token for installation ${scope.installationId}`, "app");
    });
  }

  private async installationAuth(scope: TokenScope): Promise<Auth> {
    const token = await this.installationToken(scope);
    return { kind: "installation", token: token.token, installationId: scope.installationId };
  }

  /** The installation token for a repository: the App's installation that covers it. */
  private async installationAuthFor(fullPath: string): Promise<Auth> {
    const parsed = parseRepoRef(fullPath);
    const res = await this.call("GET", `${apiRepoPath(parsed)}/installation`, { kind: "jwt" });
    if (res.status === 404) {
      throw new ProviderError(
        "not_found",
        `the GitHub App ${this.appCredential().appId} is not installed on ${fullPath}`,
        "install the App on the repository's owner and give it access to this repository",
        404,
      );
    }
    if (res.status !== 200) throw this.refusal(res, `find the installation of ${fullPath}`, "app");
    return this.installationAuth({
      installationId: field(res.body, "id", isInteger, "GET /repos/:owner/:repo/installation"),
    });
  }

  private repoAuth(repo: ProviderRepo): Promise<Auth> {
    return this.connection.credential.kind === "github_app"
      ? this.installationAuthFor(repo.fullPath)
      : Promise.resolve(this.patAuth());
  }

  private async readRepo(parsed: GitHubRepoRef, auth: Auth, ref: string): Promise<ProviderRepo> {
    const res = await this.call("GET", apiRepoPath(parsed), auth);
    if (res.status === 200) return toRepo(res.body, "GET /repos/:owner/:repo");
    throw this.refusal(res, `read the repository ${ref}`, "repo", ref);
  }

  private async call(
    method: ProviderRequest["method"],
    path: string,
    auth: Auth,
    body?: unknown,
  ): Promise<ProviderResponse> {
    const token = auth.kind === "jwt" ? this.jwt() : auth.token;
    return this.http.request({
      method,
      url: path.startsWith("http") ? path : `${this.baseUrl}${path}`,
      headers: {
        accept: "application/vnd.github+json",
        authorization: `Bearer ${token}`,
        "x-github-api-version": GITHUB_API_VERSION,
      },
      ...(body !== undefined ? { body } : {}),
    });
  }

  /** Every page of a list (`Link: <…>; rel="next"`), up to `MAX_PAGES`, on this API's origin only. */
  private async paged(
    path: string,
    auth: Auth,
    action: string,
    purpose: Purpose,
    key?: string,
    repo?: string,
  ): Promise<unknown[]> {
    const items: unknown[] = [];
    let next: string | undefined = path;
    for (let page = 0; next !== undefined && page < MAX_PAGES; page++) {
      const res = await this.call("GET", next, auth);
      if (res.status !== 200) throw this.refusal(res, action, purpose, repo);
      items.push(...list(res.body, action, key));
      next = nextPage(header(res, "link"), this.baseUrl);
    }
    return items;
  }

  /** A refused call as a `ProviderError` with a hint in GitHub's terms. */
  private refusal(
    res: ProviderResponse,
    action: string,
    purpose: Purpose,
    repo?: string,
  ): ProviderError {
    const said = githubMessage(res.body);
    const quoted = said === "" ? "" : ` ("${said}")`;
    const credential = this.connection.credential;
    const needs = this.needs(purpose);
    switch (true) {
      case res.status === 401:
        if (credential.kind === "github_app") {
          return new ProviderError(
            "unauthorized",
            `GitHub refused the App's credentials to ${action}${quoted}`,
            `check the App id (${credential.appId}) and that the private key is one of the App's current keys (App settings → Private keys); GitHub also refuses App tokens when the platform's clock is more than a minute off`,
            401,
          );
        }
        return new ProviderError(
          "unauthorized",
          `GitHub refused the token to ${action}${quoted}`,
          `the token was revoked, has expired or is mistyped: create a new one at ${this.webUrl}/settings/tokens and update the connection`,
          401,
        );
      case res.status === 403 || res.status === 429: {
        const limited =
          header(res, "x-ratelimit-remaining") === "0" ||
          header(res, "retry-after") !== undefined ||
          /rate limit/i.test(said);
        if (limited) {
          const reset = Number(header(res, "x-ratelimit-reset"));
          const retry = Number(header(res, "retry-after"));
          const when =
            Number.isFinite(retry) && retry > 0
              ? `in ${retry} s`
              : Number.isFinite(reset) && reset > 0
                ? `at ${new Date(reset * 1000).toISOString()}`
                : "in a while";
          return new ProviderError(
            "unavailable",
            `GitHub's rate limit stopped the call to ${action}${quoted}`,
            `GitHub rate-limits each credential; try again ${when}`,
            res.status,
          );
        }
        return new ProviderError(
          "forbidden",
          `GitHub refused to ${action}${quoted}`,
          `the credential needs ${needs}${said.startsWith("Must have admin rights") ? ", and its user must be an admin of the repository" : ""}`,
          res.status,
        );
      }
      case res.status === 404:
        return new ProviderError(
          "not_found",
          repo !== undefined
            ? `GitHub answered 404 Not Found when asked to ${action}: ${repo} does not exist, or this credential may not see it — GitHub answers 404 rather than 403 Forbidden for private repositories it hides from a credential`
            : `GitHub answered 404 Not Found when asked to ${action}${quoted}`,
          repo !== undefined
            ? `check the owner and name, and that the credential has ${needs}${credential.kind === "token" ? " and its user can administer the repository" : ""}`
            : "check the connection's base_url",
          404,
        );
      case res.status === 409:
        return new ProviderError(
          "conflict",
          `GitHub refused to ${action}${quoted}`,
          "the repository may be empty or archived: push a first commit, or unarchive it",
          409,
        );
      case res.status === 422:
        return new ProviderError(
          "invalid",
          `GitHub refused to ${action}${quoted}`,
          "GitHub's message says which field it did not accept",
          422,
        );
      case res.status >= 500:
        return new ProviderError(
          "unavailable",
          `GitHub answered ${res.status} when asked to ${action}`,
          "GitHub is having trouble (https://www.githubstatus.com); try again later",
          res.status,
        );
      default:
        return new ProviderError(
          "unavailable",
          `GitHub answered ${res.status} when asked to ${action}${quoted}`,
          "try again later",
          res.status,
        );
    }
  }

  private needs(purpose: Purpose): string {
    const credential = this.connection.credential;
    const need = NEEDS[purpose];
    if (credential.kind === "github_app") return need.app;
    if (credential.kind === "token" && credential.token.startsWith("github_pat_"))
      return need.fineGrained;
    if (credential.kind === "token" && /^gh[pousr]_/.test(credential.token)) return need.classic;
    return `${need.classic} (classic token) or ${need.fineGrained} (fine-grained token)`;
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

function numericId(id: string, what: string): string {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) {
    throw new ProviderError(
      "invalid",
      `${JSON.stringify(id.slice(0, 40))} is not a GitHub ${what} id`,
      "GitHub ids are positive integers",
    );
  }
  return id;
}

function apiRepoPath(ref: GitHubRepoRef): string {
  return ref.kind === "id"
    ? `/repositories/${ref.id}`
    : `/repos/${encodeURIComponent(ref.owner)}/${encodeURIComponent(ref.name)}`;
}

/** `/repos/:owner/:repo` of a repository GitHub described (its `full_name`). */
function repoPath(repo: ProviderRepo): string {
  return apiRepoPath(parseRepoRef(repo.fullPath));
}

/** The `rel="next"` URL of a `Link` header, if it stays on the API's origin. */
function nextPage(link: string | undefined, baseUrl: string): string | undefined {
  if (link === undefined) return undefined;
  for (const part of link.split(",")) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
    if (!match) continue;
    try {
      const url = new URL(match[1]!);
      return url.origin === new URL(baseUrl).origin ? url.toString() : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
