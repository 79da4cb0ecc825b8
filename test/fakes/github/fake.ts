import {
  createHmac,
  createPublicKey,
  randomBytes,
  randomUUID,
  verify,
  type KeyObject,
} from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { run, runChecked } from "../../../src/lib/run.ts";
import {
  sendDelivery,
  startFakeServer,
  type FakeReply,
  type FakeRequest,
  type FakeRoute,
  type FakeServer,
  type LoggedRequest,
} from "../server.ts";
import { startGitHttp, type GitAuthDecision, type GitHttpServer } from "./git-http.ts";
import { startGitSsh, type GitSshServer } from "./git-ssh.ts";

/**
 * # A strict fake of GitHub's REST API (v3, `X-GitHub-Api-Version: 2022-11-28`)
 *
 * Written from GitHub's public REST documentation for the endpoints Slipway uses: users,
 * repositories, branches, deploy keys, repository webhooks, commit statuses, and GitHub Apps
 * (`/app`, installations, installation access tokens, `/installation/repositories`), plus git
 * smart HTTP over TLS for HTTPS clones and signed webhook deliveries. It answers with GitHub's
 * shapes (integer ids, `full_name`, `clone_url`, hook `config` and `last_response`) and status
 * codes, and refuses what GitHub refuses:
 *
 * - credentials: classic tokens (`ghp_…`, scopes from a table, reported in `X-OAuth-Scopes`),
 *   fine-grained tokens (`github_pat_…`, per-repository permissions, no scopes header), App
 *   JWTs (RS256 verified with the App's PUBLIC key; `iat`/`exp` checked, at most 10 minutes)
 *   and installation tokens (`ghs_…`, one hour, limited to the installation's repositories and
 *   permissions). A JWT only calls `/app/...`; an installation token never does.
 * - a private repository the caller may not see is `404 {"message":"Not Found"}`, not 403;
 * - a missing permission is `403 Resource not accessible by personal access token` (or `by
 *   integration`); a user without admin rights gets `403 Must have admin rights to Repository.`;
 * - `422 Validation Failed` with `errors: [{resource, code, field, message}]` for bad input,
 *   `key is already in use`, `Hook already exists on this repository`;
 * - no `User-Agent` is a 403, as GitHub's API requires one.
 */

const DOCS = "https://docs.github.com/rest";
const API_VERSIONS = ["2022-11-28"];
const TOKEN_LIFETIME_MS = 60 * 60_000;
const JWT_MAX_LIFETIME_S = 600;

export type Permission = "read" | "write";
/** GitHub's repository permission names used here. */
export type PermissionName =
  "administration" | "repository_hooks" | "statuses" | "contents" | "metadata" | "pull_requests";
export type Permissions = Partial<Record<PermissionName, Permission>>;

export interface FakeUser {
  id: number;
  login: string;
}

export interface FakeDeployKey {
  id: number;
  title: string;
  key: string;
  readOnly: boolean;
  createdAt: string;
}

export interface FakeHook {
  id: number;
  active: boolean;
  events: string[];
  config: { url: string; content_type: string; secret?: string; insecure_ssl: string };
  lastResponse: { code: number | null; status: string; message: string | null };
  createdAt: string;
  updatedAt: string;
}

export interface FakeStatus {
  id: number;
  sha: string;
  state: string;
  targetUrl: string | null;
  description: string | null;
  context: string;
  createdAt: string;
}

export interface FakeRepo {
  id: number;
  owner: FakeUser;
  name: string;
  fullName: string;
  private: boolean;
  defaultBranch: string;
  /** Logins with admin rights (the owner always has them). */
  admins: Set<string>;
  /** Logins with write access. */
  writers: Set<string>;
  /** Logins with read access. */
  readers: Set<string>;
  keys: FakeDeployKey[];
  hooks: FakeHook[];
  statuses: FakeStatus[];
  /** The bare repository served over smart HTTP. */
  gitDir: string;
}

export interface FakeApp {
  id: number;
  slug: string;
  name: string;
  owner: FakeUser;
  publicKey: KeyObject;
  permissions: Permissions;
  /**
   * The App's one webhook (App settings → Webhook): every installation's events go there,
   * with `installation: {id}` in the payload. Installation events are always sent.
   */
  webhook: FakeAppWebhook | null;
}

export interface FakeAppWebhook {
  url: string;
  secret?: string;
  active: boolean;
  /** Repository events the App subscribes to (`push`, `pull_request`). */
  events: string[];
}

export interface FakeInstallation {
  id: number;
  appId: number;
  account: FakeUser;
  /** `all`: every repository of the account; otherwise these repository ids. */
  repositories: "all" | number[];
  permissions: Permissions;
  suspended: boolean;
}

type TokenRecord =
  | { kind: "classic"; token: string; user: FakeUser; scopes: string[] }
  | {
      kind: "fine_grained";
      token: string;
      user: FakeUser;
      repositories: "all" | number[];
      permissions: Permissions;
    }
  | {
      kind: "installation";
      token: string;
      installationId: number;
      repositoryIds: number[] | null;
      permissions: Permissions;
      expiresAt: number;
    };

type Caller =
  | { kind: "anonymous" }
  | { kind: "classic"; user: FakeUser; scopes: string[] }
  | {
      kind: "fine_grained";
      user: FakeUser;
      repositories: "all" | number[];
      permissions: Permissions;
    }
  | { kind: "app"; app: FakeApp }
  | {
      kind: "installation";
      installation: FakeInstallation;
      record: TokenRecord & { kind: "installation" };
    };

export interface WebhookDelivery {
  url: string;
  event: string;
  deliveryId: string;
  status: number | null;
  error?: string;
}

export interface GitHubFake {
  /** The API base URL (`http://127.0.0.1:<port>`), as `https://api.github.com` is GitHub's. */
  url: string;
  /** Git over HTTPS (`https://localhost:<port>`), as `https://github.com` is GitHub's. */
  gitUrl: string;
  /** The git server's self-signed certificate (PEM file), for `http.sslCAInfo`. */
  caFile: string;
  /** Git over SSH for deploy keys (`ssh_url` is `ssh://git@localhost:<sshPort>/owner/repo.git`). */
  sshPort: number;
  /** Every git-over-SSH command and whether the key was allowed. */
  sshRequests: Array<{ command: string; allowed: boolean }>;
  /** Every API request: method, path, status. */
  requests: LoggedRequest[];
  /** Every git request: path, status, whether credentials were accepted. */
  gitRequests: Array<{ path: string; status: number; authorized: boolean }>;
  /** Every webhook the fake sent. */
  deliveries: WebhookDelivery[];
  /** The `Authorization` header of every API request (to check what an adapter sent). */
  authorizations: Array<string | undefined>;
  addUser(login: string): FakeUser;
  /** A classic personal access token with these scopes. */
  addClassicToken(login: string, scopes: string[]): string;
  /** A fine-grained personal access token on some repositories (`owner/name`) or all. */
  addFineGrainedToken(
    login: string,
    repositories: "all" | string[],
    permissions: Permissions,
  ): string;
  revokeToken(token: string): void;
  addRepo(
    owner: string,
    name: string,
    options?: {
      private?: boolean;
      defaultBranch?: string;
      admins?: string[];
      writers?: string[];
      readers?: string[];
    },
  ): Promise<FakeRepo>;
  repo(fullName: string): FakeRepo;
  /** Commits files to a branch of the repository (created if needed); returns the sha. */
  commit(fullName: string, files: Record<string, string>, branch?: string): Promise<string>;
  /** Makes `names` branches at the head of the default branch (`git branch`, no push event). */
  addBranches(fullName: string, names: string[]): Promise<void>;
  addApp(options: {
    slug: string;
    owner: string;
    publicKey: KeyObject | string;
    permissions?: Permissions;
    webhook?: { url: string; secret?: string; events?: string[] };
  }): FakeApp;
  /** Sets (or removes, with null) the App's webhook. */
  setAppWebhook(
    appId: number,
    webhook: { url: string; secret?: string; events?: string[]; active?: boolean } | null,
  ): void;
  /** Uninstalls the App: the installation is gone, and `installation` `deleted` is delivered. */
  uninstallApp(installationId: number): Promise<WebhookDelivery | undefined>;
  /**
   * Changes an installation's repositories and delivers `installation_repositories` (`added`,
   * `removed`) to the App's webhook, as GitHub does when its owner edits Repository access.
   */
  changeInstallationRepositories(
    installationId: number,
    repositories: string[],
  ): Promise<WebhookDelivery[]>;
  installApp(
    appId: number,
    account: string,
    options?: { repositories?: "all" | string[]; permissions?: Permissions },
  ): FakeInstallation;
  /** Changes an installation's repository access (`all` or `owner/name` list). */
  setInstallationRepositories(installationId: number, repositories: "all" | string[]): void;
  suspendInstallation(installationId: number, suspended: boolean): void;
  /** Git over HTTPS waits this long before each answer (0: none). */
  delayGit(ms: number): void;
  /** Every API call answers GitHub's rate-limit 403 until called with false. */
  exhaustRateLimit(exhausted: boolean): void;
  /** Sends a webhook to `url`, signed with `secret` as GitHub does. */
  sendWebhook(
    url: string,
    event: string,
    payload: unknown,
    options?: {
      secret?: string;
      hookId?: number;
      deliveryId?: string;
      /** An App's delivery: `X-GitHub-Hook-Installation-Target-Type: integration` and its id. */
      appId?: number;
    },
  ): Promise<WebhookDelivery>;
  /**
   * Commits to a branch and delivers `push` to every active hook subscribed to it, and to the
   * webhook of every App installed on the repository (with `installation: {id}`).
   */
  push(
    fullName: string,
    branch: string,
    files: Record<string, string>,
  ): Promise<{ sha: string; deliveries: WebhookDelivery[] }>;
  close(): Promise<void>;
}

