import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { parsePublicKey } from "../../../src/lib/ssh-keys.ts";
import {
  guardedRoutes,
  isReply,
  sendDelivery,
  startFakeServer,
  type FakeReply,
  type FakeRequest,
  type FakeRoute,
  type FakeServer,
} from "../server.ts";

/**
 * A strict fake of the Gitea (and Forgejo) API v1, written from Gitea's published Swagger
 * description (`/api/swagger`) and its API handlers: `Authorization: token <t>` (or Basic),
 * token scopes (`read:user`, `write:repository`…, the level taken from the HTTP method),
 * collaborator permissions (read, write, admin), `{message, url}` errors with Gitea's words
 * (422 for a body that does not bind, "The target couldn't be found." for 404), and webhook
 * deliveries with Gitea's headers and signatures (`X-Gitea-Signature: <hex HMAC-SHA256>`).
 *
 * A connection's base URL is `fake.url`; the API is under `/api/v1`.
 */

export type GiteaRole = "read" | "write" | "admin";

/** Token scopes the fake checks (`all` grants everything). */
export type GiteaScope =
  "all" | "read:user" | "write:user" | "read:repository" | "write:repository" | "read:organization";

export const SLIPWAY_GITEA_SCOPES: readonly GiteaScope[] = ["read:user", "write:repository"];

/** Hook types Gitea accepts (`webhook_module.IsValidHookTaskType`). */
const HOOK_TYPES = [
  "gitea",
  "gogs",
  "slack",
  "discord",
  "dingtalk",
  "telegram",
  "msteams",
  "feishu",
  "matrix",
  "wechatwork",
  "packagist",
];

/** `pull_request` subscribes to every pull-request sub-event (Gitea's `pullHook`). */
const PULL_REQUEST_EVENTS = [
  "pull_request",
  "pull_request_assign",
  "pull_request_label",
  "pull_request_milestone",
  "pull_request_comment",
  "pull_request_review_approved",
  "pull_request_review_rejected",
  "pull_request_review_comment",
  "pull_request_sync",
  "pull_request_review_request",
];
const OTHER_EVENTS = [
  "create",
  "delete",
  "fork",
  "push",
  "issues",
  "issue_assign",
  "issue_label",
  "issue_milestone",
  "issue_comment",
  "repository",
  "release",
  "wiki",
  "package",
];

const STATUS_STATES = ["pending", "success", "error", "failure", "warning"];
const NOT_FOUND = "The target couldn't be found.";

interface User {
  id: number;
  login: string;
  fullName: string;
  email: string;
}

interface Token {
  secret: string;
  user: User;
  scopes: Set<string>;
}

export interface FakeGiteaKey {
  id: number;
  keyId: number;
  key: string;
  title: string;
  fingerprint: string;
  readOnly: boolean;
  createdAt: string;
}

