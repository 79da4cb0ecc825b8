import { createHash } from "node:crypto";
import type { ProviderHttp } from "./http.ts";
import {
  authorization,
  branchNames,
  commitId,
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
  withinApi,
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
 * Bitbucket Cloud (REST API 2.0, `https://api.bitbucket.org/2.0`). Repositories are named
 * `workspace/repo_slug` — the id Slipway stores — or by their `{uuid}`. Credentials are an app
 * password (or API token) over Basic with the account's user name, or an access token over
 * Bearer. Deploy keys are Bitbucket's "access keys", which are always read-only.
 */

const DEFAULT_BASE_URL = "https://api.bitbucket.org/2.0";
const HOOK_DESCRIPTION = "Slipway";

/** The events each Slipway event kind subscribes to. */
const EVENTS: Record<HookEventKind, string[]> = {
  push: ["repo:push"],
  pull_request: [
    "pullrequest:created",
    "pullrequest:updated",
    "pullrequest:fulfilled",
    "pullrequest:rejected",
  ],
};

const BUILD_STATES: Record<CommitStatus["state"], string> = {
  pending: "INPROGRESS",
  success: "SUCCESSFUL",
  failure: "FAILED",
  error: "FAILED",
};

/** Bitbucket's names for its OAuth scopes, as the app password and access token forms show them. */
const PERMISSION_NAMES: Record<string, string> = {
  account: "Account: Read",
  repository: "Repositories: Read",
  "repository:write": "Repositories: Write",
  "repository:admin": "Repositories: Admin",
  webhook: "Webhooks: Read and write",
  pullrequest: "Pull requests: Read",
};

const NEEDED_PERMISSIONS =
  "Account: Read, Repositories: Read and Admin, Webhooks: Read and write, Pull requests: Read";

/** Refusals in Bitbucket's words, and where in Bitbucket to fix them. */
const WORDS: ProviderWords = {
  credential: "credential",
  said: errorMessage,
  /** A 403 naming the scopes that are missing (`error.detail.required`), or only that some are. */
  missingScope(body) {
    const error = record(record(body).error);
    const required = record(error.detail).required;
    const missing = Array.isArray(required) ? required.filter(isString) : [];
    if (!Array.isArray(required) && !/privilege scopes/i.test(text(error.message) ?? "")) {
      return undefined;
    }
    const names = missing.map((s) => PERMISSION_NAMES[s] ?? s).join(", ");
    return `the credential lacks the Bitbucket permission ${names || "required"}`;
  },
  unauthorizedHint: `Check the user name and app password (Personal settings → App passwords) or the access token; it may have been revoked. It needs ${NEEDED_PERMISSIONS}.`,
  scopeHint: `Create an app password (Personal settings → App passwords) or access token with ${NEEDED_PERMISSIONS}, and update the connection.`,
  forbiddenHint({ subject, repo }) {
    switch (subject) {
      case "keys":
        return `The connection's user needs admin permission on the repository ${repo} to manage its access keys (Repository settings → Access keys); ask a workspace admin to grant it, or add the key there by hand.`;
      case "hooks":
        return `The connection's user needs admin permission on the repository ${repo} to manage its webhooks (Repository settings → Webhooks); ask a workspace admin to grant it.`;
      case "status":
        return `The connection's user needs write permission on the repository ${repo} to report build statuses.`;
      default:
        return "Check the connection user's permissions on the repository (Repository settings → User and group access).";
    }
  },
  notFoundHint:
    "Check the workspace and repository slug (bitbucket.org/{workspace}/{repo_slug}) and that the connection's user has access to the repository (Repository settings → User and group access).",
  invalidHints: {
    keys: "The key must be an OpenSSH public key not already added to this repository (Repository settings → Access keys).",
    hooks: "The webhook URL must be reachable from Bitbucket (Repository settings → Webhooks).",
    other: "See Bitbucket's message.",
  },
  unavailableHint: (status) =>
    status === 429
      ? "Bitbucket is rate limiting this credential; try again in a few minutes."
      : "Bitbucket may be having trouble (bitbucket.status.atlassian.com); try again later.",
};

const UUID = /^\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}$/;
/** A workspace id or repository slug; never `.` or `..`, which a URL would resolve away. */
const SLUG = /^(?!\.+$)[A-Za-z0-9._-]{1,128}$/;
const SHA = /^[0-9a-fA-F]{7,40}$/;

