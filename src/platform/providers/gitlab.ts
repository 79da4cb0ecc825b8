import { GIT_OBJECT_ID } from "../../lib/git-ids.ts";
import { isRecord } from "../../lib/json.ts";
import type { ProviderHttp, ProviderResponse } from "./http.ts";
import {
  branchNames,
  commitId,
  filePathSegments,
  header,
  isString,
  nextLink,
  PAGE_SIZE,
  READ_FILE_MAX_BYTES,
  record,
  RestApi,
  sameKey,
  text,
  withinApi,
  type Page,
  type Refusal,
} from "./rest.ts";
import {
  ProviderError,
  type CommitStatus,
  type HookSpec,
  type ProviderClient,
  type ProviderConnection,
  type ProviderCredential,
  type ProviderIdentity,
  type ProviderRepo,
  type RemoteDeployKey,
  type RemoteHook,
} from "./types.ts";

/**
 * The GitLab v4 adapter (gitlab.com, self-managed GitLab, and Slipway's own forge, whose API is
 * a faithful subset). Authenticates with `PRIVATE-TOKEN`; projects are addressed by integer id
 * or URL-encoded `group/project`. Lists are read `per_page=100` through every page
 * (`X-Next-Page`, else `Link: rel="next"`). Every refusal becomes a `ProviderError` whose hint
 * uses GitLab's words (scopes, the Maintainer role, Settings → Repository → Deploy keys).
 */

/** A GitLab call, as its refusal tells it: "… refused adding the deploy key for group/project". */
interface GitLabOperation {
  /** What the call was doing: "adding the deploy key". */
  doing: string;
  /** The project's path or id, when the call is about one. */
  project?: string;
}

const STATE: Record<CommitStatus["state"], string> = {
  pending: "pending",
  success: "success",
  failure: "failed",
  error: "failed",
};

const BASE_URL_HINT =
  "check the connection's base_url: it must be the GitLab instance's address (https://gitlab.example.com)";

export class GitLabClient implements ProviderClient {
  readonly provider = "gitlab" as const;
  private readonly api: RestApi<GitLabOperation>;
  private readonly host: string;

  constructor(
    readonly connection: ProviderConnection,
    readonly http: ProviderHttp,
  ) {
    const base = connection.baseUrl.replace(/\/+$/, "").replace(/\/api\/v4$/, "");
    const apiBase = `${base}/api/v4`;
    this.host = new URL(base).host;
    this.api = new RestApi({
      http,
      apiUrl: () => apiBase,
      headers: () => ({ "private-token": privateToken(connection.credential) }),
      host: this.host,
      refusal: gitlabRefusal(this.host, apiBase),
      unreadableHint: BASE_URL_HINT,
    });
  }

