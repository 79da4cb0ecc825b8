import type { ProviderHttp, ProviderResponse } from "./http.ts";
import { header, sameKey } from "./rest.ts";
import {
  ProviderError,
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
 * The GitLab v4 adapter (gitlab.com, self-managed GitLab, and Slipway's own forge, whose API is
 * a faithful subset). Authenticates with `PRIVATE-TOKEN`; projects are addressed by integer id
 * or URL-encoded `group/project`. Every refusal becomes a `ProviderError` whose hint uses
 * GitLab's words (scopes, the Maintainer role, Settings → Repository → Deploy keys).
 */

interface GitLabProject {
  id: number;
  path_with_namespace: string;
  ssh_url_to_repo: string;
  http_url_to_repo: string;
  web_url: string;
  default_branch?: string | null;
  visibility?: string;
}

interface GitLabDeployKey {
  id: number;
  title: string;
  key: string;
  can_push?: boolean;
}

interface GitLabHook {
  id: number;
  url: string;
  push_events?: boolean;
  merge_requests_events?: boolean;
  alert_status?: string;
  disabled_until?: string | null;
}

/** What a call was about, for messages: "adding the deploy key to group/project". */
interface CallContext {
  doing: string;
  /** The project's path or id, when the call is about one. */
  project?: string;
}

const PER_PAGE = 100;
/** Enough for any real project's keys or hooks; stops a misbehaving server from looping us. */
const MAX_PAGES = 20;

const STATE: Record<CommitStatus["state"], string> = {
  pending: "pending",
  success: "success",
  failure: "failed",
  error: "failed",
};

export class GitLabClient implements ProviderClient {
  readonly provider = "gitlab" as const;
  private readonly apiBase: string;
  private readonly host: string;

  constructor(
    readonly connection: ProviderConnection,
    readonly http: ProviderHttp,
  ) {
    const base = connection.baseUrl.replace(/\/+$/, "").replace(/\/api\/v4$/, "");
    this.apiBase = `${base}/api/v4`;
    this.host = new URL(base).host;
  }

  async verify(): Promise<ProviderIdentity> {
    const user = await this.call<{ username: string }>("GET", "/user", {
      doing: "checking the token",
    });
    const identity: ProviderIdentity = { username: user.username };
    // GitLab 15.5+ says which scopes the token has; older versions answer 404 (then the
    // scopes show when a call needs them).
    const self = await this.send("GET", "/personal_access_tokens/self");
    if (self.status === 200 && Array.isArray((self.body as { scopes?: unknown }).scopes)) {
      identity.scopes = (self.body as { scopes: unknown[] }).scopes.map(String);
      if (!identity.scopes.includes("api")) {
        throw new ProviderError(
          "forbidden",
          `the GitLab token of ${user.username} on ${this.host} has the scopes ${identity.scopes.join(", ") || "(none)"}, not \`api\``,
          `the token needs the \`api\` scope to install deploy keys and webhooks: create a personal access token with the \`api\` scope (User settings → Access tokens) and connect again`,
          403,
        );
      }
    }
    return identity;
  }

  async listRepos(search?: string): Promise<ProviderRepo[]> {
    const query = new URLSearchParams({
      membership: "true",
      min_access_level: "40",
      order_by: "last_activity_at",
      per_page: String(PER_PAGE),
    });
    if (search !== undefined && search !== "") query.set("search", search);
    const projects = await this.call<GitLabProject[]>("GET", `/projects?${query.toString()}`, {
      doing: "listing projects",
    });
    return projects.map(toRepo);
  }

  async getRepo(ref: string): Promise<ProviderRepo> {
    const id = projectRef(ref);
    const project = await this.call<GitLabProject>("GET", `/projects/${id}`, {
      doing: "looking up the project",
      project: ref,
    });
    return toRepo(project);
  }

  async branchExists(repo: ProviderRepo, branch: string): Promise<boolean> {
    const res = await this.send(
      "GET",
      `/projects/${repo.id}/repository/branches/${encodeURIComponent(branch)}`,
    );
    if (res.status === 200) return true;
    if (res.status === 404 && /branch/i.test(errorText(res.body))) return false;
    throw this.failure(res, { doing: `reading the branch ${branch}`, project: repo.fullPath });
  }

  async listDeployKeys(repo: ProviderRepo): Promise<RemoteDeployKey[]> {
    const keys = await this.paged<GitLabDeployKey>(`/projects/${repo.id}/deploy_keys`, {
      doing: "listing the deploy keys",
      project: repo.fullPath,
    });
    return keys.map(toDeployKey);
  }

  async addDeployKey(
    repo: ProviderRepo,
    key: { title: string; key: string },
  ): Promise<RemoteDeployKey> {
    const context = { doing: "adding the deploy key", project: repo.fullPath };
    const res = await this.send("POST", `/projects/${repo.id}/deploy_keys`, {
      title: key.title,
      key: key.key,
      can_push: false,
    });
    if (res.status === 201 || res.status === 200) return toDeployKey(res.body as GitLabDeployKey);
    if (res.status === 400 && /has already been taken/.test(errorText(res.body))) {
      // The key is known to GitLab already: in this project, or in another one we can enable.
      return this.reuseDeployKey(repo, key.key, context);
    }
    throw this.failure(res, context);
  }

  async removeDeployKey(repo: ProviderRepo, id: string): Promise<void> {
    const res = await this.send("DELETE", `/projects/${repo.id}/deploy_keys/${numericId(id)}`);
    if (res.status === 204 || res.status === 200 || res.status === 404) return;
    throw this.failure(res, { doing: `removing the deploy key ${id}`, project: repo.fullPath });
  }

  async listHooks(repo: ProviderRepo): Promise<RemoteHook[]> {
    const hooks = await this.paged<GitLabHook>(`/projects/${repo.id}/hooks`, {
      doing: "listing the webhooks",
      project: repo.fullPath,
    });
    return hooks.map(toHook);
  }

  async addHook(repo: ProviderRepo, hook: HookSpec): Promise<RemoteHook> {
    const created = await this.call<GitLabHook>(
      "POST",
      `/projects/${repo.id}/hooks`,
      { doing: "creating the webhook", project: repo.fullPath },
      hookBody(hook),
    );
    return toHook(created);
  }

  async updateHook(repo: ProviderRepo, id: string, hook: HookSpec): Promise<RemoteHook> {
    const context = { doing: `updating the webhook ${id}`, project: repo.fullPath };
    const updated = toHook(
      await this.call<GitLabHook>(
        "PUT",
        `/projects/${repo.id}/hooks/${numericId(id)}`,
        context,
        hookBody(hook),
      ),
    );
    if (updated.active) return updated;
    // GitLab re-enables a hook it disabled only after a successful delivery; a test delivery
    // would build, so the hook is replaced by a fresh (enabled) one instead.
    await this.removeHook(repo, id);
    return this.addHook(repo, hook);
  }

  async removeHook(repo: ProviderRepo, id: string): Promise<void> {
    const res = await this.send("DELETE", `/projects/${repo.id}/hooks/${numericId(id)}`);
    if (res.status === 204 || res.status === 200 || res.status === 404) return;
    throw this.failure(res, { doing: `removing the webhook ${id}`, project: repo.fullPath });
  }

  async setCommitStatus(repo: ProviderRepo, sha: string, status: CommitStatus): Promise<void> {
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(sha)) {
      throw new ProviderError("invalid", `${sha} is not a full commit id`, "pass the full sha");
    }
    await this.call(
      "POST",
      `/projects/${repo.id}/statuses/${sha}`,
      { doing: `setting the commit status of ${sha.slice(0, 12)}`, project: repo.fullPath },
      {
        state: STATE[status.state],
        name: status.context,
        description: status.description.slice(0, 255),
        target_url: status.targetUrl,
      },
    );
  }

  // -------------------------------------------------------------------------------------------

  /** A key GitLab refused as "already taken": ours in this project, or enable it from another. */
  private async reuseDeployKey(
    repo: ProviderRepo,
    publicKey: string,
    context: CallContext,
  ): Promise<RemoteDeployKey> {
    const here = (await this.listDeployKeys(repo)).find((k) => sameKey(k.key, publicKey));
    if (here) return here;
    const me = await this.call<{ id: number }>("GET", "/user", context);
    const elsewhere = await this.paged<GitLabDeployKey>(
      `/users/${me.id}/project_deploy_keys`,
      context,
    ).catch(() => [] as GitLabDeployKey[]);
    const known = elsewhere.find((k) => sameKey(k.key, publicKey));
    if (!known) {
      throw new ProviderError(
        "conflict",
        `GitLab on ${this.host} already has this deploy key in a project the token cannot reach, so it cannot be added to ${repo.fullPath}`,
        "remove the key from the other project (Settings → Repository → Deploy keys), or give the token's user the Maintainer role there, and link again",
        400,
      );
    }
    const enabled = await this.call<GitLabDeployKey>(
      "POST",
      `/projects/${repo.id}/deploy_keys/${known.id}/enable`,
      context,
    );
    return toDeployKey({ ...enabled, can_push: false });
  }

  private headers(): Record<string, string> {
    const credential = this.connection.credential;
    if (credential.kind !== "token") {
      throw new ProviderError(
        "invalid",
        "a GitLab connection needs a personal, group or project access token",
        "create the connection with `token`",
      );
    }
    return { "private-token": credential.token };
  }

  private send(method: "GET" | "POST" | "PUT" | "DELETE", path: string, body?: unknown) {
    return this.http.request({
      method,
      url: `${this.apiBase}${path}`,
      headers: this.headers(),
      ...(body !== undefined ? { body } : {}),
    });
  }

  /** A call that must succeed (2xx); its JSON body. */
  private async call<T>(
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    context: CallContext,
    body?: unknown,
  ): Promise<T> {
    const res = await this.send(method, path, body);
    if (res.status >= 200 && res.status < 300) return res.body as T;
    throw this.failure(res, context);
  }

  /** Every page of a list, following `X-Next-Page`. */
  private async paged<T>(path: string, context: CallContext): Promise<T[]> {
    const items: T[] = [];
    let page = 1;
    for (let n = 0; n < MAX_PAGES; n++) {
      const separator = path.includes("?") ? "&" : "?";
      const res = await this.send("GET", `${path}${separator}per_page=${PER_PAGE}&page=${page}`);
      if (res.status !== 200) throw this.failure(res, context);
      if (!Array.isArray(res.body)) break;
      items.push(...(res.body as T[]));
      const next = Number(header(res, "x-next-page"));
      if (!Number.isInteger(next) || next <= page) break;
      page = next;
    }
    return items;
  }

  /** GitLab's refusal, in GitLab's terms, with what to do about it. */
  private failure(res: ProviderResponse, context: CallContext): ProviderError {
    const said = errorText(res.body);
    const what = `GitLab on ${this.host} refused ${context.doing}${context.project ? ` for ${context.project}` : ""}`;
    const project = context.project ?? "the project";
    switch (res.status) {
      case 401:
        return new ProviderError(
          "unauthorized",
          `${what}: the token is not valid (${said || "401 Unauthorized"})`,
          "the token is wrong, expired or revoked: create a personal access token with the `api` scope (User settings → Access tokens) and update the connection",
          401,
        );
      case 403:
        if (/insufficient_scope/.test(said)) {
          return new ProviderError(
            "forbidden",
            `${what}: the token's scopes do not allow it`,
            "the token needs the `api` scope: create a personal access token with the `api` scope (User settings → Access tokens) and update the connection",
            403,
          );
        }
        return new ProviderError(
          "forbidden",
          `${what} (${said || "403 Forbidden"})`,
          `you need at least the Maintainer role on ${project} to add deploy keys and webhooks: ask an Owner of the project or group to raise the token user's role (Manage → Members)`,
          403,
        );
      case 404:
        if (context.project === undefined) {
          // Not about a project: the address is not a GitLab API at all.
          return new ProviderError(
            "unavailable",
            `${what}: ${this.apiBase} answered 404, so it is not a GitLab API`,
            "check the connection's base_url: it must be the GitLab instance's address (https://gitlab.example.com)",
            404,
          );
        }
        return new ProviderError(
          "not_found",
          `${what}: project ${project} not found or not visible to this token`,
          `check the project's path (group/project) or numeric id, and that the token's user is a member of ${project}`,
          404,
        );
      case 409:
        return new ProviderError(
          "conflict",
          `${what}: ${said || "409 Conflict"}`,
          "the object already exists at GitLab; link again to reuse it",
          409,
        );
      case 400:
      case 422:
        return new ProviderError(
          "invalid",
          `${what}: ${said || `${res.status}`}`,
          "check the values Slipway sent (URL, key); if they look right, report it",
          res.status,
        );
      case 429:
        return new ProviderError(
          "unavailable",
          `${what}: too many requests (429)`,
          "GitLab is rate-limiting this token; try again in a minute",
          429,
        );
      default:
        return new ProviderError(
          "unavailable",
          `${what}: HTTP ${res.status}${said ? ` (${said})` : ""}`,
          res.status >= 500
            ? "GitLab had a problem; try again later"
            : "check the connection's base_url: it must be the GitLab instance's address (https://gitlab.example.com)",
          res.status,
        );
    }
  }
}