export class BitbucketClient implements ProviderClient {
  readonly provider = "bitbucket" as const;
  private readonly baseUrl: string;
  private readonly api: RestApi;

  constructor(
    readonly connection: ProviderConnection,
    http: ProviderHttp,
  ) {
    this.baseUrl = (connection.baseUrl || DEFAULT_BASE_URL).replace(/\/+$/, "");
    this.api = new RestApi({
      http,
      apiUrl: () => this.baseUrl,
      headers: () => ({
        authorization: authorization(
          connection.credential,
          "Bearer",
          "Bitbucket",
          "use a Bitbucket app password (with its user name) or an access token",
        ),
      }),
      host: hostOf(this.baseUrl),
      refusal: refusalInWords("Bitbucket", WORDS),
      unreadableHint:
        "check that the connection's base_url is Bitbucket Cloud's API (https://api.bitbucket.org/2.0)",
    });
  }

  async verify(): Promise<ProviderIdentity> {
    const response = await this.api.call(
      { method: "GET", url: "/user" },
      { action: "read the connection's user (GET /user)" },
    );
    const user = record(response.body);
    const username = text(user.username) ?? text(user.nickname) ?? text(user.display_name);
    if (username === undefined) throw this.api.unreadable("user");
    const scopes = header(response, "x-oauth-scopes");
    return {
      username,
      ...(scopes === undefined ? {} : { scopes: scopes.split(/[\s,]+/).filter(Boolean) }),
    };
  }

  async listRepos(search?: string): Promise<ProviderRepo[]> {
    const query = new URLSearchParams({ role: "admin", pagelen: "100", sort: "full_name" });
    const term = search?.trim();
    if (term) query.set("q", `name ~ "${term.replace(/["\\]/g, "\\$&")}"`);
    const values = await this.paginate(`/repositories?${query.toString()}`, {
      action: "list the repositories it administers",
    });
    return values.map((value) => this.toRepo(value));
  }

  async getRepo(ref: string): Promise<ProviderRepo> {
    const path = repositoryPath(ref);
    const response = await this.api.call(
      { method: "GET", url: path },
      { action: "read repository", repo: ref },
    );
    return this.toRepo(response.body);
  }

  async branchExists(repo: ProviderRepo, branch: string): Promise<boolean> {
    const url = `${this.repoPath(repo)}/refs/branches/${encodeURIComponent(branch)}`;
    const response = await this.api.call(
      { method: "GET", url },
      { action: "read the branches of", repo: repo.id },
      [404],
    );
    return response.status === 200;
  }

  async readFile(repo: ProviderRepo, ref: string, path: string): Promise<string | null> {
    const file = filePathSegments(path).join("/");
    // `src/{commit}/{path}` takes a commit: a branch name (slashes and all) is resolved first.
    let commit = ref;
    if (!/^[0-9a-f]{40}$/.test(ref)) {
      const branch = await this.api.call(
        { method: "GET", url: `${this.repoPath(repo)}/refs/branches/${encodeURIComponent(ref)}` },
        { action: "read the branches of", repo: repo.id },
        [404],
      );
      if (branch.status === 404) return null;
      const hash = text(record(record(branch.body).target).hash);
      if (hash === undefined) throw this.api.unreadable("branch");
      commit = hash;
    }
    const response = await this.api.call(
      {
        method: "GET",
        url: `${this.repoPath(repo)}/src/${commit}/${file}`,
        headers: { accept: "*/*" },
        raw: { maxBytes: READ_FILE_MAX_BYTES },
      },
      { action: `read ${path} of`, repo: repo.id },
      [404],
    );
    if (response.status === 404) return null;
    // A directory answers with its listing (JSON): not a file.
    if (/application\/json/i.test(String(response.headers["content-type"] ?? ""))) return null;
    return typeof response.body === "string" ? response.body : "";
  }

  async listBranches(repo: ProviderRepo, search?: string): Promise<string[]> {
    const query = new URLSearchParams({ pagelen: "100" });
    const term = search?.trim();
    if (term) query.set("q", `name ~ "${term.replace(/["\\]/g, "\\$&")}"`);
    const values = await this.paginate(`${this.repoPath(repo)}/refs/branches?${query.toString()}`, {
      action: "list the branches of",
      repo: repo.id,
    });
    return branchNames(values, () => this.api.unreadable("branch"));
  }