/** `sha256=<hex HMAC-SHA256(secret, raw body)>`, GitHub's `X-Hub-Signature-256`. */
export function githubSignature(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

// ---------------------------------------------------------------------------------------------
// Replies in GitHub's words

const json = (status: number, body: unknown, headers?: Record<string, string>): FakeReply => ({
  status,
  body,
  ...(headers ? { headers } : {}),
});
const notFound = (): FakeReply => json(404, { message: "Not Found", documentation_url: DOCS });
const badCredentials = (): FakeReply =>
  json(401, { message: "Bad credentials", documentation_url: DOCS });
const forbidden = (message: string): FakeReply => json(403, { message, documentation_url: DOCS });
const validationFailed = (
  errors: Array<{ resource: string; code: string; field?: string; message?: string }>,
): FakeReply => json(422, { message: "Validation Failed", errors, documentation_url: DOCS });
const noContent = (): FakeReply => ({ status: 204 });

const SSH_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) ([A-Za-z0-9+/]+={0,2})(?: .*)?$/;
const HOOK_EVENTS = new Set([
  "*",
  "push",
  "pull_request",
  "create",
  "delete",
  "release",
  "status",
  "issues",
  "issue_comment",
  "pull_request_review",
  "check_run",
  "check_suite",
]);
const STATUS_STATES = new Set(["error", "failure", "pending", "success"]);
const LEVEL: Record<Permission, number> = { read: 1, write: 2 };

/** `type base64-blob [comment]`, where the blob really is an SSH key of that type. */
function isOpenSshPublicKey(text: string): boolean {
  const match = SSH_KEY.exec(text.trim());
  if (!match) return false;
  const blob = Buffer.from(match[2]!, "base64");
  if (blob.length < 4) return false;
  const length = blob.readUInt32BE(0);
  return blob.length > 4 + length && blob.subarray(4, 4 + length).toString("latin1") === match[1];
}

const keyBlob = (key: string): string => key.trim().split(/\s+/).slice(0, 2).join(" ");