  async verify(): Promise<ProviderIdentity> {
    const user = await this.api.call(
      { method: "GET", url: "/user" },
      { doing: "checking the token" },
    );
    const username = text(record(user.body).username);
    if (username === undefined) throw this.api.unreadable("user");
    const identity: ProviderIdentity = { username };
    // GitLab 15.5+ says which scopes the token has; older versions answer 404 (then the
    // scopes show when a call needs them).
    const self = await this.api.send({ method: "GET", url: "/personal_access_tokens/self" });
    const scopes = record(self.body).scopes;
    if (self.status === 200 && Array.isArray(scopes)) {
      identity.scopes = scopes.filter(isString);
      if (!identity.scopes.includes("api")) {
        throw new ProviderError(
          "forbidden",
          `the GitLab token of ${username} on ${this.host} has the scopes ${identity.scopes.join(", ") || "(none)"}, not \`api\``,
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
    });
    if (search !== undefined && search !== "") query.set("search", search);
    const projects = await this.paged(
      `/projects?${query.toString()}`,
      { doing: "listing projects" },
      "project list",
    );
    return projects.map((project) => this.toRepo(project));
  }

  async getRepo(ref: string): Promise<ProviderRepo> {
    const project = await this.api.call(
      { method: "GET", url: `/projects/${projectRef(ref)}` },
      { doing: "looking up the project", project: ref },
    );
    return this.toRepo(project.body);
  }

  async branchExists(repo: ProviderRepo, branch: string): Promise<boolean> {
    const operation = { doing: `reading the branch ${branch}`, project: repo.fullPath };
    const res = await this.api.call(
      {
        method: "GET",
        url: `/projects/${repo.id}/repository/branches/${encodeURIComponent(branch)}`,
      },
      operation,
      [404],
    );
    if (res.status !== 404) return true;
    if (/branch/i.test(errorText(res.body))) return false;
    throw this.api.refusal(res, operation);
  }

  async readFile(repo: ProviderRepo, ref: string, path: string): Promise<string | null> {
    // GitLab wants the whole path as one URL-encoded parameter (`src%2Fmain.ts`).
    const file = filePathSegments(path).join("%2F");
    const operation = { doing: `reading ${path} at ${ref}`, project: repo.fullPath };
    const res = await this.api.call(
      {
        method: "GET",
        url: `/projects/${repo.id}/repository/files/${file}/raw?${new URLSearchParams({ ref }).toString()}`,
        headers: { accept: "*/*" },
        raw: { maxBytes: READ_FILE_MAX_BYTES },
      },
      operation,
      [404],
    );
    if (res.status !== 404) return typeof res.body === "string" ? res.body : "";
    // "404 File Not Found" (or no such ref); a missing project is a refusal.
    if (/file|commit|ref/i.test(errorText(res.body))) return null;
    throw this.api.refusal(res, operation);
  }

  async listBranches(repo: ProviderRepo, search?: string): Promise<string[]> {
    const term = search?.trim() ?? "";
    const query = term === "" ? "" : `?${new URLSearchParams({ search: term }).toString()}`;
    const branches = await this.paged(
      `/projects/${repo.id}/repository/branches${query}`,
      { doing: "listing the branches", project: repo.fullPath },
      "branch list",
    );
    return branchNames(branches, () => this.api.unreadable("branch"));
  }

  async listDeployKeys(repo: ProviderRepo): Promise<RemoteDeployKey[]> {
    const keys = await this.paged(
      `/projects/${repo.id}/deploy_keys`,
      { doing: "listing the deploy keys", project: repo.fullPath },
      "deploy key list",
    );
    return keys.map((key) => this.toDeployKey(key));
  }

  async addDeployKey(
    repo: ProviderRepo,
    key: { title: string; key: string },
  ): Promise<RemoteDeployKey> {
    const operation = { doing: "adding the deploy key", project: repo.fullPath };
    const res = await this.api.call(
      {
        method: "POST",
        url: `/projects/${repo.id}/deploy_keys`,
        body: { title: key.title, key: key.key, can_push: false },
      },
      operation,
      [400],
    );
    if (res.status !== 400) return this.toDeployKey(res.body);
    if (/has already been taken/.test(errorText(res.body))) {
      // The key is known to GitLab already: in this project, or in another one we can enable.
      return this.reuseDeployKey(repo, key.key, operation);
    }
    throw this.api.refusal(res, operation);
  }

  async removeDeployKey(repo: ProviderRepo, id: string): Promise<void> {
    await this.api.call(
      { method: "DELETE", url: `/projects/${repo.id}/deploy_keys/${numericId(id)}` },
      { doing: `removing the deploy key ${id}`, project: repo.fullPath },
      [404],
    );
  }

  async listHooks(repo: ProviderRepo): Promise<RemoteHook[]> {
    const hooks = await this.paged(
      `/projects/${repo.id}/hooks`,
      { doing: "listing the webhooks", project: repo.fullPath },
      "webhook list",
    );
    return hooks.map((hook) => this.toHook(hook));
  }

  async addHook(repo: ProviderRepo, hook: HookSpec): Promise<RemoteHook> {
    const created = await this.api.call(
      { method: "POST", url: `/projects/${repo.id}/hooks`, body: hookBody(hook) },
      { doing: "creating the webhook", project: repo.fullPath },
    );
    return this.toHook(created.body);
  }

  async updateHook(repo: ProviderRepo, id: string, hook: HookSpec): Promise<RemoteHook> {
    const updated = await this.api.call(
      { method: "PUT", url: `/projects/${repo.id}/hooks/${numericId(id)}`, body: hookBody(hook) },
      { doing: `updating the webhook ${id}`, project: repo.fullPath },
    );
    const hookNow = this.toHook(updated.body);
    if (hookNow.active) return hookNow;
    // GitLab re-enables a hook it disabled only after a successful delivery; a test delivery
    // would build, so the hook is replaced by a fresh (enabled) one instead.
    await this.removeHook(repo, id);
    return this.addHook(repo, hook);
  }

  async removeHook(repo: ProviderRepo, id: string): Promise<void> {
    await this.api.call(
      { method: "DELETE", url: `/projects/${repo.id}/hooks/${numericId(id)}` },
      { doing: `removing the webhook ${id}`, project: repo.fullPath },
      [404],
    );
  }

  async setCommitStatus(repo: ProviderRepo, sha: string, status: CommitStatus): Promise<void> {
    const commit = commitId(sha, GIT_OBJECT_ID);
    await this.api.call(
      {
        method: "POST",
        url: `/projects/${repo.id}/statuses/${commit}`,
        body: {
          state: STATE[status.state],
          name: status.context,
          description: status.description.slice(0, 255),
          target_url: status.targetUrl,
        },
      },
      { doing: `setting the commit status of ${commit.slice(0, 12)}`, project: repo.fullPath },
    );
  }

  // -------------------------------------------------------------------------------------------

  /** A key GitLab refused as "already taken": ours in this project, or enable it from another. */
  private async reuseDeployKey(
    repo: ProviderRepo,
    publicKey: string,
    operation: GitLabOperation,
  ): Promise<RemoteDeployKey> {
    const here = (await this.listDeployKeys(repo)).find((k) => sameKey(k.key, publicKey));
    if (here) return here;
    const me = record((await this.api.call({ method: "GET", url: "/user" }, operation)).body);
    if (!isId(me.id)) throw this.api.unreadable("user");
    const elsewhere = await this.paged(`/users/${me.id}/project_deploy_keys`, operation).catch(
      () => [],
    );
    const known = elsewhere
      .map((key) => record(key))
      .find((key) => {
        const material = text(key.key);
        return material !== undefined && sameKey(material, publicKey);
      });
    if (!known || !isId(known.id)) {
      throw new ProviderError(
        "conflict",
        `GitLab on ${this.host} already has this deploy key in a project the token cannot reach, so it cannot be added to ${repo.fullPath}`,
        "remove the key from the other project (Settings → Repository → Deploy keys), or give the token's user the Maintainer role there, and link again",
        400,
      );
    }
    const enabled = await this.api.call(
      { method: "POST", url: `/projects/${repo.id}/deploy_keys/${known.id}/enable` },
      operation,
    );
    return this.toDeployKey({ ...record(enabled.body), can_push: false });
  }

  /**
   * Every item of a list, `per_page=100`, following `X-Next-Page` (or, when GitLab sends none,
   * `Link: rel="next"` within the API) up to the shared cap of pages.
   */
  private paged(path: string, operation: GitLabOperation, what = "list"): Promise<unknown[]> {
    const separator = path.includes("?") ? "&" : "?";
    const page = (number: number) => `${path}${separator}per_page=${PAGE_SIZE}&page=${number}`;
    return this.api.list(page(1), operation, (response, number): Page => {
      if (!Array.isArray(response.body)) throw this.api.unreadable(what);
      const items = response.body as unknown[];
      const nextPage = header(response, "x-next-page");
      if (nextPage !== undefined) {
        const next = Number(nextPage);
        return { items, next: nextPage !== "" && next > number ? page(next) : undefined };
      }
      const link = nextLink(response);
      return {
        items,
        next: link !== undefined && withinApi(link, this.api.apiUrl) ? link : undefined,
      };
    });
  }

  // ---------- shapes ----------

  private toRepo(value: unknown): ProviderRepo {
    const project = record(value);
    const fullPath = text(project.path_with_namespace);
    const sshUrl = text(project.ssh_url_to_repo);
    if (!isId(project.id) || fullPath === undefined || sshUrl === undefined) {
      throw this.api.unreadable("project");
    }
    return {
      id: String(project.id),
      fullPath,
      sshUrl,
      httpsUrl: text(project.http_url_to_repo) ?? "",
      webUrl: text(project.web_url) ?? "",
      defaultBranch: text(project.default_branch) ?? "main",
      private: project.visibility !== "public",
    };
  }

  private toDeployKey(value: unknown): RemoteDeployKey {
    const key = record(value);
    const material = text(key.key);
    if (!isId(key.id) || material === undefined) throw this.api.unreadable("deploy key");
    return {
      id: String(key.id),
      title: text(key.title) ?? "",
      key: material,
      readOnly: key.can_push !== true,
    };
  }

  private toHook(value: unknown): RemoteHook {
    const body = record(value);
    const url = text(body.url);
    if (!isId(body.id) || url === undefined) throw this.api.unreadable("webhook");
    const events: RemoteHook["events"] = [];
    if (body.push_events === true) events.push("push");
    if (body.merge_requests_events === true) events.push("pull_request");
    const status = text(body.alert_status) ?? "executable";
    const hook: RemoteHook = { id: String(body.id), url, events, active: status === "executable" };
    if (status === "disabled") {
      hook.disabledReason = "GitLab disabled the webhook after repeated delivery failures";
    } else if (status === "temporarily_disabled") {
      const until = text(body.disabled_until);
      hook.disabledReason = `GitLab paused the webhook after repeated delivery failures${until ? ` until ${until}` : ""}`;
    }
    return hook;
  }
}

/** GitLab's refusals, in GitLab's terms, with what to do about them. */
function gitlabRefusal(host: string, apiBase: string): Refusal<GitLabOperation> {
  return (res: ProviderResponse, operation: GitLabOperation): ProviderError => {
    const said = errorText(res.body);
    const what = `GitLab on ${host} refused ${operation.doing}${operation.project ? ` for ${operation.project}` : ""}`;
    const project = operation.project ?? "the project";
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
        if (operation.project === undefined) {
          // Not about a project: the address is not a GitLab API at all.
          return new ProviderError(
            "unavailable",
            `${what}: ${apiBase} answered 404, so it is not a GitLab API`,
            BASE_URL_HINT,
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
          res.status >= 500 ? "GitLab had a problem; try again later" : BASE_URL_HINT,
          res.status,
        );
    }
  };
}

/** The `PRIVATE-TOKEN` of a connection: GitLab takes personal, group and project access tokens. */
function privateToken(credential: ProviderCredential): string {
  if (credential.kind !== "token") {
    throw new ProviderError(
      "invalid",
      "a GitLab connection needs a personal, group or project access token",
      "create the connection with `token`",
    );
  }
  return credential.token;
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

/** GitLab's ids are integers. */
const isId = (value: unknown): value is number => Number.isSafeInteger(value);

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
  if (!isRecord(body)) return "";
  const parts: string[] = [];
  if (typeof body.error === "string") parts.push(body.error);
  if (typeof body.error_description === "string") parts.push(body.error_description);
  const message = body.message;
  if (typeof message === "string") parts.push(message);
  else if (message !== null && typeof message === "object") {
    for (const [field, value] of Object.entries(message)) {
      parts.push(`${field} ${Array.isArray(value) ? value.map(String).join(", ") : String(value)}`);
    }
  }
  return parts.join(": ").slice(0, 300);
}
