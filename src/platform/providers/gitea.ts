import type { ProviderHttp } from "./http.ts";
import {
  authorization,
  branchNames,
  commitId,
  containing,
  filePathSegments,
  header,
  hostOf,
  isString,
  oneLine,
  READ_FILE_MAX_BYTES,
  record,
  refusalInWords,
  RestApi,
  sameKey,
  text,
  type Operation,
  type ProviderWords,
} from "./rest.ts";
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
/** Pages followed at most: the 1,000 items the other adapters list, at Gitea's page size. */
const MAX_PAGES = 20;

const EVENTS: Record<HookEventKind, string> = { push: "push", pull_request: "pull_request" };

const TOKEN_HINT =
  "Create a token in Gitea under Settings → Applications → Access Tokens with the repository permission set to Read and Write and the user permission to Read, and update the connection.";

/** Refusals in Gitea's words, and where in Gitea to fix them. */
const WORDS: ProviderWords = {
  credential: "token",
  said: errorMessage,
  missingScope(_body, said) {
    const scope = /required scope\(s\): \[([^\]]*)\]/.exec(said)?.[1];
    return scope === undefined ? undefined : `the Gitea token lacks the ${scope} scope`;
  },
  unauthorizedHint: `The token may be wrong, expired or deleted. ${TOKEN_HINT}`,
  scopeHint: TOKEN_HINT,
  forbiddenHint({ subject, repo }) {
    switch (subject) {
      case "keys":
        return `The token's user needs administrator access to ${repo} to manage its deploy keys (Repository Settings → Deploy Keys); ask its owner to add the user as a collaborator with Administrator access (Settings → Collaborators).`;
      case "hooks":
        return `The token's user needs administrator access to ${repo} to manage its webhooks (Repository Settings → Webhooks); ask its owner to add the user as a collaborator with Administrator access (Settings → Collaborators).`;
      case "status":
        return `The token's user needs write access to ${repo} to report commit statuses (Settings → Collaborators: Write).`;
      default:
        return "Check the token user's access to the repository (Settings → Collaborators).";
    }
  },
  notFoundHint:
    "Check the owner and repository name (as in the repository's address) and that the token's user is a collaborator of the repository (private repositories are hidden from everyone else).",
  notFoundAside: "; is base_url a Gitea instance?",
  invalidHints: {
    keys: "The key must be an OpenSSH public key, not already used in this repository or as a user's SSH key, with a title not used by another deploy key (Repository Settings → Deploy Keys).",
    hooks:
      "Check the webhook in Repository Settings → Webhooks; its URL must be allowed by the instance's [webhook] ALLOWED_HOST_LIST.",
    other: "See Gitea's message.",
  },
  unavailableHint: () => "The Gitea instance may be down or overloaded; try again later.",
};

/** An owner or repository name; never `.` or `..`, which a URL would resolve away. */
const NAME = /^(?!\.+$)[A-Za-z0-9._-]{1,100}$/;
const SHA = /^[0-9a-fA-F]{7,64}$/;

export class GiteaClient implements ProviderClient {
  readonly provider = "gitea" as const;
  private readonly api: RestApi;

  constructor(
    readonly connection: ProviderConnection,
    http: ProviderHttp,
  ) {
    const base = (connection.baseUrl ?? "")
      .trim()
      .replace(/\/+$/, "")
      .replace(/\/api\/v1$/, "");
    const host = base === "" ? "gitea" : hostOf(base);
    this.api = new RestApi({
      http,
      apiUrl: () => {
        if (base !== "") return `${base}/api/v1`;
        throw new ProviderError(
          "invalid",
          "a Gitea connection needs the instance's base_url",
          "set base_url to the address of your Gitea or Forgejo instance, e.g. https://gitea.example.com",
        );
      },
      headers: () => ({
        authorization: authorization(
          connection.credential,
          "token",
          "Gitea",
          "use a Gitea access token",
        ),
      }),
      host,
      refusal: refusalInWords(host, WORDS),
      unreadableHint:
        "check that the connection's base_url is the address of a Gitea or Forgejo instance",
    });
  }

  async verify(): Promise<ProviderIdentity> {
    const response = await this.api.call(
      { method: "GET", url: "/user" },
      { action: "read the token's user (GET /api/v1/user)" },
    );
    const login = text(record(response.body).login) ?? text(record(response.body).username);
    if (login === undefined) throw this.api.unreadable("user");
    return { username: login };
  }

  async listRepos(search?: string): Promise<ProviderRepo[]> {
    const query = new URLSearchParams({ q: search?.trim() ?? "" });
    const found = await this.paged(
      `/repos/search?${query.toString()}`,
      { action: "search its repositories" },
      "search result",
      (body) => record(body).data,
    );
    return found.map((value) => this.toRepo(value));
  }

  async getRepo(ref: string): Promise<ProviderRepo> {
    const trimmed = ref.trim().replace(/\.git$/, "");
    const url = /^\d{1,18}$/.test(trimmed)
      ? `/repositories/${trimmed}`
      : ownerRepoPath(trimmed, ref);
    const response = await this.api.call(
      { method: "GET", url },
      { action: "read repository", repo: trimmed },
    );
    return this.toRepo(response.body);
  }

  async branchExists(repo: ProviderRepo, branch: string): Promise<boolean> {
    const response = await this.api.call(
      { method: "GET", url: `${this.repoPath(repo)}/branches/${encodeURIComponent(branch)}` },
      { action: "read the branches of", repo: repo.fullPath },
      [404],
    );
    return response.status === 200;
  }