export async function startGitHubFake(): Promise<GitHubFake> {
  const root = await mkdtemp(join(tmpdir(), "slipway-github-fake-"));
  const users = new Map<string, FakeUser>();
  const repos = new Map<string, FakeRepo>(); // by lower-case full name
  const tokens = new Map<string, TokenRecord>();
  const apps = new Map<number, FakeApp>();
  const installations = new Map<number, FakeInstallation>();
  const deliveries: WebhookDelivery[] = [];
  const authorizations: Array<string | undefined> = [];
  const gitRequests: GitHubFake["gitRequests"] = [];
  let nextId = 1000;
  const id = () => ++nextId;
  let rateLimited = false;
  let gitDelayMs = 0;
  let gitUrl = "";
  let sshPort = 0;
  const sshRequests: GitHubFake["sshRequests"] = [];
  let apiUrl = "";

  const now = () => new Date().toISOString();
  const userOf = (login: string): FakeUser => {
    const user = users.get(login.toLowerCase());
    if (!user) throw new Error(`fake GitHub: no user ${login}`);
    return user;
  };
  const repoById = (repoId: number) => [...repos.values()].find((r) => r.id === repoId);
  const repoOf = (fullName: string): FakeRepo => {
    const repo = repos.get(fullName.toLowerCase());
    if (!repo) throw new Error(`fake GitHub: no repository ${fullName}`);
    return repo;
  };

  // -------------------------------------------------------------------------------------------
  // Authentication

  function verifyJwt(jwt: string): { app: FakeApp } | { reply: FakeReply } {
    const undecodable = json(401, {
      message: "A JSON web token could not be decoded",
      documentation_url: DOCS,
    });
    const parts = jwt.split(".");
    if (parts.length !== 3) return { reply: undecodable };
    let header: Record<string, unknown>;
    let payload: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8")) as Record<
        string,
        unknown
      >;
      payload = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as Record<
        string,
        unknown
      >;
    } catch {
      return { reply: undecodable };
    }
    if (header.alg !== "RS256") return { reply: undecodable };
    const iss = typeof payload.iss === "string" ? Number(payload.iss) : payload.iss;
    const app = typeof iss === "number" ? apps.get(iss) : undefined;
    if (!app) {
      return { reply: json(401, { message: "Integration not found", documentation_url: DOCS }) };
    }
    const signed = verify(
      "sha256",
      Buffer.from(`${parts[0]}.${parts[1]}`),
      app.publicKey,
      Buffer.from(parts[2]!, "base64url"),
    );
    if (!signed) return { reply: undecodable };
    const nowS = Math.floor(Date.now() / 1000);
    const { iat, exp } = payload;
    if (typeof iat !== "number" || !Number.isInteger(iat) || iat > nowS + 5) {
      return {
        reply: json(401, {
          message:
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.",
          documentation_url: DOCS,
        }),
      };
    }
    if (typeof exp !== "number" || !Number.isInteger(exp) || exp <= nowS) {
      return {
        reply: json(401, {
          message:
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.",
          documentation_url: DOCS,
        }),
      };
    }
    if (exp > nowS + JWT_MAX_LIFETIME_S || exp - iat > JWT_MAX_LIFETIME_S + 60) {
      return {
        reply: json(401, {
          message: "'Expiration time' claim ('exp') is too far in the future.",
          documentation_url: DOCS,
        }),
      };
    }
    return { app };
  }

  /** The caller of an API request, or GitHub's refusal. */
  function authenticate(req: FakeRequest): { caller: Caller } | { reply: FakeReply } {
    const header = req.headers.authorization;
    authorizations.push(header);
    if (header === undefined) return { caller: { kind: "anonymous" } };
    const match = /^(?:Bearer|token)\s+(\S+)\s*$/i.exec(header);
    if (!match) return { reply: badCredentials() };
    const credential = match[1]!;
    if (credential.split(".").length === 3 && credential.startsWith("ey")) {
      const verified = verifyJwt(credential);
      return "reply" in verified ? verified : { caller: { kind: "app", app: verified.app } };
    }
    const record = tokens.get(credential);
    if (!record) return { reply: badCredentials() };
    switch (record.kind) {
      case "classic":
        return { caller: { kind: "classic", user: record.user, scopes: record.scopes } };
      case "fine_grained":
        return {
          caller: {
            kind: "fine_grained",
            user: record.user,
            repositories: record.repositories,
            permissions: record.permissions,
          },
        };
      case "installation": {
        const installation = installations.get(record.installationId);
        if (!installation || record.expiresAt <= Date.now()) return { reply: badCredentials() };
        return { caller: { kind: "installation", installation, record } };
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Access decisions, the way GitHub makes them

  const installationCovers = (installation: FakeInstallation, repo: FakeRepo): boolean =>
    repo.owner.id === installation.account.id &&
    (installation.repositories === "all" || installation.repositories.includes(repo.id));

  function roleOf(user: FakeUser, repo: FakeRepo): "admin" | "write" | "read" | undefined {
    const login = user.login.toLowerCase();
    if (repo.owner.id === user.id || repo.admins.has(login)) return "admin";
    if (repo.writers.has(login)) return "write";
    if (repo.readers.has(login)) return "read";
    return undefined;
  }

  /** Whether the caller can see the repository at all (else GitHub answers 404). */
  function canSee(caller: Caller, repo: FakeRepo): boolean {
    switch (caller.kind) {
      case "anonymous":
        return !repo.private;
      case "app":
        return false;
      case "classic":
        if (!repo.private) return true;
        return roleOf(caller.user, repo) !== undefined && caller.scopes.includes("repo");
      case "fine_grained":
        if (caller.repositories !== "all" && !caller.repositories.includes(repo.id)) {
          return !repo.private;
        }
        return !repo.private || roleOf(caller.user, repo) !== undefined;
      case "installation": {
        const restricted = caller.record.repositoryIds;
        if (!installationCovers(caller.installation, repo)) return !repo.private;
        return restricted === null || restricted.includes(repo.id);
      }
    }
  }

  type Need = {
    permission: PermissionName;
    level: Permission;
    /** Classic scopes that allow it (any of them). */
    scopes: string[];
    /** The user's role the call requires. */
    role: "admin" | "write" | "read";
  };

  const NEEDS = {
    readRepo: { permission: "metadata", level: "read", scopes: [], role: "read" },
    readContents: { permission: "contents", level: "read", scopes: [], role: "read" },
    readKeys: {
      permission: "administration",
      level: "read",
      scopes: ["repo", "public_repo"],
      role: "admin",
    },
    writeKeys: {
      permission: "administration",
      level: "write",
      scopes: ["repo", "public_repo"],
      role: "admin",
    },
    readHooks: {
      permission: "repository_hooks",
      level: "read",
      scopes: ["repo", "admin:repo_hook", "write:repo_hook", "read:repo_hook"],
      role: "admin",
    },
    writeHooks: {
      permission: "repository_hooks",
      level: "write",
      scopes: ["repo", "admin:repo_hook", "write:repo_hook"],
      role: "admin",
    },
    writeStatuses: {
      permission: "statuses",
      level: "write",
      scopes: ["repo", "repo:status"],
      role: "write",
    },
    readStatuses: {
      permission: "statuses",
      level: "read",
      scopes: ["repo", "repo:status"],
      role: "read",
    },
  } satisfies Record<string, Need>;

  const hasPermission = (granted: Permissions, need: Need): boolean => {
    if (need.permission === "metadata") return true; // implied by any repository permission
    const level = granted[need.permission];
    return level !== undefined && LEVEL[level] >= LEVEL[need.level];
  };

  /**
   * The repository named by the route, if the caller may do `need` on it; otherwise GitHub's
   * refusal: 401/404/403 as the real API answers.
   */
  function access(
    req: FakeRequest,
    need: Need,
  ): { repo: FakeRepo; caller: Caller } | { reply: FakeReply } {
    const auth = authenticate(req);
    if ("reply" in auth) return auth;
    const { caller } = auth;
    const repo =
      req.params.repository_id !== undefined
        ? repoById(Number(req.params.repository_id))
        : repos.get(`${req.params.owner}/${req.params.repo}`.toLowerCase());
    if (caller.kind === "app") {
      return { reply: forbidden("Resource not accessible by integration") };
    }
    if (!repo || !canSee(caller, repo)) return { reply: notFound() };
    const accepted = { "x-accepted-oauth-scopes": need.scopes.join(", ") };
    const publicRead =
      !repo.private &&
      need.level === "read" &&
      (need.permission === "metadata" || need.permission === "contents");
    const roleRefusal = (): FakeReply =>
      forbidden(
        need.role === "admin"
          ? "Must have admin rights to Repository."
          : "Resource not accessible by personal access token",
      );
    switch (caller.kind) {
      case "anonymous":
        if (publicRead) return { repo, caller };
        return {
          reply: json(401, { message: "Requires authentication", documentation_url: DOCS }),
        };
      case "classic":
        if (need.scopes.length > 0 && !need.scopes.some((s) => caller.scopes.includes(s))) {
          // A scope the token lacks: GitHub hides the resource, and says which scopes it accepts.
          return { reply: { ...notFound(), headers: accepted } };
        }
        if (!publicRead && !roleAllows(roleOf(caller.user, repo), need.role)) {
          return { reply: roleRefusal() };
        }
        return { repo, caller };
      case "fine_grained": {
        if (publicRead) return { repo, caller };
        const selected = caller.repositories === "all" || caller.repositories.includes(repo.id);
        if (!selected || !hasPermission(caller.permissions, need)) {
          return { reply: forbidden("Resource not accessible by personal access token") };
        }
        if (!roleAllows(roleOf(caller.user, repo), need.role)) return { reply: roleRefusal() };
        return { repo, caller };
      }
      case "installation": {
        if (publicRead) return { repo, caller };
        const restricted = caller.record.repositoryIds;
        const covered =
          installationCovers(caller.installation, repo) &&
          (restricted === null || restricted.includes(repo.id));
        if (!covered || !hasPermission(caller.record.permissions, need)) {
          return { reply: forbidden("Resource not accessible by integration") };
        }
        return { repo, caller };
      }
    }
  }

  const roleAllows = (
    role: "admin" | "write" | "read" | undefined,
    needed: Need["role"],
  ): boolean => {
    const rank = { read: 1, write: 2, admin: 3 } as const;
    return role !== undefined && rank[role] >= rank[needed];
  };

  /** `/app/...` endpoints: only an App's JWT. */
  function appCaller(req: FakeRequest): { app: FakeApp } | { reply: FakeReply } {
    const auth = authenticate(req);
    if ("reply" in auth) return auth;
    if (auth.caller.kind === "app") return { app: auth.caller.app };
    // Anything but a JWT (no credentials, a token) is not one GitHub can decode here.
    return {
      reply: json(401, {
        message: "A JSON web token could not be decoded",
        documentation_url: DOCS,
      }),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Response shapes (GitHub's, trimmed to what matters)

  const userJson = (user: FakeUser) => ({
    login: user.login,
    id: user.id,
    node_id: `U_${user.id}`,
    type: "User",
    site_admin: false,
    html_url: `${gitUrl}/${user.login}`,
    url: `${apiUrl}/users/${user.login}`,
  });

  const repoJson = (repo: FakeRepo, caller?: Caller) => ({
    id: repo.id,
    node_id: `R_${repo.id}`,
    name: repo.name,
    full_name: repo.fullName,
    private: repo.private,
    visibility: repo.private ? "private" : "public",
    owner: userJson(repo.owner),
    html_url: `${gitUrl}/${repo.fullName}`,
    url: `${apiUrl}/repos/${repo.fullName}`,
    clone_url: `${gitUrl}/${repo.fullName}.git`,
    git_url: `git://localhost/${repo.fullName}.git`,
    ssh_url: `ssh://git@localhost:${sshPort}/${repo.fullName}.git`,
    default_branch: repo.defaultBranch,
    archived: false,
    disabled: false,
    fork: false,
    ...(caller && (caller.kind === "classic" || caller.kind === "fine_grained")
      ? {
          permissions: {
            admin: roleOf(caller.user, repo) === "admin",
            push: roleAllows(roleOf(caller.user, repo), "write"),
            pull: true,
          },
        }
      : {}),
  });

  const keyJson = (repo: FakeRepo, key: FakeDeployKey) => ({
    id: key.id,
    key: key.key,
    url: `${apiUrl}/repos/${repo.fullName}/keys/${key.id}`,
    title: key.title,
    verified: true,
    created_at: key.createdAt,
    read_only: key.readOnly,
    added_by: null,
    last_used: null,
  });

  const hookJson = (repo: FakeRepo, hook: FakeHook) => ({
    type: "Repository",
    id: hook.id,
    name: "web",
    active: hook.active,
    events: hook.events,
    config: {
      content_type: hook.config.content_type,
      insecure_ssl: hook.config.insecure_ssl,
      url: hook.config.url,
      ...(hook.config.secret !== undefined ? { secret: "********" } : {}),
    },
    updated_at: hook.updatedAt,
    created_at: hook.createdAt,
    url: `${apiUrl}/repos/${repo.fullName}/hooks/${hook.id}`,
    test_url: `${apiUrl}/repos/${repo.fullName}/hooks/${hook.id}/test`,
    ping_url: `${apiUrl}/repos/${repo.fullName}/hooks/${hook.id}/pings`,
    deliveries_url: `${apiUrl}/repos/${repo.fullName}/hooks/${hook.id}/deliveries`,
    last_response: hook.lastResponse,
  });

  const appJson = (app: FakeApp) => ({
    id: app.id,
    slug: app.slug,
    node_id: `A_${app.id}`,
    owner: userJson(app.owner),
    name: app.name,
    description: "",
    external_url: "https://example.test",
    html_url: `${gitUrl}/apps/${app.slug}`,
    created_at: now(),
    updated_at: now(),
    permissions: app.permissions,
    events: ["push", "pull_request"],
    installations_count: [...installations.values()].filter((i) => i.appId === app.id).length,
  });

  const installationJson = (installation: FakeInstallation) => ({
    id: installation.id,
    account: userJson(installation.account),
    repository_selection: installation.repositories === "all" ? "all" : "selected",
    access_tokens_url: `${apiUrl}/app/installations/${installation.id}/access_tokens`,
    repositories_url: `${apiUrl}/installation/repositories`,
    html_url: `${gitUrl}/settings/installations/${installation.id}`,
    app_id: installation.appId,
    target_id: installation.account.id,
    target_type: "User",
    permissions: installation.permissions,
    events: ["push", "pull_request"],
    created_at: now(),
    updated_at: now(),
    suspended_at: installation.suspended ? now() : null,
    suspended_by: null,
  });

  const installationRepos = (installation: FakeInstallation): FakeRepo[] =>
    [...repos.values()].filter((r) => installationCovers(installation, r));

  // -------------------------------------------------------------------------------------------
  // Routes

  const requireJsonBody = (req: FakeRequest): Record<string, unknown> | FakeReply => {
    if (req.raw.length === 0) return {};
    if (typeof req.json !== "object" || req.json === null || Array.isArray(req.json)) {
      return json(400, { message: "Problems parsing JSON", documentation_url: DOCS });
    }
    return req.json as Record<string, unknown>;
  };
  const isReply = (value: unknown): value is FakeReply =>
    typeof value === "object" &&
    value !== null &&
    "status" in value &&
    typeof (value as FakeReply).status === "number";

  const branchSha = async (repo: FakeRepo, branch: string): Promise<string | undefined> => {
    const result = await run(
      "git",
      [
        "--git-dir",
        repo.gitDir,
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        `refs/heads/${branch}^{commit}`,
      ],
      { env: gitEnv(root) },
    );
    return result.code === 0 ? result.stdout.trim() : undefined;
  };
  const commitExists = async (repo: FakeRepo, sha: string): Promise<boolean> => {
    const result = await run(
      "git",
      ["--git-dir", repo.gitDir, "cat-file", "-e", "--end-of-options", `${sha}^{commit}`],
      { env: gitEnv(root) },
    );
    return result.code === 0;
  };

  const routes: FakeRoute[] = [
    {
      method: "GET",
      pattern: "/user",
      handler: (req) => {
        const auth = authenticate(req);
        if ("reply" in auth) return auth.reply;
        const { caller } = auth;
        if (caller.kind === "anonymous") {
          return json(401, { message: "Requires authentication", documentation_url: DOCS });
        }
        if (caller.kind === "app" || caller.kind === "installation") {
          return forbidden("Resource not accessible by integration");
        }
        return json(
          200,
          { ...userJson(caller.user), name: caller.user.login, email: null },
          caller.kind === "classic"
            ? { "x-oauth-scopes": caller.scopes.join(", "), "x-accepted-oauth-scopes": "" }
            : {},
        );
      },
    },
    {
      method: "GET",
      pattern: "/user/repos",
      handler: (req) => {
        const auth = authenticate(req);
        if ("reply" in auth) return auth.reply;
        const { caller } = auth;
        if (caller.kind !== "classic" && caller.kind !== "fine_grained") {
          return caller.kind === "anonymous"
            ? json(401, { message: "Requires authentication", documentation_url: DOCS })
            : forbidden("Resource not accessible by integration");
        }
        const visible = [...repos.values()].filter(
          (r) => roleOf(caller.user, r) !== undefined && canSee(caller, r),
        );
        return paginate(
          req,
          visible.map((r) => repoJson(r, caller)),
        );
      },
    },
    {
      method: "GET",
      pattern: "/repos/:owner/:repo",
      handler: (req) => {
        const found = access(req, NEEDS.readRepo);
        return "reply" in found ? found.reply : json(200, repoJson(found.repo, found.caller));
      },
    },
    {
      method: "GET",
      pattern: "/repositories/:repository_id",
      handler: (req) => {
        const found = access(req, NEEDS.readRepo);
        return "reply" in found ? found.reply : json(200, repoJson(found.repo, found.caller));
      },
    },
    {
      method: "GET",
      pattern: "/repos/:owner/:repo/branches",
      handler: async (req) => {
        const found = access(req, NEEDS.readContents);
        if ("reply" in found) return found.reply;
        const heads = await run(
          "git",
          [
            "--git-dir",
            found.repo.gitDir,
            "for-each-ref",
            "--sort=refname",
            "--format=%(refname:strip=2) %(objectname)",
            "refs/heads/",
          ],
          { env: gitEnv(root) },
        );
        const branches = heads.stdout
          .split("\n")
          .filter((line) => line !== "")
          .map((line) => {
            const [name, sha] = line.split(" ");
            return {
              name,
              commit: { sha, url: `${apiUrl}/repos/${found.repo.fullName}/commits/${sha}` },
              protected: false,
            };
          });
        return paginate(req, branches);
      },
    },
    {
      method: "GET",
      pattern: "/repos/:owner/:repo/branches/:branch",
      handler: async (req) => {
        const found = access(req, NEEDS.readContents);
        if ("reply" in found) return found.reply;
        const sha = await branchSha(found.repo, req.params.branch!);
        if (sha === undefined) {
          return json(404, { message: "Branch not found", documentation_url: DOCS });
        }
        return json(200, {
          name: req.params.branch,
          commit: { sha, url: `${apiUrl}/repos/${found.repo.fullName}/commits/${sha}` },
          protected: false,
        });
      },
    },

    // Repository contents: one file, raw (`application/vnd.github.raw+json`) or as JSON with
    // its content in base64; a directory lists its entries.
    {
      method: "GET",
      pattern: "/repos/:owner/:repo/contents/*",
      handler: async (req) => {
        const found = access(req, NEEDS.readContents);
        if ("reply" in found) return found.reply;
        const ref = req.query.get("ref") ?? found.repo.defaultBranch;
        const path = req.params["*"]!.replace(/\/+$/, "");
        const git = (args: string[], input?: string) =>
          run("git", ["--git-dir", found.repo.gitDir, ...args], {
            env: gitEnv(root),
            ...(input === undefined ? {} : { input }),
          });
        const commit = await git([
          "rev-parse",
          "--verify",
          "--quiet",
          "--end-of-options",
          `${ref}^{commit}`,
        ]);
        if (commit.code !== 0) {
          return json(404, {
            message: `No commit found for the ref ${ref}`,
            documentation_url: DOCS,
          });
        }
        const sha = commit.stdout.trim();
        const check = await git(["cat-file", "--batch-check"], `${sha}:${path}\n`);
        const [oid, type, size] = check.stdout.trim().split(" ");
        if (type === "tree") {
          const listing = await git(["ls-tree", "--end-of-options", sha, `${path}/`]);
          return json(
            200,
            listing.stdout
              .split("\n")
              .filter((line) => line !== "")
              .map((line) => {
                const [meta, entryPath] = line.split("\t");
                const [, kind, entrySha] = meta!.split(" ");
                return {
                  type: kind === "tree" ? "dir" : "file",
                  name: entryPath!.split("/").at(-1),
                  path: entryPath,
                  sha: entrySha,
                };
              }),
          );
        }
        if (type !== "blob") return notFound();
        const content = await runChecked(
          "git",
          ["--git-dir", found.repo.gitDir, "cat-file", "blob", oid!],
          {
            env: gitEnv(root),
          },
        );
        if (/application\/vnd\.github\.raw/i.test(String(req.headers.accept ?? ""))) {
          return {
            status: 200,
            body: content,
            headers: { "content-type": "application/vnd.github.raw+json; charset=utf-8" },
          };
        }
        return json(200, {
          type: "file",
          encoding: "base64",
          size: Number(size),
          name: path.split("/").at(-1),
          path,
          content: Buffer.from(content).toString("base64"),
          sha: oid,
        });
      },
    },

    // Deploy keys
    {
      method: "GET",
      pattern: "/repos/:owner/:repo/keys",
      handler: (req) => {
        const found = access(req, NEEDS.readKeys);
        if ("reply" in found) return found.reply;
        return paginate(
          req,
          found.repo.keys.map((k) => keyJson(found.repo, k)),
        );
      },
    },
    {
      method: "GET",
      pattern: "/repos/:owner/:repo/keys/:key_id",
      handler: (req) => {
        const found = access(req, NEEDS.readKeys);
        if ("reply" in found) return found.reply;
        const key = found.repo.keys.find((k) => String(k.id) === req.params.key_id);
        return key ? json(200, keyJson(found.repo, key)) : notFound();
      },
    },
    {
      method: "POST",
      pattern: "/repos/:owner/:repo/keys",
      handler: (req) => {
        const found = access(req, NEEDS.writeKeys);
        if ("reply" in found) return found.reply;
        const body = requireJsonBody(req);
        if (isReply(body)) return body;
        if (typeof body.key !== "string" || body.key.trim() === "") {
          return validationFailed([{ resource: "PublicKey", code: "missing_field", field: "key" }]);
        }
        if (!isOpenSshPublicKey(body.key)) {
          return validationFailed([
            {
              resource: "PublicKey",
              code: "custom",
              field: "key",
              message: "key is invalid. You must supply a key in OpenSSH public key format",
            },
          ]);
        }
        if (body.title !== undefined && typeof body.title !== "string") {
          return validationFailed([{ resource: "PublicKey", code: "invalid", field: "title" }]);
        }
        if (body.read_only !== undefined && typeof body.read_only !== "boolean") {
          return validationFailed([{ resource: "PublicKey", code: "invalid", field: "read_only" }]);
        }
        const blob = keyBlob(body.key);
        const inUse = [...repos.values()].some((r) => r.keys.some((k) => keyBlob(k.key) === blob));
        if (inUse) {
          return validationFailed([
            {
              resource: "PublicKey",
              code: "custom",
              field: "key",
              message: "key is already in use",
            },
          ]);
        }
        const key: FakeDeployKey = {
          id: id(),
          title: typeof body.title === "string" ? body.title : "",
          key: blob, // GitHub keeps the type and key, not the comment
          readOnly: body.read_only === true,
          createdAt: now(),
        };
        found.repo.keys.push(key);
        return json(201, keyJson(found.repo, key));
      },
    },
    {
      method: "DELETE",
      pattern: "/repos/:owner/:repo/keys/:key_id",
      handler: (req) => {
        const found = access(req, NEEDS.writeKeys);
        if ("reply" in found) return found.reply;
        const index = found.repo.keys.findIndex((k) => String(k.id) === req.params.key_id);
        if (index === -1) return notFound();
        found.repo.keys.splice(index, 1);
        return noContent();
      },
    },

    // Repository webhooks
    {
      method: "GET",
      pattern: "/repos/:owner/:repo/hooks",
      handler: (req) => {
        const found = access(req, NEEDS.readHooks);
        if ("reply" in found) return found.reply;
        return paginate(
          req,
          found.repo.hooks.map((h) => hookJson(found.repo, h)),
        );
      },
    },
    {
      method: "GET",
      pattern: "/repos/:owner/:repo/hooks/:hook_id",
      handler: (req) => {
        const found = access(req, NEEDS.readHooks);
        if ("reply" in found) return found.reply;
        const hook = found.repo.hooks.find((h) => String(h.id) === req.params.hook_id);
        return hook ? json(200, hookJson(found.repo, hook)) : notFound();
      },
    },
    {
      method: "POST",
      pattern: "/repos/:owner/:repo/hooks",
      handler: (req) => {
        const found = access(req, NEEDS.writeHooks);
        if ("reply" in found) return found.reply;
        const body = requireJsonBody(req);
        if (isReply(body)) return body;
        if (body.name !== undefined && body.name !== "web") {
          return validationFailed([
            {
              resource: "Hook",
              code: "custom",
              message: `Name must be "web" (got ${String(body.name)})`,
            },
          ]);
        }
        const parsed = parseHookInput(body, undefined);
        if (isReply(parsed)) return parsed;
        if (found.repo.hooks.some((h) => h.config.url === parsed.config.url)) {
          return validationFailed([
            { resource: "Hook", code: "custom", message: "Hook already exists on this repository" },
          ]);
        }
        const hook: FakeHook = {
          id: id(),
          active: parsed.active ?? true,
          events: parsed.events ?? ["push"],
          config: parsed.config,
          lastResponse: { code: null, status: "unused", message: null },
          createdAt: now(),
          updatedAt: now(),
        };
        found.repo.hooks.push(hook);
        return json(201, hookJson(found.repo, hook));
      },
    },
    {
      method: "PATCH",
      pattern: "/repos/:owner/:repo/hooks/:hook_id",
      handler: (req) => {
        const found = access(req, NEEDS.writeHooks);
        if ("reply" in found) return found.reply;
        const hook = found.repo.hooks.find((h) => String(h.id) === req.params.hook_id);
        if (!hook) return notFound();
        const body = requireJsonBody(req);
        if (isReply(body)) return body;
        const parsed = parseHookInput(body, hook);
        if (isReply(parsed)) return parsed;
        if (found.repo.hooks.some((h) => h !== hook && h.config.url === parsed.config.url)) {
          return validationFailed([
            { resource: "Hook", code: "custom", message: "Hook already exists on this repository" },
          ]);
        }
        hook.config = parsed.config;
        if (parsed.events) hook.events = parsed.events;
        if (parsed.active !== undefined) hook.active = parsed.active;
        hook.updatedAt = now();
        return json(200, hookJson(found.repo, hook));
      },
    },
    {
      method: "DELETE",
      pattern: "/repos/:owner/:repo/hooks/:hook_id",
      handler: (req) => {
        const found = access(req, NEEDS.writeHooks);
        if ("reply" in found) return found.reply;
        const index = found.repo.hooks.findIndex((h) => String(h.id) === req.params.hook_id);
        if (index === -1) return notFound();
        found.repo.hooks.splice(index, 1);
        return noContent();
      },
    },

    // Commit statuses
    {
      method: "POST",
      pattern: "/repos/:owner/:repo/statuses/:sha",
      handler: async (req) => {
        const found = access(req, NEEDS.writeStatuses);
        if ("reply" in found) return found.reply;
        const body = requireJsonBody(req);
        if (isReply(body)) return body;
        if (typeof body.state !== "string" || !STATUS_STATES.has(body.state)) {
          return validationFailed([
            {
              resource: "Status",
              code: "custom",
              field: "state",
              message: "state is not included in the list",
            },
          ]);
        }
        if (body.description !== undefined && body.description !== null) {
          if (typeof body.description !== "string") {
            return validationFailed([
              { resource: "Status", code: "invalid", field: "description" },
            ]);
          }
          if (body.description.length > 140) {
            return validationFailed([
              {
                resource: "Status",
                code: "custom",
                field: "description",
                message: "description is too long (maximum is 140 characters)",
              },
            ]);
          }
        }
        if (body.target_url !== undefined && body.target_url !== null) {
          if (typeof body.target_url !== "string" || !/^https?:\/\//.test(body.target_url)) {
            return validationFailed([
              {
                resource: "Status",
                code: "custom",
                field: "target_url",
                message: "target_url must use http(s) scheme",
              },
            ]);
          }
        }
        const sha = req.params.sha!;
        if (!/^[0-9a-f]{40}$/.test(sha) || !(await commitExists(found.repo, sha))) {
          return json(422, { message: `No commit found for SHA: ${sha}`, documentation_url: DOCS });
        }
        const status: FakeStatus = {
          id: id(),
          sha,
          state: body.state,
          targetUrl: typeof body.target_url === "string" ? body.target_url : null,
          description: typeof body.description === "string" ? body.description : null,
          context:
            typeof body.context === "string" && body.context !== "" ? body.context : "default",
          createdAt: now(),
        };
        found.repo.statuses.push(status);
        return json(201, statusJson(found.repo, status));
      },
    },
    {
      method: "GET",
      pattern: "/repos/:owner/:repo/commits/:ref/statuses",
      handler: (req) => {
        const found = access(req, NEEDS.readStatuses);
        if ("reply" in found) return found.reply;
        const list = found.repo.statuses.filter((s) => s.sha === req.params.ref).reverse();
        return paginate(
          req,
          list.map((s) => statusJson(found.repo, s)),
        );
      },
    },

    // GitHub Apps
    {
      method: "GET",
      pattern: "/app",
      handler: (req) => {
        const caller = appCaller(req);
        return "reply" in caller ? caller.reply : json(200, appJson(caller.app));
      },
    },
    {
      method: "GET",
      pattern: "/app/installations",
      handler: (req) => {
        const caller = appCaller(req);
        if ("reply" in caller) return caller.reply;
        const list = [...installations.values()].filter((i) => i.appId === caller.app.id);
        return paginate(req, list.map(installationJson));
      },
    },
    {
      method: "GET",
      pattern: "/app/installations/:installation_id",
      handler: (req) => {
        const caller = appCaller(req);
        if ("reply" in caller) return caller.reply;
        const installation = installations.get(Number(req.params.installation_id));
        // Another App's installation does not exist for this App.
        if (!installation || installation.appId !== caller.app.id) return notFound();
        return json(200, installationJson(installation));
      },
    },
    {
      method: "POST",
      pattern: "/app/installations/:installation_id/access_tokens",
      handler: (req) => {
        const caller = appCaller(req);
        if ("reply" in caller) return caller.reply;
        const installation = installations.get(Number(req.params.installation_id));
        if (!installation || installation.appId !== caller.app.id) return notFound();
        if (installation.suspended) return forbidden("This installation has been suspended");
        const body = requireJsonBody(req);
        if (isReply(body)) return body;
        const covered = installationRepos(installation);
        let repositoryIds: number[] | null = null;
        if (body.repository_ids !== undefined || body.repositories !== undefined) {
          const ids = Array.isArray(body.repository_ids) ? body.repository_ids : [];
          const names = Array.isArray(body.repositories) ? body.repositories : [];
          const wanted: number[] = [];
          for (const value of ids) {
            const repo =
              typeof value === "number" ? covered.find((r) => r.id === value) : undefined;
            if (!repo) return unreachableRepos();
            wanted.push(repo.id);
          }
          for (const value of names) {
            const repo =
              typeof value === "string"
                ? covered.find((r) => r.name.toLowerCase() === value.toLowerCase())
                : undefined;
            if (!repo) return unreachableRepos();
            wanted.push(repo.id);
          }
          repositoryIds = wanted;
        }
        let permissions: Permissions = installation.permissions;
        if (body.permissions !== undefined) {
          if (typeof body.permissions !== "object" || body.permissions === null) {
            return validationFailed([
              { resource: "Permissions", code: "invalid", field: "permissions" },
            ]);
          }
          const requested = body.permissions as Record<string, unknown>;
          permissions = {};
          for (const [name, level] of Object.entries(requested)) {
            const granted = installation.permissions[name as PermissionName];
            if (
              (level !== "read" && level !== "write") ||
              granted === undefined ||
              LEVEL[granted] < LEVEL[level]
            ) {
              return json(422, {
                message: "The permissions requested are not granted to this installation.",
                documentation_url: DOCS,
              });
            }
            permissions[name as PermissionName] = level;
          }
        }
        const token = `ghs_${randomBytes(18).toString("base64url")}`;
        const expiresAt = Date.now() + TOKEN_LIFETIME_MS;
        tokens.set(token, {
          kind: "installation",
          token,
          installationId: installation.id,
          repositoryIds,
          permissions,
          expiresAt,
        });
        return json(201, {
          token,
          expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, "Z"),
          permissions,
          repository_selection:
            repositoryIds === null
              ? installationJson(installation).repository_selection
              : "selected",
          ...(repositoryIds !== null
            ? { repositories: repositoryIds.map((rid) => repoJson(repoById(rid)!)) }
            : {}),
        });
      },
    },
    {
      method: "GET",
      pattern: "/repos/:owner/:repo/installation",
      handler: (req) => {
        const caller = appCaller(req);
        if ("reply" in caller) return caller.reply;
        const repo = repos.get(`${req.params.owner}/${req.params.repo}`.toLowerCase());
        const installation = repo
          ? [...installations.values()].find(
              (i) => i.appId === caller.app.id && installationCovers(i, repo),
            )
          : undefined;
        return installation ? json(200, installationJson(installation)) : notFound();
      },
    },
    {
      method: "GET",
      pattern: "/installation/repositories",
      handler: (req) => {
        const auth = authenticate(req);
        if ("reply" in auth) return auth.reply;
        if (auth.caller.kind !== "installation") {
          return forbidden(
            "You must authenticate with an installation access token in order to list repositories for an installation.",
          );
        }
        const { installation, record } = auth.caller;
        const list = installationRepos(installation).filter(
          (r) => record.repositoryIds === null || record.repositoryIds.includes(r.id),
        );
        const page = paginate(
          req,
          list.map((r) => repoJson(r)),
        );
        return {
          ...page,
          body: {
            total_count: list.length,
            repository_selection: installationJson(installation).repository_selection,
            repositories: page.body,
          },
        };
      },
    },
  ];

  function unreachableRepos(): FakeReply {
    return json(422, {
      message:
        "There is at least one repository that does not exist or is not accessible to the parent installation.",
      documentation_url: DOCS,
    });
  }

  const statusJson = (repo: FakeRepo, status: FakeStatus) => ({
    url: `${apiUrl}/repos/${repo.fullName}/statuses/${status.sha}`,
    id: status.id,
    node_id: `SC_${status.id}`,
    state: status.state,
    description: status.description,
    target_url: status.targetUrl,
    context: status.context,
    created_at: status.createdAt,
    updated_at: status.createdAt,
  });

  /** `per_page` (≤ 100, default 30) and `page`, with GitHub's `Link` header. */
  function paginate(req: FakeRequest, items: unknown[]): FakeReply & { body: unknown[] } {
    const perPage = Math.min(100, Math.max(1, Number(req.query.get("per_page") ?? 30) || 30));
    const page = Math.max(1, Number(req.query.get("page") ?? 1) || 1);
    const slice = items.slice((page - 1) * perPage, page * perPage);
    const links: string[] = [];
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const at = (p: number) => {
      const query = new URLSearchParams(req.query);
      query.set("page", String(p));
      return `<${apiUrl}${req.path}?${query.toString()}>`;
    };
    if (page < last) links.push(`${at(page + 1)}; rel="next"`, `${at(last)}; rel="last"`);
    if (page > 1) links.push(`${at(page - 1)}; rel="prev"`, `${at(1)}; rel="first"`);
    return {
      status: 200,
      body: slice,
      ...(links.length > 0 ? { headers: { link: links.join(", ") } } : {}),
    };
  }

  function parseHookInput(
    body: Record<string, unknown>,
    current: FakeHook | undefined,
  ): { config: FakeHook["config"]; events?: string[]; active?: boolean } | FakeReply {
    const config = body.config === undefined ? current?.config : body.config;
    if (typeof config !== "object" || config === null) {
      return validationFailed([
        { resource: "Hook", code: "custom", message: "Config must contain url for webhook hook" },
      ]);
    }
    const c = config as Record<string, unknown>;
    if (typeof c.url !== "string" || c.url === "") {
      return validationFailed([
        { resource: "Hook", code: "custom", message: "Config must contain url for webhook hook" },
      ]);
    }
    if (!/^https?:\/\/[^\s]+$/.test(c.url)) {
      return validationFailed([
        {
          resource: "Hook",
          code: "custom",
          message:
            "Config url is not supported because it isn't reachable over the public Internet",
        },
      ]);
    }
    const contentType = c.content_type ?? "form";
    if (contentType !== "json" && contentType !== "form") {
      return validationFailed([
        { resource: "Hook", code: "custom", message: "Config content_type must be json or form" },
      ]);
    }
    const insecure = String(c.insecure_ssl ?? "0");
    if (insecure !== "0" && insecure !== "1") {
      return validationFailed([
        { resource: "Hook", code: "custom", message: "Config insecure_ssl must be 0 or 1" },
      ]);
    }
    let events: string[] | undefined;
    if (body.events !== undefined) {
      if (
        !Array.isArray(body.events) ||
        body.events.some((e) => typeof e !== "string" || !HOOK_EVENTS.has(e))
      ) {
        return validationFailed([{ resource: "Hook", code: "invalid", field: "events" }]);
      }
      events = [...new Set(body.events as string[])];
    }
    if (body.active !== undefined && typeof body.active !== "boolean") {
      return validationFailed([{ resource: "Hook", code: "invalid", field: "active" }]);
    }
    const secret =
      typeof c.secret === "string" && c.secret !== "" && c.secret !== "********"
        ? c.secret
        : c.secret === "********"
          ? current?.config.secret
          : undefined;
    return {
      config: {
        url: c.url,
        content_type: contentType,
        insecure_ssl: insecure,
        ...(secret !== undefined ? { secret } : {}),
      },
      ...(events ? { events } : {}),
      ...(typeof body.active === "boolean" ? { active: body.active } : {}),
    };
  }

  // Every request: GitHub's header rules first, then the route.
  const guarded: FakeRoute[] = routes.map((route) => ({
    ...route,
    handler: (req) => {
      const refused = checkHeaders(req);
      return refused ?? route.handler(req);
    },
  }));

  function checkHeaders(req: FakeRequest): FakeReply | undefined {
    if (!req.headers["user-agent"]) {
      return forbidden(
        "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required).",
      );
    }
    const version = req.headers["x-github-api-version"];
    if (typeof version === "string" && !API_VERSIONS.includes(version)) {
      return json(400, {
        message: `API version ${version} is not supported.`,
        documentation_url: DOCS,
      });
    }
    if (rateLimited) {
      return json(
        403,
        { message: "API rate limit exceeded for user ID 1.", documentation_url: DOCS },
        {
          "x-ratelimit-limit": "5000",
          "x-ratelimit-remaining": "0",
          "x-ratelimit-used": "5000",
          "x-ratelimit-reset": String(Math.floor(Date.now() / 1000) + 3600),
        },
      );
    }
    return undefined;
  }

  const api: FakeServer = await startFakeServer({ routes: guarded, notFound: () => notFound() });
  apiUrl = api.url;

  // Git over HTTPS: Basic credentials, a token as the password.
  function authorizeGit(owner: string, name: string, header: string | undefined): GitAuthDecision {
    const repo = repos.get(`${owner}/${name}`.toLowerCase());
    const missing: GitAuthDecision = {
      ok: false,
      status: 404,
      message: "Repository not found.",
    };
    let caller: Caller = { kind: "anonymous" };
    if (header !== undefined) {
      const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
      const decoded = match ? Buffer.from(match[1]!, "base64").toString("utf8") : "";
      const password = decoded.slice(decoded.indexOf(":") + 1);
      const record = decoded.includes(":") ? tokens.get(password) : undefined;
      if (!record)
        return {
          ok: false,
          status: 401,
          message:
            "Invalid username or token. Password authentication is not supported for Git operations.",
        };
      if (record.kind === "installation") {
        const installation = installations.get(record.installationId);
        if (!installation || record.expiresAt <= Date.now()) {
          return { ok: false, status: 401, message: "Invalid username or token." };
        }
        caller = { kind: "installation", installation, record };
      } else if (record.kind === "classic") {
        caller = { kind: "classic", user: record.user, scopes: record.scopes };
      } else {
        caller = {
          kind: "fine_grained",
          user: record.user,
          repositories: record.repositories,
          permissions: record.permissions,
        };
      }
    }
    if (!repo)
      return caller.kind === "anonymous"
        ? { ok: false, status: 401, message: "Authentication required." }
        : missing;
    if (!canSee(caller, repo)) {
      // Anonymous: ask for credentials (git then says so); with credentials: GitHub's 404.
      return caller.kind === "anonymous"
        ? { ok: false, status: 401, message: "Authentication required." }
        : missing;
    }
    if (
      caller.kind === "installation" &&
      !hasPermission(caller.record.permissions, NEEDS.readContents)
    ) {
      return { ok: false, status: 403, message: "Permission to " + repo.fullName + ".git denied." };
    }
    if (caller.kind === "fine_grained" && !hasPermission(caller.permissions, NEEDS.readContents)) {
      return { ok: false, status: 403, message: "Permission to " + repo.fullName + ".git denied." };
    }
    return { ok: true, dir: repo.gitDir };
  }

  let git: GitHttpServer;
  try {
    git = await startGitHttp({
      dir: root,
      authorize: authorizeGit,
      delayMs: () => gitDelayMs,
      onRequest: (entry) => gitRequests.push(entry),
    });
  } catch (error) {
    await api.close();
    throw error;
  }
  gitUrl = git.url;

  // Git over SSH: a deploy key reads the one repository it is a key of.
  const keyRepo = (key: string) =>
    [...repos.values()].find((r) => r.keys.some((k) => keyBlob(k.key) === keyBlob(key)));
  let ssh: GitSshServer;
  try {
    ssh = await startGitSsh({
      isKnownKey: (key) => keyRepo(key) !== undefined,
      repoFor: (key, owner, name) => {
        const repo = keyRepo(key);
        return repo && repo.fullName.toLowerCase() === `${owner}/${name}`.toLowerCase()
          ? repo.gitDir
          : undefined;
      },
      onRequest: (entry) => sshRequests.push(entry),
    });
  } catch (error) {
    await Promise.all([api.close(), git.close()]);
    throw error;
  }
  sshPort = ssh.port;

  // -------------------------------------------------------------------------------------------
  // Test controls

  const addUser: GitHubFake["addUser"] = (login) => {
    const existing = users.get(login.toLowerCase());
    if (existing) return existing;
    const user = { id: id(), login };
    users.set(login.toLowerCase(), user);
    return user;
  };

  const sendWebhook: GitHubFake["sendWebhook"] = async (url, event, payload, options = {}) => {
    const body = Buffer.from(JSON.stringify(payload));
    const deliveryId = options.deliveryId ?? randomUUID();
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": "GitHub-Hookshot/fake",
      "x-github-event": event,
      "x-github-delivery": deliveryId,
      "x-github-hook-id": String(options.hookId ?? 0),
      "x-github-hook-installation-target-type":
        options.appId === undefined ? "repository" : "integration",
      ...(options.appId === undefined
        ? {}
        : { "x-github-hook-installation-target-id": String(options.appId) }),
    };
    if (options.secret !== undefined) {
      headers["x-hub-signature-256"] = githubSignature(options.secret, body);
      headers["x-hub-signature"] =
        `sha1=${createHmac("sha1", options.secret).update(body).digest("hex")}`;
    }
    const delivery: WebhookDelivery = { url, event, deliveryId, status: null };
    const sent = await sendDelivery(url, headers, body);
    if (sent.status === 0) delivery.error = sent.responseBody;
    else delivery.status = sent.status;
    deliveries.push(delivery);
    return delivery;
  };

  /** Delivers an App event to the App's webhook, if it has an active one. */
  const sendAppWebhook = async (
    app: FakeApp,
    event: string,
    payload: Record<string, unknown>,
  ): Promise<WebhookDelivery | undefined> => {
    const hook = app.webhook;
    if (!hook?.active) return undefined;
    return sendWebhook(hook.url, event, payload, {
      hookId: app.id,
      appId: app.id,
      ...(hook.secret !== undefined ? { secret: hook.secret } : {}),
    });
  };

  /** A repository event for every App installed on the repository and subscribed to it. */
  const sendToInstalledApps = async (
    repo: FakeRepo,
    event: string,
    payload: Record<string, unknown>,
  ): Promise<WebhookDelivery[]> => {
    const sent: WebhookDelivery[] = [];
    for (const installation of installations.values()) {
      const app = apps.get(installation.appId);
      if (!app?.webhook?.events.includes(event)) continue;
      if (installation.suspended || !installationCovers(installation, repo)) continue;
      const delivery = await sendAppWebhook(app, event, {
        ...payload,
        installation: { id: installation.id, node_id: `I_${installation.id}` },
      });
      if (delivery) sent.push(delivery);
    }
    return sent;
  };

  const repoSummary = (repo: FakeRepo) => ({
    id: repo.id,
    node_id: `R_${repo.id}`,
    name: repo.name,
    full_name: repo.fullName,
    private: repo.private,
  });

  const commit: GitHubFake["commit"] = async (fullName, files, branch) => {
    const repo = repoOf(fullName);
    const target = branch ?? repo.defaultBranch;
    const work = await mkdtemp(join(root, "work-"));
    const env = {
      ...gitEnv(root),
      GIT_AUTHOR_NAME: "Octo Cat",
      GIT_AUTHOR_EMAIL: "octocat@example.test",
      GIT_COMMITTER_NAME: "Octo Cat",
      GIT_COMMITTER_EMAIL: "octocat@example.test",
    };
    const g = (args: string[]) => runChecked("git", args, { cwd: work, env });
    try {
      await g(["init", "-q", "-b", target]);
      const parent = await branchSha(repo, target);
      if (parent !== undefined) {
        await g(["fetch", "-q", "--end-of-options", repo.gitDir, `refs/heads/${target}`]);
        await g(["reset", "-q", "--hard", "FETCH_HEAD"]);
      }
      for (const [path, content] of Object.entries(files)) {
        await mkdir(dirname(join(work, path)), { recursive: true });
        await writeFile(join(work, path), content);
      }
      await g(["add", "-A"]);
      await g([
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        `Update ${Object.keys(files).join(", ") || "nothing"}`,
      ]);
      await g(["push", "-q", "--end-of-options", repo.gitDir, `HEAD:refs/heads/${target}`]);
      return (await g(["rev-parse", "HEAD"])).trim();
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  };

  return {
    url: api.url,
    gitUrl: git.url,
    caFile: git.caFile,
    sshPort,
    sshRequests,
    requests: api.requests,
    gitRequests,
    deliveries,
    authorizations,
    addUser,
    addClassicToken(login, scopes) {
      const token = `ghp_${randomBytes(18).toString("base64url")}`;
      tokens.set(token, { kind: "classic", token, user: userOf(login), scopes });
      return token;
    },
    addFineGrainedToken(login, repositories, permissions) {
      const token = `github_pat_${randomBytes(30).toString("base64url")}`;
      tokens.set(token, {
        kind: "fine_grained",
        token,
        user: userOf(login),
        repositories: repositories === "all" ? "all" : repositories.map((r) => repoOf(r).id),
        permissions,
      });
      return token;
    },
    revokeToken(token) {
      tokens.delete(token);
    },
    async addRepo(owner, name, options = {}) {
      const ownerUser = addUser(owner);
      const gitDir = join(root, "repos", `${ownerUser.id}-${name}.git`);
      await mkdir(gitDir, { recursive: true });
      await runChecked(
        "git",
        ["init", "-q", "--bare", "-b", options.defaultBranch ?? "main", "--", gitDir],
        { env: gitEnv(root) },
      );
      const lower = (list: string[] | undefined) =>
        new Set(
          (list ?? []).map((l) => {
            addUser(l);
            return l.toLowerCase();
          }),
        );
      const repo: FakeRepo = {
        id: id(),
        owner: ownerUser,
        name,
        fullName: `${owner}/${name}`,
        private: options.private ?? true,
        defaultBranch: options.defaultBranch ?? "main",
        admins: lower(options.admins),
        writers: lower(options.writers),
        readers: lower(options.readers),
        keys: [],
        hooks: [],
        statuses: [],
        gitDir,
      };
      repos.set(repo.fullName.toLowerCase(), repo);
      return repo;
    },
    repo: repoOf,
    commit,
    async addBranches(fullName, names) {
      const repo = repoOf(fullName);
      const head = await branchSha(repo, repo.defaultBranch);
      if (head === undefined) throw new Error(`${fullName} has no commit to branch from`);
      const updates = names.map((name) => `create refs/heads/${name} ${head}\n`).join("");
      await runChecked("git", ["--git-dir", repo.gitDir, "update-ref", "--stdin"], {
        env: gitEnv(root),
        input: updates,
      });
    },
    addApp(options) {
      const app: FakeApp = {
        id: id(),
        slug: options.slug,
        name: options.slug,
        owner: addUser(options.owner),
        publicKey:
          typeof options.publicKey === "string"
            ? createPublicKey(options.publicKey)
            : options.publicKey,
        permissions: options.permissions ?? {
          contents: "read",
          metadata: "read",
          statuses: "write",
        },
        webhook: options.webhook
          ? { ...options.webhook, active: true, events: options.webhook.events ?? ["push"] }
          : null,
      };
      apps.set(app.id, app);
      return app;
    },
    setAppWebhook(appId, webhook) {
      const app = apps.get(appId);
      if (!app) throw new Error(`fake GitHub: no App ${appId}`);
      app.webhook =
        webhook === null
          ? null
          : {
              url: webhook.url,
              ...(webhook.secret !== undefined ? { secret: webhook.secret } : {}),
              active: webhook.active ?? true,
              events: webhook.events ?? ["push"],
            };
    },
    async uninstallApp(installationId) {
      const installation = installations.get(installationId);
      if (!installation) throw new Error(`fake GitHub: no installation ${installationId}`);
      const app = apps.get(installation.appId)!;
      const payload = {
        action: "deleted",
        installation: installationJson(installation),
        repositories: installationRepos(installation).map(repoSummary),
        sender: userJson(installation.account),
      };
      installations.delete(installationId);
      return sendAppWebhook(app, "installation", payload);
    },
    async changeInstallationRepositories(installationId, repositories) {
      const installation = installations.get(installationId);
      if (!installation) throw new Error(`fake GitHub: no installation ${installationId}`);
      const before = installationRepos(installation);
      installation.repositories = repositories.map((r) => repoOf(r).id);
      const after = installationRepos(installation);
      const added = after.filter((r) => !before.includes(r));
      const removed = before.filter((r) => !after.includes(r));
      const app = apps.get(installation.appId)!;
      const sent: WebhookDelivery[] = [];
      for (const [action, list] of [
        ["added", added],
        ["removed", removed],
      ] as const) {
        if (list.length === 0) continue;
        const delivery = await sendAppWebhook(app, "installation_repositories", {
          action,
          installation: installationJson(installation),
          repository_selection: "selected",
          repositories_added: action === "added" ? list.map(repoSummary) : [],
          repositories_removed: action === "removed" ? list.map(repoSummary) : [],
          requester: null,
          sender: userJson(installation.account),
        });
        if (delivery) sent.push(delivery);
      }
      return sent;
    },
    installApp(appId, account, options = {}) {
      const app = apps.get(appId);
      if (!app) throw new Error(`fake GitHub: no App ${appId}`);
      const installation: FakeInstallation = {
        id: id(),
        appId,
        account: addUser(account),
        repositories:
          options.repositories === undefined || options.repositories === "all"
            ? "all"
            : options.repositories.map((r) => repoOf(r).id),
        permissions: options.permissions ?? app.permissions,
        suspended: false,
      };
      installations.set(installation.id, installation);
      return installation;
    },
    setInstallationRepositories(installationId, repositories) {
      const installation = installations.get(installationId);
      if (!installation) throw new Error(`fake GitHub: no installation ${installationId}`);
      installation.repositories =
        repositories === "all" ? "all" : repositories.map((r) => repoOf(r).id);
    },
    suspendInstallation(installationId, suspended) {
      const installation = installations.get(installationId);
      if (!installation) throw new Error(`fake GitHub: no installation ${installationId}`);
      installation.suspended = suspended;
    },
    delayGit(ms) {
      gitDelayMs = ms;
    },
    exhaustRateLimit(exhausted) {
      rateLimited = exhausted;
    },
    sendWebhook,
    async push(fullName, branch, files) {
      const repo = repoOf(fullName);
      const before = (await branchSha(repo, branch)) ?? "0".repeat(40);
      const sha = await commit(fullName, files, branch);
      const payload = {
        ref: `refs/heads/${branch}`,
        before,
        after: sha,
        created: before === "0".repeat(40),
        deleted: false,
        forced: false,
        compare: `${gitUrl}/${repo.fullName}/compare/${before.slice(0, 12)}...${sha.slice(0, 12)}`,
        commits: [
          {
            id: sha,
            message: "Update",
            timestamp: now(),
            url: `${gitUrl}/${repo.fullName}/commit/${sha}`,
            author: { name: "Octo Cat", email: "octocat@example.test" },
          },
        ],
        head_commit: {
          id: sha,
          message: "Update",
          timestamp: now(),
          url: `${gitUrl}/${repo.fullName}/commit/${sha}`,
        },
        repository: repoJson(repo),
        pusher: { name: repo.owner.login, email: "octocat@example.test" },
        sender: userJson(repo.owner),
      };
      const sent: WebhookDelivery[] = [];
      for (const hook of repo.hooks) {
        if (!hook.active || !(hook.events.includes("push") || hook.events.includes("*"))) continue;
        const delivery = await sendWebhook(hook.config.url, "push", payload, {
          hookId: hook.id,
          ...(hook.config.secret !== undefined ? { secret: hook.config.secret } : {}),
        });
        hook.lastResponse =
          delivery.status === null
            ? { code: null, status: "failed", message: delivery.error ?? "failed" }
            : {
                code: delivery.status,
                status: delivery.status < 300 ? "active" : "failed",
                message: delivery.status < 300 ? "OK" : `Invalid HTTP Response: ${delivery.status}`,
              };
        sent.push(delivery);
      }
      sent.push(...(await sendToInstalledApps(repo, "push", payload)));
      return { sha, deliveries: sent };
    },
    async close() {
      await Promise.all([api.close(), git.close(), ssh.close()]);
      await rm(root, { recursive: true, force: true });
    },
  };
}

function gitEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    HOME: home,
    LC_ALL: "C",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
  };
}