export interface FakeGiteaHook {
  id: number;
  type: string;
  url: string;
  contentType: "json" | "form";
  secret: string;
  events: string[];
  branchFilter: string;
  active: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface FakeGiteaStatus {
  id: number;
  state: string;
  targetUrl: string;
  description: string;
  context: string;
  createdAt: string;
}

interface Repo {
  id: number;
  owner: User;
  name: string;
  isPrivate: boolean;
  defaultBranch: string;
  sshUrl: string | undefined;
  collaborators: Map<string, GiteaRole>;
  branches: Map<string, string>;
  commits: Set<string>;
  /** Each commit's files (path → text), for those committed with `commitFiles`. */
  trees: Map<string, Map<string, string>>;
  keys: FakeGiteaKey[];
  hooks: FakeGiteaHook[];
  statuses: Map<string, FakeGiteaStatus[]>;
  createdAt: string;
}

export interface FakeGiteaDelivery {
  hookId: number;
  url: string;
  event: string;
  headers: Record<string, string>;
  body: string;
  /** 0 when the receiver could not be reached. */
  status: number;
  responseBody: string;
}

export interface GiteaFake extends FakeServer {
  /** `http://127.0.0.1:<port>`, the base URL of a connection to the fake. */
  baseUrl: string;
  addUser(login: string): { id: number; login: string };
  token(login: string, scopes?: readonly GiteaScope[]): string;
  revoke(token: string): void;
  addRepo(
    owner: string,
    options: {
      name: string;
      private?: boolean;
      defaultBranch?: string;
      collaborators?: Record<string, GiteaRole>;
      sshUrl?: string;
    },
  ): { id: number; fullName: string };
  setBranch(fullName: string, branch: string, sha?: string): string;
  /** A new commit on `branch` with `files` over its current ones (no push event); its sha. */
  commitFiles(fullName: string, branch: string, files: Record<string, string>): string;
  deployKeys(fullName: string): readonly FakeGiteaKey[];
  hooks(fullName: string): readonly FakeGiteaHook[];
  statuses(fullName: string, sha: string): readonly FakeGiteaStatus[];
  removeDeployKeyByHand(fullName: string, id: number): void;
  editHookByHand(
    fullName: string,
    id: number,
    change: Partial<Pick<FakeGiteaHook, "active" | "url" | "secret" | "contentType">>,
  ): void;
  /** Pushes `sha` (new when omitted) to `branch` and delivers `push` to the matching hooks. */
  push(fullName: string, branch: string, sha?: string): Promise<FakeGiteaDelivery[]>;
  pullRequest(
    fullName: string,
    pr: {
      number: number;
      action: "opened" | "synchronized" | "closed" | "reopened";
      head: string;
      base: string;
      sha?: string;
      merged?: boolean;
      fromFork?: string;
    },
  ): Promise<FakeGiteaDelivery[]>;
}

type Reply = FakeReply;

const randomSha = (): string => randomBytes(20).toString("hex");
const timestamp = (): string => new Date().toISOString().replace(/\.\d+Z$/, "Z");

export async function startGiteaFake(
  options: { sshHost?: string; sshPort?: number } = {},
): Promise<GiteaFake> {
  const users = new Map<string, User>();
  const tokens: Token[] = [];
  const repos: Repo[] = [];
  const ids = { user: 1, repo: 1, key: 1, hook: 1, status: 1 };
  let base = "";
  const sshHost = options.sshHost ?? "gitea.example";

  const apiError = (status: number, message: string): Reply => ({
    status,
    body: { message, url: `${base}/api/swagger` },
  });
  const notFound = (): Reply => ({
    status: 404,
    body: { errors: null, message: NOT_FOUND, url: `${base}/api/swagger` },
  });

  // ---------- identity ----------

  /** The caller (undefined for anonymous), or the refusal. */
  function authenticate(req: FakeRequest): { user: User | undefined; token?: Token } | Reply {
    const header = req.headers.authorization;
    if (header === undefined) return { user: undefined };
    const [scheme = "", value = ""] = header.split(" ", 2);
    let found: Token | undefined;
    if (scheme.toLowerCase() === "token" || scheme.toLowerCase() === "bearer") {
      found = tokens.find((t) => t.secret === value);
    } else if (scheme.toLowerCase() === "basic") {
      // A token may be used as the password (or as the user name) of Basic authentication.
      const decoded = Buffer.from(value, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      const [login, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
      found = tokens.find(
        (t) => (t.secret === password && t.user.login === login) || t.secret === login,
      );
    }
    if (!found) return apiError(401, "invalid username, password or token");
    return { user: found.user, token: found };
  }

  /** Token scope check: the category's `read` for GET, `write` otherwise. */
  function scoped(
    req: FakeRequest,
    category: "user" | "repository",
    anonymousAllowed: boolean,
  ): { user: User | undefined } | Reply {
    const who = authenticate(req);
    if (isReply(who)) return who;
    if (!who.user) {
      return anonymousAllowed ? who : apiError(401, "token is required");
    }
    const level = req.method === "GET" ? "read" : "write";
    const scopes = who.token!.scopes;
    const ok =
      scopes.has("all") ||
      scopes.has(`write:${category}`) ||
      (level === "read" && scopes.has(`read:${category}`));
    if (!ok) {
      return apiError(
        403,
        `token does not have at least one of required scope(s): [${level}:${category}]`,
      );
    }
    return who;
  }

  function roleOf(repo: Repo, user: User | undefined): GiteaRole | undefined {
    if (user && repo.owner === user) return "admin";
    const role = user ? repo.collaborators.get(user.login) : undefined;
    return role ?? (repo.isPrivate ? undefined : "read");
  }
  const rank: Record<GiteaRole, number> = { read: 1, write: 2, admin: 3 };

  type Access = { repo: Repo; user: User | undefined } | Reply;

  function repoAccess(req: FakeRequest, need: GiteaRole): Access {
    const who = scoped(req, "repository", need === "read");
    if (isReply(who)) return who;
    const repo = repos.find(
      (r) =>
        r.owner.login.toLowerCase() === (req.params.owner ?? "").toLowerCase() &&
        r.name.toLowerCase() === (req.params.repo ?? "").toLowerCase(),
    );
    const role = repo && roleOf(repo, who.user);
    if (!repo || !role) return notFound();
    if (rank[role] < rank[need]) {
      return need === "admin"
        ? apiError(
            403,
            "user should be an owner or a collaborator with admin write of a repository",
          )
        : apiError(403, "user should have a permission to write to a repo");
    }
    return { repo, user: who.user };
  }

  const repoByFullName = (fullName: string): Repo => {
    const repo = repos.find((r) => `${r.owner.login}/${r.name}` === fullName);
    if (!repo) throw new Error(`no repository ${fullName} in the fake`);
    return repo;
  };

  // ---------- JSON shapes ----------

  const userJson = (u: User) => ({
    id: u.id,
    login: u.login,
    login_name: "",
    full_name: u.fullName,
    email: u.email,
    avatar_url: `${base}/avatars/${u.id}`,
    language: "",
    is_admin: false,
    last_login: timestamp(),
    created: timestamp(),
    restricted: false,
    active: true,
    prohibit_login: false,
    visibility: "public",
    username: u.login,
  });

  const fullName = (r: Repo) => `${r.owner.login}/${r.name}`;
  const sshUrlOf = (r: Repo) =>
    r.sshUrl ??
    (options.sshPort && options.sshPort !== 22
      ? `ssh://git@${sshHost}:${options.sshPort}/${fullName(r)}.git`
      : `git@${sshHost}:${fullName(r)}.git`);

  const repoJson = (r: Repo, viewer: User | undefined) => {
    const role = roleOf(r, viewer);
    return {
      id: r.id,
      owner: userJson(r.owner),
      name: r.name,
      full_name: fullName(r),
      description: "",
      empty: r.branches.size === 0,
      private: r.isPrivate,
      fork: false,
      template: false,
      parent: null,
      mirror: false,
      size: 24,
      language: "",
      languages_url: `${base}/api/v1/repos/${fullName(r)}/languages`,
      html_url: `${base}/${fullName(r)}`,
      url: `${base}/api/v1/repos/${fullName(r)}`,
      link: "",
      ssh_url: sshUrlOf(r),
      clone_url: `${base}/${fullName(r)}.git`,
      original_url: "",
      website: "",
      stars_count: 0,
      forks_count: 0,
      watchers_count: 1,
      open_issues_count: 0,
      open_pr_counter: 0,
      release_counter: 0,
      default_branch: r.defaultBranch,
      archived: false,
      created_at: r.createdAt,
      updated_at: r.createdAt,
      permissions: {
        admin: role === "admin",
        push: role === "admin" || role === "write",
        pull: role !== undefined,
      },
      has_issues: true,
      has_wiki: true,
      has_pull_requests: true,
      internal: false,
      mirror_interval: "",
      object_format_name: "sha1",
    };
  };

  const keyJson = (r: Repo, k: FakeGiteaKey) => ({
    id: k.id,
    key_id: k.keyId,
    key: k.key,
    url: `${base}/api/v1/repos/${fullName(r)}/keys/${k.id}`,
    title: k.title,
    fingerprint: k.fingerprint,
    created_at: k.createdAt,
    read_only: k.readOnly,
  });

  const hookEventsOut = (h: FakeGiteaHook) =>
    h.events.includes("pull_request")
      ? [...h.events.filter((e) => e !== "pull_request"), ...PULL_REQUEST_EVENTS]
      : h.events;

  const hookJson = (h: FakeGiteaHook) => ({
    id: h.id,
    type: h.type,
    branch_filter: h.branchFilter,
    // The secret is write-only: never returned.
    config: { content_type: h.contentType, url: h.url },
    events: hookEventsOut(h),
    authorization_header: "",
    active: h.active,
    updated_at: h.updatedAt,
    created_at: h.createdAt,
  });

  const statusJson = (r: Repo, sha: string, s: FakeGiteaStatus) => ({
    id: s.id,
    status: s.state,
    target_url: s.targetUrl,
    description: s.description,
    url: `${base}/api/v1/repos/${fullName(r)}/statuses/${sha}`,
    context: s.context,
    creator: userJson(r.owner),
    created_at: s.createdAt,
    updated_at: s.createdAt,
  });

  const branchJson = (repo: Repo, user: User | undefined, name: string) => {
    const sha = repo.branches.get(name)!;
    return {
      name,
      commit: {
        id: sha,
        message: "Update the site\n",
        url: `${base}/${fullName(repo)}/commit/${sha}`,
        author: { name: repo.owner.login, email: repo.owner.email },
        committer: { name: repo.owner.login, email: repo.owner.email },
        timestamp: timestamp(),
      },
      protected: false,
      required_approvals: 0,
      enable_status_check: false,
      status_check_contexts: [],
      user_can_push: roleOf(repo, user) !== "read",
      user_can_merge: roleOf(repo, user) !== "read",
      effective_branch_protection_name: "",
    };
  };

  // ---------- paging: `page` (1-based) and `limit` (at most 50), X-Total-Count ----------

  function page<T>(req: FakeRequest, items: T[]): Reply {
    const limitText = req.query.get("limit");
    const pageText = req.query.get("page");
    let limit = limitText === null ? 30 : Number.parseInt(limitText, 10);
    let number = pageText === null ? 1 : Number.parseInt(pageText, 10);
    if (!Number.isFinite(limit) || limit <= 0) limit = 30;
    if (limit > 50) limit = 50;
    if (!Number.isFinite(number) || number <= 0) number = 1;
    const start = (number - 1) * limit;
    return {
      status: 200,
      body: items.slice(start, start + limit),
      headers: { "x-total-count": String(items.length) },
    };
  }

  // ---------- bodies: Gitea answers 422 when a body does not bind ----------

  function objectBody(req: FakeRequest): { json: Record<string, unknown> } | Reply {
    if (req.json === null || typeof req.json !== "object" || Array.isArray(req.json)) {
      return apiError(422, "[]: invalid JSON body");
    }
    return { json: req.json as Record<string, unknown> };
  }

  const fieldError = (field: string, kind: string): Reply => apiError(422, `[${field}]: ${kind}`);

  // ---------- routes ----------

  /** Routes on the repository of the path, for callers with the `need` role. */
  const repoRoutes = (need: GiteaRole) => guardedRoutes((req) => repoAccess(req, need));
  const reader = repoRoutes("read");
  const writer = repoRoutes("write");
  const admin = repoRoutes("admin");

  /** Removes the item the path's `:id` names: 204, or Gitea's 404 when there is none. */
  const remove = (items: Array<{ id: number }>, req: FakeRequest): Reply => {
    const index = items.findIndex((item) => String(item.id) === req.params.id);
    if (index < 0) return notFound();
    items.splice(index, 1);
    return { status: 204 };
  };

  const R = "/api/v1/repos/:owner/:repo";
  const routes: FakeRoute[] = [
    {
      method: "GET",
      pattern: "/api/v1/user",
      handler: (req) => {
        const who = scoped(req, "user", false);
        if (isReply(who)) return who;
        return { status: 200, body: userJson(who.user!) };
      },
    },
    {
      method: "GET",
      pattern: "/api/v1/version",
      handler: () => ({ status: 200, body: { version: "1.22.6" } }),
    },
    {
      method: "GET",
      pattern: "/api/v1/repos/search",
      handler: (req) => {
        const who = scoped(req, "repository", true);
        if (isReply(who)) return who;
        const q = (req.query.get("q") ?? "").toLowerCase();
        const found = repos
          .filter((r) => roleOf(r, who.user) !== undefined)
          .filter((r) => q === "" || r.name.toLowerCase().includes(q))
          .map((r) => repoJson(r, who.user));
        const paged = page(req, found);
        return { ...paged, body: { ok: true, data: paged.body } };
      },
    },
    {
      method: "GET",
      pattern: "/api/v1/repositories/:id",
      handler: (req) => {
        const who = scoped(req, "repository", true);
        if (isReply(who)) return who;
        const repo = repos.find((r) => String(r.id) === req.params.id);
        if (!repo || !roleOf(repo, who.user)) return notFound();
        return { status: 200, body: repoJson(repo, who.user) };
      },
    },
    reader("GET", R, (_req, { repo, user }) => ({ status: 200, body: repoJson(repo, user) })),
    reader("GET", `${R}/branches`, (req, { repo, user }) =>
      page(
        req,
        [...repo.branches.keys()].sort().map((name) => branchJson(repo, user, name)),
      ),
    ),
    reader("GET", `${R}/branches/*`, (req, { repo, user }) => {
      const name = req.params["*"]!;
      if (!repo.branches.has(name)) return notFound();
      return { status: 200, body: branchJson(repo, user, name) };
    }),
    // A file's raw contents at `ref` (a branch, tag or commit; the default branch without).
    reader("GET", `${R}/raw/*`, (req, { repo }) => {
      const ref = req.query.get("ref") ?? repo.defaultBranch;
      const sha = repo.branches.get(ref) ?? (repo.commits.has(ref) ? ref : undefined);
      const content = sha === undefined ? undefined : repo.trees.get(sha)?.get(req.params["*"]!);
      if (content === undefined) return notFound();
      return {
        status: 200,
        body: content,
        headers: { "content-type": "text/plain; charset=utf-8" },
      };
    }),
    admin("GET", `${R}/keys`, (req, { repo }) =>
      page(
        req,
        repo.keys.map((k) => keyJson(repo, k)),
      ),
    ),
    admin("GET", `${R}/keys/:id`, (req, { repo }) => {
      const key = repo.keys.find((k) => String(k.id) === req.params.id);
      return key ? { status: 200, body: keyJson(repo, key) } : notFound();
    }),
    admin("POST", `${R}/keys`, (req, { repo }) => {
      const request = objectBody(req);
      if (isReply(request)) return request;
      const body = request.json;
      if (typeof body.key !== "string" || body.key === "") return fieldError("Key", "Required");
      if (typeof body.title !== "string" || body.title === "") {
        return fieldError("Title", "Required");
      }
      if (body.read_only !== undefined && typeof body.read_only !== "boolean") {
        return fieldError("ReadOnly", "invalid boolean");
      }
      const parsed = parsePublicKey(body.key);
      if (!parsed || parsed.hadOptions) {
        return apiError(422, "Invalid key content: no key found");
      }
      const content = `${parsed.type} ${parsed.base64}`;
      if (repo.keys.some((k) => k.key === content)) {
        return apiError(422, "This key has already been added to this repository");
      }
      if (repo.keys.some((k) => k.title === body.title)) {
        return apiError(422, "Key title has been used");
      }
      const key: FakeGiteaKey = {
        id: ids.key++,
        keyId: ids.key + 1000,
        key: content,
        title: body.title,
        fingerprint: parsed.fingerprintSha256,
        // Gitea's default is a read-write key: callers must ask for read_only.
        readOnly: body.read_only === true,
        createdAt: timestamp(),
      };
      repo.keys.push(key);
      return { status: 201, body: keyJson(repo, key) };
    }),
    admin("DELETE", `${R}/keys/:id`, (req, { repo }) => remove(repo.keys, req)),
    admin("GET", `${R}/hooks`, (req, { repo }) => page(req, repo.hooks.map(hookJson))),
    admin("GET", `${R}/hooks/:id`, (req, { repo }) => {
      const hook = repo.hooks.find((h) => String(h.id) === req.params.id);
      return hook ? { status: 200, body: hookJson(hook) } : notFound();
    }),
    admin("POST", `${R}/hooks`, (req, { repo }) => {
      const request = objectBody(req);
      if (isReply(request)) return request;
      const body = request.json;
      if (typeof body.type !== "string" || body.type === "") return fieldError("Type", "Required");
      if (!HOOK_TYPES.includes(body.type)) return apiError(422, "Invalid hook type");
      const config = hookConfig(body.config, true);
      if (isReply(config)) return config;
      const events = hookEvents(body.events);
      if (isReply(events)) return events;
      if (body.active !== undefined && typeof body.active !== "boolean") {
        return fieldError("Active", "invalid boolean");
      }
      const filter = body.branch_filter ?? "";
      if (typeof filter !== "string") return fieldError("BranchFilter", "invalid string");
      const at = timestamp();
      const hook: FakeGiteaHook = {
        id: ids.hook++,
        type: body.type,
        url: config.url!,
        contentType: config.contentType!,
        secret: config.secret ?? "",
        events: events.length === 0 ? ["push"] : events,
        branchFilter: filter,
        // Gitea's CreateHookOption: `active` defaults to false.
        active: body.active === true,
        createdAt: at,
        updatedAt: at,
      };
      repo.hooks.push(hook);
      return { status: 201, body: hookJson(hook) };
    }),
    admin("PATCH", `${R}/hooks/:id`, (req, { repo }) => {
      const hook = repo.hooks.find((h) => String(h.id) === req.params.id);
      if (!hook) return notFound();
      const request = objectBody(req);
      if (isReply(request)) return request;
      const body = request.json;
      const config = body.config === undefined ? {} : hookConfig(body.config, false);
      if (isReply(config)) return config;
      const events = body.events === undefined ? undefined : hookEvents(body.events);
      if (events && isReply(events)) return events;
      if (body.active !== undefined && typeof body.active !== "boolean") {
        return fieldError("Active", "invalid boolean");
      }
      if (config.url !== undefined) hook.url = config.url;
      if (config.contentType !== undefined) hook.contentType = config.contentType;
      if (config.secret !== undefined) hook.secret = config.secret;
      if (events !== undefined) hook.events = events.length === 0 ? ["push"] : events;
      if (typeof body.active === "boolean") hook.active = body.active;
      if (typeof body.branch_filter === "string") hook.branchFilter = body.branch_filter;
      hook.updatedAt = timestamp();
      return { status: 200, body: hookJson(hook) };
    }),
    admin("DELETE", `${R}/hooks/:id`, (req, { repo }) => remove(repo.hooks, req)),
    reader("GET", `${R}/statuses/:sha`, (req, { repo }) => {
      const sha = req.params.sha!;
      return page(
        req,
        (repo.statuses.get(sha) ?? []).map((s) => statusJson(repo, sha, s)),
      );
    }),
    writer("POST", `${R}/statuses/:sha`, (req, { repo }) => {
      const sha = req.params.sha!;
      if (!repo.commits.has(sha)) {
        return apiError(404, `object does not exist [id: ${sha.slice(0, 64)}, rel_path: ]`);
      }
      const request = objectBody(req);
      if (isReply(request)) return request;
      const body = request.json;
      if (typeof body.state !== "string" || !STATUS_STATES.includes(body.state)) {
        return fieldError("State", "invalid commit status state");
      }
      for (const field of ["target_url", "description", "context"]) {
        if (body[field] !== undefined && typeof body[field] !== "string") {
          return fieldError(field, "invalid string");
        }
      }
      const targetUrl = (body.target_url as string | undefined) ?? "";
      if (targetUrl !== "" && !/^https?:\/\/\S+$/.test(targetUrl)) {
        return fieldError("TargetURL", "Url");
      }
      const status: FakeGiteaStatus = {
        id: ids.status++,
        state: body.state,
        targetUrl,
        description: (body.description as string | undefined) ?? "",
        context: (body.context as string | undefined) || "default",
        createdAt: timestamp(),
      };
      const list = repo.statuses.get(sha) ?? [];
      list.push(status);
      repo.statuses.set(sha, list);
      return { status: 201, body: statusJson(repo, sha, status) };
    }),
  ];

  function hookConfig(
    value: unknown,
    creating: boolean,
  ): { url?: string; contentType?: "json" | "form"; secret?: string } | Reply {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      return creating ? fieldError("Config", "Required") : fieldError("Config", "invalid map");
    }
    const config = value as Record<string, unknown>;
    if (Object.values(config).some((v) => typeof v !== "string")) {
      return fieldError("Config", "values must be strings");
    }
    const { url, content_type: contentType, secret } = config as Record<string, string>;
    if (creating && (url === undefined || url === "")) {
      return apiError(422, "Missing config option: url");
    }
    if (creating && contentType === undefined) {
      return apiError(422, "Missing config option: content_type");
    }
    if (contentType !== undefined && contentType !== "json" && contentType !== "form") {
      return apiError(422, "Invalid content type");
    }
    if (url !== undefined) {
      try {
        const parsed = new URL(url);
        if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error();
      } catch {
        return apiError(422, "Invalid url");
      }
    }
    return { url, contentType, secret };
  }

  function hookEvents(value: unknown): string[] | Reply {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || value.some((e) => typeof e !== "string")) {
      return fieldError("Events", "invalid list");
    }
    // Gitea keeps the names it knows and silently drops the others.
    const known = new Set([...OTHER_EVENTS, ...PULL_REQUEST_EVENTS]);
    return [...new Set((value as string[]).filter((e) => known.has(e)))];
  }

  // ---------- webhook deliveries, as services/webhook/deliver.go sends them ----------

  function branchMatches(filter: string, branch: string): boolean {
    if (filter === "" || filter === "*") return true;
    // Gitea's branch filter is a glob, with `{a,b}` alternatives.
    const alternatives = /^\{(.*)\}$/.exec(filter)?.[1]?.split(",") ?? [filter];
    const toRegExp = (glob: string) =>
      glob
        .split("**")
        .map((part) =>
          part
            .split("*")
            .map((literal) => literal.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
            .join("[^/]*"),
        )
        .join(".*");
    return alternatives.some((glob) => new RegExp(`^${toRegExp(glob)}$`).test(branch));
  }

  async function deliver(
    repo: Repo,
    event: "push" | "pull_request",
    eventType: string,
    payload: unknown,
    branch?: string,
  ): Promise<FakeGiteaDelivery[]> {
    const json = JSON.stringify(payload, null, 2);
    const deliveries: FakeGiteaDelivery[] = [];
    for (const hook of repo.hooks) {
      if (!hook.active || !hook.events.includes(event)) continue;
      if (event === "push" && branch !== undefined && !branchMatches(hook.branchFilter, branch)) {
        continue;
      }
      const id = randomUUID();
      // Signed over the JSON payload, whatever the content type (a form body is not what is signed).
      const sha256 = hook.secret
        ? createHmac("sha256", hook.secret).update(json).digest("hex")
        : "";
      const sha1 = hook.secret ? createHmac("sha1", hook.secret).update(json).digest("hex") : "";
      const body =
        hook.contentType === "json" ? json : new URLSearchParams({ payload: json }).toString();
      const headers: Record<string, string> = {
        "content-type":
          hook.contentType === "json" ? "application/json" : "application/x-www-form-urlencoded",
        "user-agent": "Go-http-client/1.1",
        "x-gitea-delivery": id,
        "x-gitea-event": event,
        "x-gitea-event-type": eventType,
        "x-gitea-signature": sha256,
        "x-gogs-delivery": id,
        "x-gogs-event": event,
        "x-gogs-event-type": eventType,
        "x-gogs-signature": sha256,
        "x-hub-signature": `sha1=${sha1}`,
        "x-hub-signature-256": `sha256=${sha256}`,
        "x-github-delivery": id,
        "x-github-event": event,
        "x-github-event-type": eventType,
      };
      deliveries.push({
        hookId: hook.id,
        url: hook.url,
        event,
        headers,
        body,
        // Gitea's [webhook] DELIVER_TIMEOUT defaults to 5 s.
        ...(await sendDelivery(hook.url, headers, body, 5_000)),
      });
    }
    return deliveries;
  }

  // ---------- the server ----------

  const server = await startFakeServer({
    routes,
    notFound: (req) =>
      req.path.startsWith("/api/v1/")
        ? notFound()
        : { status: 404, body: "Not found.\n", headers: { "content-type": "text/plain" } },
  });
  base = server.url;

  const userNamed = (login: string): User => {
    const user = users.get(login);
    if (!user) throw new Error(`no user ${login} in the fake`);
    return user;
  };

  return {
    ...server,
    baseUrl: base,
    addUser(login) {
      const user: User = {
        id: ids.user++,
        login,
        fullName: login,
        email: `${login}@noreply.gitea.example`,
      };
      users.set(login, user);
      return { id: user.id, login };
    },
    token(login, scopes = SLIPWAY_GITEA_SCOPES) {
      const secret = randomBytes(20).toString("hex");
      tokens.push({ secret, user: userNamed(login), scopes: new Set(scopes) });
      return secret;
    },
    revoke(token) {
      const index = tokens.findIndex((t) => t.secret === token);
      if (index >= 0) tokens.splice(index, 1);
    },
    addRepo(owner, opts) {
      const repo: Repo = {
        id: ids.repo++,
        owner: userNamed(owner),
        name: opts.name,
        isPrivate: opts.private ?? true,
        defaultBranch: opts.defaultBranch ?? "main",
        sshUrl: opts.sshUrl,
        collaborators: new Map(Object.entries(opts.collaborators ?? {})),
        branches: new Map(),
        commits: new Set(),
        trees: new Map(),
        keys: [],
        hooks: [],
        statuses: new Map(),
        createdAt: timestamp(),
      };
      for (const login of repo.collaborators.keys()) userNamed(login);
      const sha = randomSha();
      repo.branches.set(repo.defaultBranch, sha);
      repo.commits.add(sha);
      repos.push(repo);
      return { id: repo.id, fullName: fullName(repo) };
    },
    setBranch(name, branch, sha = randomSha()) {
      const repo = repoByFullName(name);
      repo.branches.set(branch, sha);
      repo.commits.add(sha);
      return sha;
    },
    commitFiles(name, branch, files) {
      const repo = repoByFullName(name);
      const parent = repo.branches.get(branch);
      const sha = randomSha();
      const tree = new Map(parent === undefined ? [] : (repo.trees.get(parent) ?? []));
      for (const [path, content] of Object.entries(files)) tree.set(path, content);
      repo.trees.set(sha, tree);
      repo.branches.set(branch, sha);
      repo.commits.add(sha);
      return sha;
    },
    deployKeys: (name) => repoByFullName(name).keys,
    hooks: (name) => repoByFullName(name).hooks,
    statuses: (name, sha) => repoByFullName(name).statuses.get(sha) ?? [],
    removeDeployKeyByHand(name, id) {
      const repo = repoByFullName(name);
      repo.keys = repo.keys.filter((k) => k.id !== id);
    },
    editHookByHand(name, id, change) {
      const hook = repoByFullName(name).hooks.find((h) => h.id === id);
      if (!hook) throw new Error(`no hook ${id}`);
      Object.assign(hook, change);
    },
    async push(name, branch, sha = randomSha()) {
      const repo = repoByFullName(name);
      const before = repo.branches.get(branch) ?? "0".repeat(40);
      repo.branches.set(branch, sha);
      repo.commits.add(sha);
      const pusher = userJson(repo.owner);
      const commit = {
        id: sha,
        message: "Update the site\n",
        url: `${base}/${fullName(repo)}/commit/${sha}`,
        author: { name: repo.owner.login, email: repo.owner.email, username: repo.owner.login },
        committer: { name: repo.owner.login, email: repo.owner.email, username: repo.owner.login },
        verification: null,
        timestamp: timestamp(),
        added: ["index.html"],
        removed: [],
        modified: [],
      };
      const payload = {
        ref: `refs/heads/${branch}`,
        before,
        after: sha,
        compare_url: `${base}/${fullName(repo)}/compare/${before.slice(0, 10)}...${sha.slice(0, 10)}`,
        commits: [commit],
        total_commits: 1,
        head_commit: commit,
        repository: repoJson(repo, repo.owner),
        pusher,
        sender: pusher,
      };
      return deliver(repo, "push", "push", payload, branch);
    },
    async pullRequest(name, pr) {
      const repo = repoByFullName(name);
      const sha = pr.sha ?? repo.branches.get(pr.head) ?? randomSha();
      repo.commits.add(sha);
      const sender = userJson(repo.owner);
      const headRepo = pr.fromFork
        ? { ...repoJson(repo, undefined), full_name: pr.fromFork, id: 90_000 + pr.number }
        : repoJson(repo, repo.owner);
      const payload = {
        action: pr.action,
        number: pr.number,
        pull_request: {
          id: 5000 + pr.number,
          number: pr.number,
          user: sender,
          title: `Pull request ${pr.number}`,
          state: pr.action === "closed" ? "closed" : "open",
          merged: pr.merged ?? false,
          html_url: `${base}/${fullName(repo)}/pulls/${pr.number}`,
          head: { label: pr.head, ref: pr.head, sha, repo_id: headRepo.id, repo: headRepo },
          base: {
            label: pr.base,
            ref: pr.base,
            sha: repo.branches.get(pr.base) ?? randomSha(),
            repo_id: repo.id,
            repo: repoJson(repo, repo.owner),
          },
        },
        repository: repoJson(repo, repo.owner),
        sender,
      };
      const eventType = pr.action === "synchronized" ? "pull_request_sync" : "pull_request";
      return deliver(repo, "pull_request", eventType, payload);
    },
  };
}