/** `42` stays `42`; `group/sub/project` (with or without `.git`, slashes) is URL-encoded. */
function projectRef(ref: string): string {
  const trimmed = ref
    .trim()
    .replace(/\.git$/, "")
    .replace(/^\/+|\/+$/g, "");
  if (/^\d+$/.test(trimmed)) return trimmed;
  if (trimmed === "" || !trimmed.includes("/") || /[\s?#]/.test(trimmed)) {
    throw new ProviderError(
      "invalid",
      `${JSON.stringify(ref)} is not a GitLab project id or path`,
      "give the project's numeric id or its full path (group/project)",
    );
  }
  return encodeURIComponent(trimmed);
}

/** Provider ids come back from GitLab as integers; anything else never reaches a URL. */
function numericId(id: string): string {
  if (!/^\d+$/.test(id)) {
    throw new ProviderError(
      "invalid",
      `${JSON.stringify(id)} is not a GitLab id`,
      "use the id GitLab returned",
    );
  }
  return id;
}

function toRepo(p: GitLabProject): ProviderRepo {
  return {
    id: String(p.id),
    fullPath: p.path_with_namespace,
    sshUrl: p.ssh_url_to_repo,
    httpsUrl: p.http_url_to_repo,
    webUrl: p.web_url,
    defaultBranch: p.default_branch ?? "main",
    private: p.visibility !== "public",
  };
}

function toDeployKey(k: GitLabDeployKey): RemoteDeployKey {
  return { id: String(k.id), title: k.title, key: k.key, readOnly: k.can_push !== true };
}

function toHook(h: GitLabHook): RemoteHook {
  const events: RemoteHook["events"] = [];
  if (h.push_events === true) events.push("push");
  if (h.merge_requests_events === true) events.push("pull_request");
  const status = h.alert_status ?? "executable";
  const hook: RemoteHook = {
    id: String(h.id),
    url: h.url,
    events,
    active: status === "executable",
  };
  if (status === "disabled") {
    hook.disabledReason = "GitLab disabled the webhook after repeated delivery failures";
  } else if (status === "temporarily_disabled") {
    hook.disabledReason = `GitLab paused the webhook after repeated delivery failures${h.disabled_until ? ` until ${h.disabled_until}` : ""}`;
  }
  return hook;
}

function hookBody(hook: HookSpec) {
  return {
    url: hook.url,
    token: hook.secret,
    push_events: hook.events.includes("push"),
    merge_requests_events: hook.events.includes("pull_request"),
    tag_push_events: false,
    enable_ssl_verification: true,
  };
}

/** GitLab's error bodies: `{message}`, `{message: {field: [..]}}`, `{error, error_description}`. */
function errorText(body: unknown): string {
  if (typeof body === "string") return body.slice(0, 300);
  if (body === null || typeof body !== "object") return "";
  const record = body as Record<string, unknown>;
  const parts: string[] = [];
  if (typeof record.error === "string") parts.push(record.error);
  if (typeof record.error_description === "string") parts.push(record.error_description);
  const message = record.message;
  if (typeof message === "string") parts.push(message);
  else if (message !== null && typeof message === "object") {
    for (const [field, value] of Object.entries(message as Record<string, unknown>)) {
      parts.push(`${field} ${Array.isArray(value) ? value.map(String).join(", ") : String(value)}`);
    }
  }
  return parts.join(": ").slice(0, 300);
}
