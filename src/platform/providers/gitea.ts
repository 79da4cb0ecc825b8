import type { ProviderHttp, ProviderRequest, ProviderResponse } from "./http.ts";
import {
  ProviderError,
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
 * Gitea and Forgejo (API v1 under `<base_url>/api/v1`; there is no public default, so the
 * connection's base URL is required). Repositories are named by their integer id or by
 * `owner/name`; the token goes in `Authorization: token <t>` (an app password is sent as Basic).
 * Deploy keys are read-write by default in Gitea, so Slipway always asks for `read_only`.
 */

/** Gitea's default `MAX_RESPONSE_ITEMS`: a larger `limit` is cut to it. */
const PAGE_SIZE = 50;
const MAX_PAGES = 20;

const EVENTS: Record<HookEventKind, string> = { push: "push", pull_request: "pull_request" };

const TOKEN_HINT =
  "Create a token in Gitea under Settings → Applications → Access Tokens with the repository permission set to Read and Write and the user permission to Read, and update the connection.";

type Operation =
  | { kind: "user" }
  | { kind: "list" }
  | { kind: "repo"; ref: string }
  | { kind: "branch"; repo: string }
  | { kind: "keys"; repo: string; action: string }
  | { kind: "hooks"; repo: string; action: string }
  | { kind: "status"; repo: string };

/** An owner or repository name; never `.` or `..`, which a URL would resolve away. */
const NAME = /^(?!\.+$)[A-Za-z0-9._-]{1,100}$/;
const SHA = /^[0-9a-fA-F]{7,64}$/;

export class GiteaClient implements ProviderClient {
  readonly provider = "gitea" as const;
  private readonly apiUrl: string;
  private readonly host: string;

  constructor(
    readonly connection: ProviderConnection,
    private readonly http: ProviderHttp,
  ) {
    const base = (connection.baseUrl ?? "")
      .trim()
      .replace(/\/+$/, "")
      .replace(/\/api\/v1$/, "");
    this.apiUrl = base === "" ? "" : `${base}/api/v1`;
    this.host = hostOf(base);
  }

  async verify(): Promise<ProviderIdentity> {
    const response = await this.call({ method: "GET", url: "/user" }, { kind: "user" });
    const login = text(record(response.body).login) ?? text(record(response.body).username);
    if (login === undefined) throw this.malformed("user");
    return { username: login };
  }

  async listRepos(search?: string): Promise<ProviderRepo[]> {
    const repos: ProviderRepo[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      const query = new URLSearchParams({
        q: search?.trim() ?? "",
        limit: String(PAGE_SIZE),
        page: String(page),
      });
      const response = await this.call(
        { method: "GET", url: `/repos/search?${query.toString()}` },
        { kind: "list" },
      );
      const data = record(response.body).data;
      if (!Array.isArray(data)) throw this.malformed("search result");
      repos.push(...data.map((value) => this.toRepo(value)));
      const total = Number(header(response, "x-total-count"));
      if (data.length < PAGE_SIZE || (Number.isFinite(total) && repos.length >= total)) break;
    }
    return repos;
  }

  async getRepo(ref: string): Promise<ProviderRepo> {
    const trimmed = ref.trim().replace(/\.git$/, "");
    const url = /^\d{1,18}$/.test(trimmed)
      ? `/repositories/${trimmed}`
      : ownerRepoPath(trimmed, ref);
    const response = await this.call({ method: "GET", url }, { kind: "repo", ref: trimmed });
    return this.toRepo(response.body);
  }

  async branchExists(repo: ProviderRepo, branch: string): Promise<boolean> {
    const response = await this.call(
      { method: "GET", url: `${this.repoPath(repo)}/branches/${encodeURIComponent(branch)}` },
      { kind: "branch", repo: repo.fullPath },
      [404],
    );
    return response.status === 200;
  }

  async listDeployKeys(repo: ProviderRepo): Promise<RemoteDeployKey[]> {
    const values = await this.paged(`${this.repoPath(repo)}/keys`, {
      kind: "keys",
      repo: repo.fullPath,
      action: "list the deploy keys of",
    });
    return values.map((value) => this.toKey(value));
  }

  async addDeployKey(
    repo: ProviderRepo,
    key: { title: string; key: string },
  ): Promise<RemoteDeployKey> {
    const operation: Operation = {
      kind: "keys",
      repo: repo.fullPath,
      action: "add a deploy key to",
    };
    const response = await this.call(
      {
        method: "POST",
        url: `${this.repoPath(repo)}/keys`,
        body: { title: key.title, key: key.key, read_only: true },
      },
      operation,
      [422],
    );
    if (response.status !== 422) return this.toKey(response.body);
    // Already there (a retried link): the existing key is the one asked for, if read-only.
    if (/already been added/i.test(errorMessage(response.body))) {
      const wanted = keyMaterial(key.key);
      const existing = (await this.listDeployKeys(repo)).find((k) => keyMaterial(k.key) === wanted);
      if (existing?.readOnly) return existing;
      if (existing) {
        throw new ProviderError(
          "conflict",
          `this key is already a deploy key of ${repo.fullPath} with write access (id ${existing.id}); Slipway installs read-only keys only`,
          "Remove it in Repository Settings → Deploy Keys, then link again.",
          response.status,
        );
      }
    }
    throw this.failure(response, operation);
  }

  async removeDeployKey(repo: ProviderRepo, id: string): Promise<void> {
    await this.call(
      { method: "DELETE", url: `${this.repoPath(repo)}/keys/${numericId(id, "deploy key")}` },
      { kind: "keys", repo: repo.fullPath, action: "remove a deploy key from" },
      [404],
    );
  }

  async listHooks(repo: ProviderRepo): Promise<RemoteHook[]> {
    const values = await this.paged(`${this.repoPath(repo)}/hooks`, {
      kind: "hooks",
      repo: repo.fullPath,
      action: "list the webhooks of",
    });
    return values.map((value) => this.toHook(value));
  }

  async addHook(repo: ProviderRepo, hook: HookSpec): Promise<RemoteHook> {
    const response = await this.call(
      {
        method: "POST",
        url: `${this.repoPath(repo)}/hooks`,
        body: { type: "gitea", branch_filter: "*", ...hookBody(hook) },
      },
      { kind: "hooks", repo: repo.fullPath, action: "add a webhook to" },
    );
    return this.toHook(response.body);
  }

  async updateHook(repo: ProviderRepo, id: string, hook: HookSpec): Promise<RemoteHook> {
    const response = await this.call(
      {
        method: "PATCH",
        url: `${this.repoPath(repo)}/hooks/${numericId(id, "webhook")}`,
        body: hookBody(hook),
      },
      { kind: "hooks", repo: repo.fullPath, action: "update the webhook of" },
    );
    return this.toHook(response.body);
  }

  async removeHook(repo: ProviderRepo, id: string): Promise<void> {
    await this.call(
      { method: "DELETE", url: `${this.repoPath(repo)}/hooks/${numericId(id, "webhook")}` },
      { kind: "hooks", repo: repo.fullPath, action: "remove a webhook from" },
      [404],
    );
  }

  async setCommitStatus(repo: ProviderRepo, sha: string, status: CommitStatus): Promise<void> {
    if (!SHA.test(sha)) {
      throw new ProviderError(
        "invalid",
        `"${sha.slice(0, 70)}" is not a commit id`,
        "pass the commit's hash",
      );
    }
    await this.call(
      {
        method: "POST",
        url: `${this.repoPath(repo)}/statuses/${sha}`,
        body: {
          state: status.state,
          target_url: status.targetUrl,
          description: status.description,
          context: status.context,
        },
      },
      { kind: "status", repo: repo.fullPath },
    );
  }

  // ---------- HTTP ----------

  private authorization(): string {
    const credential = this.connection.credential;
    switch (credential.kind) {
      case "token":
        return `token ${credential.token}`;
      case "app_password":
        return `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString("base64")}`;
      case "github_app":
        throw new ProviderError(
          "invalid",
          "a GitHub App credential cannot be used with Gitea",
          "use a Gitea access token",
        );
    }
  }

  private async call(
    request: ProviderRequest,
    operation: Operation,
    tolerated: number[] = [],
  ): Promise<ProviderResponse> {
    if (this.apiUrl === "") {
      throw new ProviderError(
        "invalid",
        "a Gitea connection needs the instance's base_url",
        "set base_url to the address of your Gitea or Forgejo instance, e.g. https://gitea.example.com",
      );
    }
    const response = await this.http.request({
      ...request,
      url: `${this.apiUrl}${request.url}`,
      headers: { ...request.headers, authorization: this.authorization() },
    });
    if ((response.status >= 200 && response.status < 300) || tolerated.includes(response.status)) {
      return response;
    }
    throw this.failure(response, operation);
  }

  /** Every item of a list paged with `page` and `limit`. */
  private async paged(path: string, operation: Operation): Promise<unknown[]> {
    const items: unknown[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      const response = await this.call(
        { method: "GET", url: `${path}?limit=${PAGE_SIZE}&page=${page}` },
        operation,
      );
      if (!Array.isArray(response.body)) throw this.malformed("list");
      items.push(...(response.body as unknown[]));
      const total = Number(header(response, "x-total-count"));
      if (response.body.length < PAGE_SIZE || (Number.isFinite(total) && items.length >= total)) {
        break;
      }
    }
    return items;
  }

  private repoPath(repo: ProviderRepo): string {
    return ownerRepoPath(repo.fullPath);
  }

  // ---------- shapes ----------

  private toRepo(value: unknown): ProviderRepo {
    const repo = record(value);
    const fullName = text(repo.full_name);
    const ssh = text(repo.ssh_url);
    if (typeof repo.id !== "number" || fullName === undefined || ssh === undefined) {
      throw this.malformed("repository");
    }
    return {
      id: String(repo.id),
      fullPath: fullName,
      sshUrl: ssh,
      httpsUrl: text(repo.clone_url) ?? "",
      webUrl: text(repo.html_url) ?? "",
      defaultBranch: text(repo.default_branch) ?? "main",
      private: repo.private === true,
    };
  }

  private toKey(value: unknown): RemoteDeployKey {
    const key = record(value);
    if (typeof key.id !== "number" || text(key.key) === undefined) {
      throw this.malformed("deploy key");
    }
    return {
      id: String(key.id),
      title: text(key.title) ?? "",
      key: text(key.key)!,
      readOnly: key.read_only === true,
    };
  }

  private toHook(value: unknown): RemoteHook {
    const hook = record(value);
    const url = text(record(hook.config).url);
    if (typeof hook.id !== "number" || url === undefined) throw this.malformed("webhook");
    const subscribed = Array.isArray(hook.events) ? hook.events.filter(isString) : [];
    // Gitea lists `pull_request` as its sub-events too (`pull_request_sync`, ...).
    const events = (Object.keys(EVENTS) as HookEventKind[]).filter((kind) =>
      subscribed.some((event) => event === EVENTS[kind] || event.startsWith(`${EVENTS[kind]}_`)),
    );
    return { id: String(hook.id), url, events, active: hook.active === true };
  }

  // ---------- failures ----------

  private malformed(what: string): ProviderError {
    return new ProviderError(
      "unavailable",
      `${this.host} sent a ${what} object Slipway cannot read`,
      "check that the connection's base_url is the address of a Gitea or Forgejo instance",
    );
  }

  /** A refusal in Gitea's terms: what happened, and where in Gitea to fix it. */
  private failure(response: ProviderResponse, operation: Operation): ProviderError {
    const status = response.status;
    const said = errorMessage(response.body);
    const detail = said === "" ? `HTTP ${status}` : `${status}: ${said}`;
    const target = describe(operation);
    if (status === 401) {
      return new ProviderError(
        "unauthorized",
        `${this.host} did not accept the connection's token (${detail})`,
        `The token may be wrong, expired or deleted. ${TOKEN_HINT}`,
        status,
      );
    }
    if (status === 403) {
      const scope = /required scope\(s\): \[([^\]]*)\]/.exec(said)?.[1];
      if (scope !== undefined) {
        return new ProviderError(
          "forbidden",
          `the Gitea token lacks the ${scope} scope needed to ${target}`,
          TOKEN_HINT,
          status,
        );
      }
      return new ProviderError(
        "forbidden",
        `${this.host} refused to let this token ${target} (${detail})`,
        forbiddenHint(operation),
        status,
      );
    }
    if (status === 404) {
      const repo = "repo" in operation ? operation.repo : "ref" in operation ? operation.ref : "";
      return new ProviderError(
        "not_found",
        repo
          ? `repository ${repo} was not found on ${this.host}, or this token cannot see it (${detail})`
          : `${this.host} could not find what Slipway asked for (${detail}); is base_url a Gitea instance?`,
        "Check the owner and repository name (as in the repository's address) and that the token's user is a collaborator of the repository (private repositories are hidden from everyone else).",
        status,
      );
    }
    if (status === 400 || status === 422) {
      return new ProviderError(
        "invalid",
        `${this.host} refused to ${target} (${detail})`,
        operation.kind === "keys"
          ? "The key must be an OpenSSH public key, not already used in this repository or as a user's SSH key, with a title not used by another deploy key (Repository Settings → Deploy Keys)."
          : operation.kind === "hooks"
            ? "Check the webhook in Repository Settings → Webhooks; its URL must be allowed by the instance's [webhook] ALLOWED_HOST_LIST."
            : "See Gitea's message.",
        status,
      );
    }
    if (status === 409) {
      return new ProviderError(
        "conflict",
        `${this.host} refused to ${target} (${detail})`,
        "Try again.",
        status,
      );
    }
    return new ProviderError(
      "unavailable",
      `${this.host} could not ${target} (${detail})`,
      "The Gitea instance may be down or overloaded; try again later.",
      status,
    );
  }
}

/** `/repos/{owner}/{repo}` for `owner/name`, refusing anything else before a request is made. */
function ownerRepoPath(fullPath: string, asGiven = fullPath): string {
  const parts = fullPath.split("/");
  if (parts.length === 2 && parts.every((part) => NAME.test(part))) {
    return `/repos/${parts.map(encodeURIComponent).join("/")}`;
  }
  throw new ProviderError(
    "invalid",
    `"${asGiven.slice(0, 200)}" is not a Gitea repository id`,
    "Use owner/name, as in the repository's address (https://gitea.example.com/owner/name), or its numeric id.",
  );
}

function hookBody(hook: HookSpec) {
  return {
    config: { url: hook.url, content_type: "json", secret: hook.secret },
    events: [...new Set(hook.events.map((kind) => EVENTS[kind]))],
    active: true,
  };
}

function numericId(id: string, what: string): string {
  if (/^\d{1,18}$/.test(id)) return id;
  throw new ProviderError(
    "invalid",
    `"${id.slice(0, 40)}" is not a Gitea ${what} id`,
    `${what} ids are integers`,
  );
}

function describe(operation: Operation): string {
  switch (operation.kind) {
    case "user":
      return "read the token's user (GET /api/v1/user)";
    case "list":
      return "search its repositories";
    case "repo":
      return `read repository ${operation.ref}`;
    case "branch":
      return `read the branches of ${operation.repo}`;
    case "keys":
    case "hooks":
      return `${operation.action} ${operation.repo}`;
    case "status":
      return `report a commit status on ${operation.repo}`;
  }
}

function forbiddenHint(operation: Operation): string {
  switch (operation.kind) {
    case "keys":
      return `The token's user needs administrator access to ${operation.repo} to manage its deploy keys (Repository Settings → Deploy Keys); ask its owner to add the user as a collaborator with Administrator access (Settings → Collaborators).`;
    case "hooks":
      return `The token's user needs administrator access to ${operation.repo} to manage its webhooks (Repository Settings → Webhooks); ask its owner to add the user as a collaborator with Administrator access (Settings → Collaborators).`;
    case "status":
      return `The token's user needs write access to ${operation.repo} to report commit statuses (Settings → Collaborators: Write).`;
    default:
      return "Check the token user's access to the repository (Settings → Collaborators).";
  }
}

/** Gitea's `{message, url}` (or a bare text body), as one capped line. */
function errorMessage(body: unknown): string {
  const message = typeof body === "string" ? body : text(record(body).message);
  return (message ?? "").replace(/\s+/g, " ").trim().slice(0, 300);
}

function keyMaterial(key: string): string {
  return key.trim().split(/\s+/).slice(0, 2).join(" ");
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url || "gitea";
  }
}

function header(response: ProviderResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function isString(value: unknown): value is string {
  return typeof value === "string";
}