  async listDeployKeys(repo: ProviderRepo): Promise<RemoteDeployKey[]> {
    const values = await this.paginate(`${this.repoPath(repo)}/deploy-keys?pagelen=100`, {
      action: "list the access keys of",
      repo: repo.id,
      subject: "keys",
    });
    return values.map((value) => this.toKey(value));
  }

  async addDeployKey(
    repo: ProviderRepo,
    key: { title: string; key: string },
  ): Promise<RemoteDeployKey> {
    const operation: Operation = { action: "add an access key to", repo: repo.id, subject: "keys" };
    const response = await this.api.call(
      {
        method: "POST",
        url: `${this.repoPath(repo)}/deploy-keys`,
        body: { key: key.key, label: key.title },
      },
      operation,
      [400],
    );
    if (response.status !== 400) return this.toKey(response.body);
    // Already there (a retried link): the existing key is the one asked for.
    if (/already added/i.test(errorMessage(response.body))) {
      const existing = (await this.listDeployKeys(repo)).find((k) => sameKey(k.key, key.key));
      if (existing) return existing;
    }
    throw this.api.refusal(response, operation);
  }

  async removeDeployKey(repo: ProviderRepo, id: string): Promise<void> {
    if (!/^\d{1,18}$/.test(id)) {
      throw new ProviderError(
        "invalid",
        `"${id.slice(0, 40)}" is not a Bitbucket access key id`,
        "access key ids are integers (GET /repositories/{workspace}/{repo_slug}/deploy-keys lists them)",
      );
    }
    await this.api.call(
      { method: "DELETE", url: `${this.repoPath(repo)}/deploy-keys/${id}` },
      { action: "remove an access key from", repo: repo.id, subject: "keys" },
      [404],
    );
  }

  async listHooks(repo: ProviderRepo): Promise<RemoteHook[]> {
    const values = await this.paginate(`${this.repoPath(repo)}/hooks?pagelen=100`, {
      action: "list the webhooks of",
      repo: repo.id,
      subject: "hooks",
    });
    return values.map((value) => this.toHook(value));
  }

  async addHook(repo: ProviderRepo, hook: HookSpec): Promise<RemoteHook> {
    const response = await this.api.call(
      { method: "POST", url: `${this.repoPath(repo)}/hooks`, body: hookBody(hook) },
      { action: "add a webhook to", repo: repo.id, subject: "hooks" },
    );
    return this.toHook(response.body);
  }

  async updateHook(repo: ProviderRepo, id: string, hook: HookSpec): Promise<RemoteHook> {
    const response = await this.api.call(
      { method: "PUT", url: this.hookPath(repo, id), body: hookBody(hook) },
      { action: "update the webhook of", repo: repo.id, subject: "hooks" },
    );
    return this.toHook(response.body);
  }

  async removeHook(repo: ProviderRepo, id: string): Promise<void> {
    await this.api.call(
      { method: "DELETE", url: this.hookPath(repo, id) },
      { action: "remove a webhook from", repo: repo.id, subject: "hooks" },
      [404],
    );
  }

  async setCommitStatus(repo: ProviderRepo, sha: string, status: CommitStatus): Promise<void> {
    const commit = commitId(sha, SHA);
    await this.api.call(
      {
        method: "POST",
        url: `${this.repoPath(repo)}/commit/${commit}/statuses/build`,
        body: {
          state: BUILD_STATES[status.state],
          key: statusKey(status.context),
          name: status.context.slice(0, 255),
          url: status.targetUrl,
          description: status.description.slice(0, 255),
        },
      },
      { action: "report a build status on", repo: repo.id, subject: "status" },
    );
  }

  /** Every `values` of a paginated list, following `next` (only within the API base). */
  private paginate(path: string, operation: Operation): Promise<unknown[]> {
    return this.api.list(path, operation, (response) => {
      const body = record(response.body);
      if (!Array.isArray(body.values)) throw this.api.unreadable("page");
      const next = text(body.next);
      if (next !== undefined && !withinApi(next, this.baseUrl)) {
        // Never send the credential anywhere but the API it belongs to.
        throw new ProviderError(
          "unavailable",
          `${hostOf(this.baseUrl)} sent a next-page link outside its API (${next.slice(0, 100)})`,
          "check the connection's base_url",
        );
      }
      return { items: body.values as unknown[], next };
    });
  }