  async readFile(repo: ProviderRepo, ref: string, path: string): Promise<string | null> {
    const file = filePathSegments(path).join("/");
    const response = await this.api.call(
      {
        method: "GET",
        url: `${this.repoPath(repo)}/raw/${file}?${new URLSearchParams({ ref }).toString()}`,
        headers: { accept: "*/*" },
        raw: { maxBytes: READ_FILE_MAX_BYTES },
      },
      { action: `read ${path} of`, repo: repo.fullPath },
      [404],
    );
    if (response.status === 404) return null;
    return typeof response.body === "string" ? response.body : "";
  }

  async listBranches(repo: ProviderRepo, search?: string): Promise<string[]> {
    // Gitea's branch list has no search: every page is read and filtered here.
    const values = await this.paged(
      `${this.repoPath(repo)}/branches`,
      { action: "list the branches of", repo: repo.fullPath },
      "branch list",
    );
    return containing(
      branchNames(values, () => this.api.unreadable("branch")),
      search,
    );
  }

  async listDeployKeys(repo: ProviderRepo): Promise<RemoteDeployKey[]> {
    const values = await this.paged(`${this.repoPath(repo)}/keys`, {
      action: "list the deploy keys of",
      repo: repo.fullPath,
      subject: "keys",
    });
    return values.map((value) => this.toKey(value));
  }

  async addDeployKey(
    repo: ProviderRepo,
    key: { title: string; key: string },
  ): Promise<RemoteDeployKey> {
    const operation: Operation = {
      action: "add a deploy key to",
      repo: repo.fullPath,
      subject: "keys",
    };
    const response = await this.api.call(
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
      const existing = (await this.listDeployKeys(repo)).find((k) => sameKey(k.key, key.key));
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
    throw this.api.refusal(response, operation);
  }

  async removeDeployKey(repo: ProviderRepo, id: string): Promise<void> {
    await this.api.call(
      { method: "DELETE", url: `${this.repoPath(repo)}/keys/${numericId(id, "deploy key")}` },
      { action: "remove a deploy key from", repo: repo.fullPath, subject: "keys" },
      [404],
    );
  }

  async listHooks(repo: ProviderRepo): Promise<RemoteHook[]> {
    const values = await this.paged(`${this.repoPath(repo)}/hooks`, {
      action: "list the webhooks of",
      repo: repo.fullPath,
      subject: "hooks",
    });
    return values.map((value) => this.toHook(value));
  }

  async addHook(repo: ProviderRepo, hook: HookSpec): Promise<RemoteHook> {
    const response = await this.api.call(
      {
        method: "POST",
        url: `${this.repoPath(repo)}/hooks`,
        body: { type: "gitea", branch_filter: "*", ...hookBody(hook) },
      },
      { action: "add a webhook to", repo: repo.fullPath, subject: "hooks" },
    );
    return this.toHook(response.body);
  }

  async updateHook(repo: ProviderRepo, id: string, hook: HookSpec): Promise<RemoteHook> {
    const response = await this.api.call(
      {
        method: "PATCH",
        url: `${this.repoPath(repo)}/hooks/${numericId(id, "webhook")}`,
        body: hookBody(hook),
      },
      { action: "update the webhook of", repo: repo.fullPath, subject: "hooks" },
    );
    return this.toHook(response.body);
  }

  async removeHook(repo: ProviderRepo, id: string): Promise<void> {
    await this.api.call(
      { method: "DELETE", url: `${this.repoPath(repo)}/hooks/${numericId(id, "webhook")}` },
      { action: "remove a webhook from", repo: repo.fullPath, subject: "hooks" },
      [404],
    );
  }

  async setCommitStatus(repo: ProviderRepo, sha: string, status: CommitStatus): Promise<void> {
    const commit = commitId(sha, SHA);
    await this.api.call(
      {
        method: "POST",
        url: `${this.repoPath(repo)}/statuses/${commit}`,
        body: {
          state: status.state,
          target_url: status.targetUrl,
          description: status.description,
          context: status.context,
        },
      },
      { action: "report a commit status on", repo: repo.fullPath, subject: "status" },
    );
  }

  /**
   * Every item of a list paged with `page` and `limit` (`items` finds them in a page's body,
   * which is the `what` Slipway cannot read when they are not a list).
   */
  private paged(
    path: string,
    operation: Operation,
    what = "list",
    items = (body: unknown) => body,
  ): Promise<unknown[]> {
    const separator = path.includes("?") ? "&" : "?";
    const page = (number: number) => `${path}${separator}limit=${PAGE_SIZE}&page=${number}`;
    return this.api.list(
      page(1),
      operation,
      (response, number) => {
        const list = items(response.body);
        if (!Array.isArray(list)) throw this.api.unreadable(what);
        const total = Number(header(response, "x-total-count"));
        const seen = (number - 1) * PAGE_SIZE + list.length;
        const last = list.length < PAGE_SIZE || (Number.isFinite(total) && seen >= total);
        return { items: list as unknown[], next: last ? undefined : page(number + 1) };
      },
      { maxPages: MAX_PAGES },
    );
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
      throw this.api.unreadable("repository");
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
      throw this.api.unreadable("deploy key");
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
    if (typeof hook.id !== "number" || url === undefined) throw this.api.unreadable("webhook");
    const subscribed = Array.isArray(hook.events) ? hook.events.filter(isString) : [];
    // Gitea lists `pull_request` as its sub-events too (`pull_request_sync`, ...).
    const events = (Object.keys(EVENTS) as HookEventKind[]).filter((kind) =>
      subscribed.some((event) => event === EVENTS[kind] || event.startsWith(`${EVENTS[kind]}_`)),
    );
    return { id: String(hook.id), url, events, active: hook.active === true };
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

/** Gitea's `{message, url}` (or a bare text body), as one capped line. */
function errorMessage(body: unknown): string {
  return oneLine((typeof body === "string" ? body : text(record(body).message)) ?? "");
}