  private repoPath(repo: ProviderRepo): string {
    return repositoryPath(repo.id);
  }

  private hookPath(repo: ProviderRepo, id: string): string {
    const uid = id.startsWith("{") ? id : `{${id}}`;
    return `${this.repoPath(repo)}/hooks/${encodeURIComponent(uid)}`;
  }

  // ---------- shapes ----------

  private toRepo(value: unknown): ProviderRepo {
    const repo = record(value);
    const fullName = text(repo.full_name);
    const links = record(repo.links);
    const clones = Array.isArray(links.clone) ? links.clone.map(record) : [];
    const clone = (name: string) => text(clones.find((c) => c.name === name)?.href);
    const ssh = clone("ssh");
    const https = clone("https");
    if (fullName === undefined || ssh === undefined) throw this.api.unreadable("repository");
    return {
      id: fullName,
      fullPath: fullName,
      sshUrl: ssh,
      // Bitbucket puts the viewer's user name in the HTTPS clone URL; it is not part of the repo.
      httpsUrl: https === undefined ? "" : withoutUserInfo(https),
      webUrl: text(record(links.html).href) ?? "",
      defaultBranch: text(record(repo.mainbranch).name) ?? "main",
      private: repo.is_private === true,
    };
  }

  private toKey(value: unknown): RemoteDeployKey {
    const key = record(value);
    if (typeof key.id !== "number" || text(key.key) === undefined)
      throw this.api.unreadable("access key");
    return {
      id: String(key.id),
      title: text(key.label) ?? "",
      key: text(key.key)!,
      readOnly: true,
    };
  }

  private toHook(value: unknown): RemoteHook {
    const hook = record(value);
    const uuid = text(hook.uuid);
    const url = text(hook.url);
    if (uuid === undefined || url === undefined) throw this.api.unreadable("webhook");
    const subscribed = Array.isArray(hook.events) ? hook.events.filter(isString) : [];
    const events = (Object.keys(EVENTS) as HookEventKind[]).filter((kind) =>
      subscribed.some((event) => EVENTS[kind].includes(event)),
    );
    return { id: uuid, url, events, active: hook.active === true };
  }
}

/** `/repositories/{workspace}/{repo_slug}` for `workspace/repo_slug` or `{uuid}` ids. */
function repositoryPath(ref: string): string {
  const trimmed = ref.trim().replace(/\.git$/, "");
  if (UUID.test(trimmed)) {
    // `{}` stands for "any workspace" when the repository is named by its UUID.
    return `/repositories/${encodeURIComponent("{}")}/${encodeURIComponent(trimmed)}`;
  }
  const parts = trimmed.split("/");
  if (parts.length === 2 && parts.every((p) => SLUG.test(p) || UUID.test(p))) {
    return `/repositories/${parts.map((p) => encodeURIComponent(p)).join("/")}`;
  }
  throw new ProviderError(
    "invalid",
    `"${ref.slice(0, 200)}" is not a Bitbucket repository id`,
    "Use workspace/repo_slug, as in bitbucket.org/workspace/repo_slug (your workspace, which may differ from your user name), or the repository's {uuid}.",
  );
}

function hookBody(hook: HookSpec) {
  return {
    description: HOOK_DESCRIPTION,
    url: hook.url,
    active: true,
    secret: hook.secret,
    events: [...new Set(hook.events.flatMap((kind) => EVENTS[kind]))],
  };
}

/** Bitbucket keys a status by vendor key: the context itself when short, else a stable digest. */
function statusKey(context: string): string {
  if (context.length <= 40) return context;
  const digest = createHash("sha256").update(context).digest("hex").slice(0, 8);
  return `${context.slice(0, 31)}-${digest}`;
}

/** Bitbucket's `{type: "error", error: {message, detail, fields}}`, as one capped line. */
function errorMessage(body: unknown): string {
  if (typeof body === "string") return oneLine(body);
  const error = record(record(body).error);
  const parts = [text(error.message)];
  if (typeof error.detail === "string") parts.push(error.detail);
  const fields = record(error.fields);
  for (const [name, messages] of Object.entries(fields)) {
    if (Array.isArray(messages)) parts.push(`${name}: ${messages.filter(isString).join(" ")}`);
  }
  return oneLine(parts.filter((p) => p !== undefined && p !== "").join("; "));
}

function withoutUserInfo(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    return url;
  }
}
