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
 * A strict fake of Bitbucket Cloud's REST API 2.0, written from its public documentation
 * (developer.atlassian.com/cloud/bitbucket/rest): the endpoints Slipway uses, with Bitbucket's
 * authentication (app passwords over Basic, access tokens over Bearer), OAuth scopes
 * (`X-OAuth-Scopes`, `X-Accepted-OAuth-Scopes`, 403 "Your credentials lack one or more required
 * privilege scopes."), repository permissions (read, write, admin), `{type: "error", error:
 * {message, fields?, detail?}}` bodies, paginated `{values, pagelen, size, page, next}` lists
 * and webhooks signed as Bitbucket signs them (`X-Hub-Signature: sha256=<hex>`).
 *
 * Served under `/2.0`, so a connection's base URL is `fake.apiUrl`.
 */

export type BitbucketRole = "read" | "write" | "admin";

/** Bitbucket's OAuth scopes for app passwords and access tokens (the ones the fake checks). */
export const BITBUCKET_SCOPES = [
  "account",
  "repository",
  "repository:write",
  "repository:admin",
  "pullrequest",
  "pullrequest:write",
  "webhook",
] as const;
export type BitbucketScope = (typeof BITBUCKET_SCOPES)[number];

/** What the brief of a Slipway connection asks for: Repositories read + admin, Webhooks, PRs read. */
export const SLIPWAY_SCOPES: readonly BitbucketScope[] = [
  "account",
  "repository",
  "repository:admin",
  "webhook",
  "pullrequest",
];

/** Every webhook event a repository hook may subscribe to. */
export const BITBUCKET_EVENTS = [
  "repo:push",
  "repo:fork",
  "repo:updated",
  "repo:commit_comment_created",
  "repo:commit_status_created",
  "repo:commit_status_updated",
  "repo:transfer",
  "repo:imported",
  "repo:deleted",
  "issue:created",
  "issue:updated",
  "issue:comment_created",
  "pullrequest:created",
  "pullrequest:updated",
  "pullrequest:push",
  "pullrequest:approved",
  "pullrequest:unapproved",
  "pullrequest:fulfilled",
  "pullrequest:rejected",
  "pullrequest:comment_created",
  "pullrequest:comment_updated",
  "pullrequest:comment_deleted",
  "pullrequest:comment_resolved",
  "pullrequest:comment_reopened",
  "pullrequest:changes_request_created",
  "pullrequest:changes_request_removed",
] as const;

export const BUILD_STATES = ["INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"] as const;

const REPOSITORY_NOT_FOUND =
  "You may not have access to this repository or it no longer exists in this workspace. If you think this repository exists and you have access, make sure you are authenticated.";

interface User {
  uuid: string;
  accountId: string;
  username: string;
  displayName: string;
}

interface Credential {
  kind: "app_password" | "access_token";
  user: User;
  secret: string;
  scopes: Set<string>;
}

interface Workspace {
  uuid: string;
  slug: string;
  name: string;
  owner: User;
}

export interface FakeDeployKey {
  id: number;
  key: string;
  label: string;
  comment: string | undefined;
  createdOn: string;
}

export interface FakeHook {
  uuid: string;
  url: string;
  description: string;
  events: string[];
  active: boolean;
  secret: string | null;
  skipCertVerification: boolean;
  createdAt: string;
}

export interface FakeBuildStatus {
  key: string;
  state: string;
  name: string;
  url: string;
  description: string;
  refname: string | null;
  createdOn: string;
  updatedOn: string;
}

interface Repo {
  uuid: string;
  workspace: Workspace;
  slug: string;
  name: string;
  isPrivate: boolean;
  mainbranch: string | null;
  sshUrl: string | undefined;
  members: Map<string, BitbucketRole>;
  branches: Map<string, string>;
  commits: Set<string>;
  /** Each commit's files (path → text), for those committed with `commitFiles`. */
  trees: Map<string, Map<string, string>>;
  deployKeys: FakeDeployKey[];
  hooks: FakeHook[];
  statuses: Map<string, FakeBuildStatus[]>;
  createdOn: string;
}

/** One webhook delivery the fake made (every attempt of it). */
export interface FakeDelivery {
  hookUuid: string;
  url: string;
  event: string;
  headers: Record<string, string>;
  body: string;
  /** The status of each attempt (Bitbucket resends a 5xx up to twice), 0 for a network error. */
  attempts: number[];
  status: number;
  responseBody: string;
}

export interface AddRepoOptions {
  workspace: string;
  slug: string;
  name?: string;
  private?: boolean;
  /** `null` for an empty repository (no main branch yet). */
  mainbranch?: string | null;
  /** Members other than the workspace owner (who is an admin of every repository). */
  members?: Record<string, BitbucketRole>;
  /** Overrides `links.clone[ssh]` (e.g. a real sshd in an end-to-end test). */
  sshUrl?: string;
}

export interface BitbucketFake extends FakeServer {
  /** `http://127.0.0.1:<port>/2.0`, the base URL of a connection to the fake. */
  apiUrl: string;
  addUser(username: string, displayName?: string): { uuid: string; username: string };
  /** A new app password of `username` with `scopes` (Basic `username:password`). */
  appPassword(username: string, scopes?: readonly BitbucketScope[]): string;
  /** A new access token acting as `username` with `scopes` (Bearer). */
  accessToken(username: string, scopes?: readonly BitbucketScope[]): string;
  revoke(secret: string): void;
  /** Creates a repository (and its workspace, owned by `owner`, the first time). */
  addRepo(owner: string, options: AddRepoOptions): { uuid: string; fullName: string };
  /** Points `branch` at `sha` (a new random commit when omitted); returns the commit. */
  setBranch(fullName: string, branch: string, sha?: string): string;
  /** A new commit on `branch` with `files` over its current ones (no push event); its sha. */
  commitFiles(fullName: string, branch: string, files: Record<string, string>): string;
  setMember(fullName: string, username: string, role: BitbucketRole | null): void;
  deployKeys(fullName: string): readonly FakeDeployKey[];
  hooks(fullName: string): readonly FakeHook[];
  buildStatuses(fullName: string, sha: string): readonly FakeBuildStatus[];
  /** Removes an access key as a user would in Repository settings → Access keys. */
  removeDeployKeyByHand(fullName: string, id: number): Promise<void>;
  /** Updates a webhook by hand (Repository settings → Webhooks). */
  editHookByHand(
    fullName: string,
    uuid: string,
    change: Partial<Pick<FakeHook, "active" | "url" | "secret">>,
  ): void;
  /** Pushes `sha` (new when omitted) to `branch` and delivers `repo:push` to the hooks. */
  push(fullName: string, branch: string, sha?: string): Promise<FakeDelivery[]>;
  /** Delivers a `pullrequest:<action>` event for a pull request from `source` into `destination`. */
  pullRequest(
    fullName: string,
    pr: {
      id: number;
      action: "created" | "updated" | "fulfilled" | "rejected";
      source: string;
      destination: string;
      sha?: string;
      title?: string;
      author?: string;
      fromFork?: string;
    },
  ): Promise<FakeDelivery[]>;
}

type Reply = FakeReply;

/** Bitbucket's error envelope. */
export function bitbucketError(
  status: number,
  message: string,
  extra: { fields?: Record<string, string[]>; detail?: unknown } = {},
  headers?: Record<string, string>,
): Reply {
  return {
    status,
    body: { type: "error", error: { message, ...extra } },
    ...(headers ? { headers } : {}),
  };
}

const now = (): string => new Date().toISOString().replace("Z", "+00:00");
const braced = (): string => `{${randomUUID()}}`;
const randomSha = (): string => randomBytes(20).toString("hex");

/** Bitbucket's scope hierarchy: a write scope implies its read scope, pull requests imply reads. */
function expandScopes(scopes: Iterable<string>): Set<string> {
  const granted = new Set(scopes);
  if (granted.has("pullrequest:write")) granted.add("pullrequest").add("repository:write");
  if (granted.has("repository:write") || granted.has("pullrequest")) granted.add("repository");
  return granted;
}

export interface BitbucketFakeOptions {
  /** The web host in links and clone URLs (default `bitbucket.org`). */
  webHost?: string;
  /**
   * Told of a repository's access keys whenever they change, before the API answers: an
   * access key grants SSH read access, so a test can hand them to a real sshd.
   */
  onDeployKeysChanged?: (fullName: string, keys: readonly FakeDeployKey[]) => void | Promise<void>;
}

export async function startBitbucketFake(
  options: BitbucketFakeOptions = {},
): Promise<BitbucketFake> {
  const webHost = options.webHost ?? "bitbucket.org";
  const users = new Map<string, User>();
  const credentials: Credential[] = [];
  const workspaces = new Map<string, Workspace>();
  const repos: Repo[] = [];
  let nextKeyId = 7001;
  let apiUrl = "";

  // ---------- identity ----------

  type Auth = { kind: "anonymous" } | { kind: "credential"; credential: Credential } | Reply;

  function authenticate(req: FakeRequest): Auth {
    const header = req.headers.authorization;
    if (header === undefined) return { kind: "anonymous" };
    const [scheme = "", value = ""] = header.split(" ", 2);
    if (scheme.toLowerCase() === "basic") {
      const decoded = Buffer.from(value, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      const username = decoded.slice(0, Math.max(colon, 0));
      const password = decoded.slice(colon + 1);
      const found = credentials.find(
        (c) => c.kind === "app_password" && c.user.username === username && c.secret === password,
      );
      if (colon > 0 && found) return { kind: "credential", credential: found };
      return {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="Bitbucket.org HTTP"' },
      };
    }
    if (scheme.toLowerCase() === "bearer") {
      const found = credentials.find((c) => c.kind === "access_token" && c.secret === value);
      if (found) return { kind: "credential", credential: found };
      return bitbucketError(401, "Token is invalid, expired, or not supported for this endpoint.");
    }
    return bitbucketError(401, "Unsupported authentication scheme.");
  }

  /** The caller, after checking the scopes the endpoint needs (403 names what is missing). */
  function caller(
    req: FakeRequest,
    required: readonly string[],
    anonymousAllowed = false,
  ): { user: User | undefined; headers: Record<string, string> } | Reply {
    const auth = authenticate(req);
    if (isReply(auth)) return auth;
    const accepted = { "x-accepted-oauth-scopes": required.join(", ") };
    if (auth.kind === "anonymous") {
      if (anonymousAllowed) return { user: undefined, headers: accepted };
      return bitbucketError(
        401,
        "This API is only accessible with the following authentication types: session, password, apppassword, api_token, oauth2, jwt",
      );
    }
    const granted = expandScopes(auth.credential.scopes);
    const headers = { ...accepted, "x-oauth-scopes": [...auth.credential.scopes].join(", ") };
    const missing = required.filter((s) => !granted.has(s));
    if (missing.length > 0) {
      return bitbucketError(
        403,
        "Your credentials lack one or more required privilege scopes.",
        { detail: { granted: [...auth.credential.scopes], required: missing } },
        headers,
      );
    }
    return { user: auth.credential.user, headers };
  }

  function roleOf(repo: Repo, user: User | undefined): BitbucketRole | undefined {
    if (!user) return repo.isPrivate ? undefined : "read";
    if (repo.workspace.owner === user) return "admin";
    return repo.members.get(user.username) ?? (repo.isPrivate ? undefined : "read");
  }

  const rank: Record<BitbucketRole, number> = { read: 1, write: 2, admin: 3 };

  // ---------- lookup ----------

  /** `/repositories/:workspace/:repo_slug`: slugs, `{uuid}`s, or `{}` with a repository `{uuid}`. */
  function findRepo(workspace: string, slug: string): Repo | undefined {
    const bySlug = (r: Repo) =>
      slug.startsWith("{") ? r.uuid === slug.toLowerCase() : r.slug === slug.toLowerCase();
    if (workspace === "{}") return slug.startsWith("{") ? repos.find(bySlug) : undefined;
    return repos.find(
      (r) =>
        (workspace.startsWith("{")
          ? r.workspace.uuid === workspace.toLowerCase()
          : r.workspace.slug === workspace.toLowerCase()) && bySlug(r),
    );
  }

  type RepoAccess = { repo: Repo; headers: Record<string, string> } | Reply;

  /** The repository the path names, if the caller may act on it with `need`. */
  function repoFor(req: FakeRequest, scopes: readonly string[], need: BitbucketRole): RepoAccess {
    const who = caller(req, scopes, need === "read");
    if (isReply(who)) return who;
    const repo = findRepo(req.params.workspace ?? "", req.params.repo_slug ?? "");
    const role = repo && roleOf(repo, who.user);
    if (!repo || !role) return bitbucketError(404, REPOSITORY_NOT_FOUND, {}, who.headers);
    if (rank[role] < rank[need]) {
      return bitbucketError(
        403,
        need === "admin"
          ? "You must be an administrator of this repository to perform this action."
          : "Access denied. You must have write or admin access.",
        {},
        who.headers,
      );
    }
    return { repo, headers: who.headers };
  }

  const repoByFullName = (fullName: string): Repo => {
    const [ws = "", slug = ""] = fullName.split("/");
    const repo = findRepo(ws, slug);
    if (!repo) throw new Error(`no repository ${fullName} in the fake`);
    return repo;
  };

  // ---------- JSON shapes ----------

  const userJson = (u: User) => ({
    type: "user",
    uuid: u.uuid,
    account_id: u.accountId,
    username: u.username,
    nickname: u.username,
    display_name: u.displayName,
    links: {
      self: { href: `${apiUrl}/users/${encodeURIComponent(u.uuid)}` },
      html: { href: `https://${webHost}/${encodeURIComponent(u.uuid)}/` },
      avatar: { href: `https://avatar-management.example/${u.accountId}` },
    },
  });

  const fullName = (r: Repo) => `${r.workspace.slug}/${r.slug}`;
  const repoApi = (r: Repo) => `${apiUrl}/repositories/${fullName(r)}`;

  const repoSummary = (r: Repo) => ({
    type: "repository",
    full_name: fullName(r),
    name: r.name,
    uuid: r.uuid,
    links: {
      self: { href: repoApi(r) },
      html: { href: `https://${webHost}/${fullName(r)}` },
    },
  });

  const repoJson = (r: Repo, viewer: User | undefined) => ({
    ...repoSummary(r),
    slug: r.slug,
    description: "",
    scm: "git",
    is_private: r.isPrivate,
    fork_policy: "no_public_forks",
    language: "",
    size: 1024,
    has_issues: false,
    has_wiki: false,
    created_on: r.createdOn,
    updated_on: r.createdOn,
    mainbranch: r.mainbranch === null ? null : { type: "branch", name: r.mainbranch },
    owner: userJson(r.workspace.owner),
    workspace: {
      type: "workspace",
      uuid: r.workspace.uuid,
      slug: r.workspace.slug,
      name: r.workspace.name,
      links: { html: { href: `https://${webHost}/${r.workspace.slug}/` } },
    },
    project: {
      type: "project",
      key: "PROJ",
      uuid: `{${r.workspace.uuid.slice(1, 9)}-proj}`,
      name: "Project",
    },
    links: {
      self: { href: repoApi(r) },
      html: { href: `https://${webHost}/${fullName(r)}` },
      hooks: { href: `${repoApi(r)}/hooks` },
      commits: { href: `${repoApi(r)}/commits` },
      branches: { href: `${repoApi(r)}/refs/branches` },
      clone: [
        {
          name: "https",
          href: `https://${viewer ? `${viewer.username}@` : ""}${webHost}/${fullName(r)}.git`,
        },
        { name: "ssh", href: r.sshUrl ?? `git@${webHost}:${fullName(r)}.git` },
      ],
    },
  });

  const keyJson = (r: Repo, k: FakeDeployKey) => ({
    id: k.id,
    key: k.key,
    label: k.label,
    type: "deploy_key",
    created_on: k.createdOn,
    repository: repoSummary(r),
    links: { self: { href: `${repoApi(r)}/deploy-keys/${k.id}` } },
    last_used: null,
    comment: k.comment ?? "",
  });

  const hookJson = (r: Repo, h: FakeHook) => ({
    type: "webhook_subscription",
    uuid: h.uuid,
    url: h.url,
    description: h.description,
    subject_type: "repository",
    subject: repoSummary(r),
    active: h.active,
    created_at: h.createdAt,
    events: [...h.events].sort(),
    secret_set: h.secret !== null,
    skip_cert_verification: h.skipCertVerification,
    history_enabled: false,
    links: { self: { href: `${repoApi(r)}/hooks/${encodeURIComponent(h.uuid)}` } },
  });

  const statusJson = (r: Repo, sha: string, s: FakeBuildStatus) => ({
    type: "build",
    key: s.key,
    state: s.state,
    name: s.name,
    url: s.url,
    description: s.description,
    refname: s.refname,
    created_on: s.createdOn,
    updated_on: s.updatedOn,
    commit: { type: "commit", hash: sha, links: { self: { href: `${repoApi(r)}/commit/${sha}` } } },
    links: {
      self: { href: `${repoApi(r)}/commit/${sha}/statuses/build/${encodeURIComponent(s.key)}` },
      commit: { href: `${repoApi(r)}/commit/${sha}` },
    },
  });

  // ---------- pagination ----------

  function paginate<T>(req: FakeRequest, items: T[], headers: Record<string, string>): Reply {
    const pagelenText = req.query.get("pagelen") ?? "10";
    const pageText = req.query.get("page") ?? "1";
    const pagelen = Number(pagelenText);
    const page = Number(pageText);
    if (!/^\d+$/.test(pagelenText) || pagelen < 1 || pagelen > 100) {
      return bitbucketError(
        400,
        `Invalid pagelen: ${pagelenText.slice(0, 20)} (1 to 100)`,
        {},
        headers,
      );
    }
    if (!/^\d+$/.test(pageText) || page < 1) {
      return bitbucketError(400, `Invalid page: ${pageText.slice(0, 20)}`, {}, headers);
    }
    const start = (page - 1) * pagelen;
    const body: Record<string, unknown> = {
      pagelen,
      size: items.length,
      page,
      values: items.slice(start, start + pagelen),
    };
    const link = (p: number) => {
      const query = new URLSearchParams(req.query);
      query.set("page", String(p));
      return `${apiUrl}${req.path.replace(/^\/2\.0/, "")}?${query.toString()}`;
    };
    if (start + pagelen < items.length) body.next = link(page + 1);
    if (page > 1) body.previous = link(page - 1);
    return { status: 200, body, headers };
  }

  // ---------- request bodies ----------

  type Fields = Record<string, string[]>;

  function objectBody(req: FakeRequest): { json: Record<string, unknown> } | Reply {
    if (!/json/i.test(String(req.headers["content-type"] ?? ""))) {
      return bitbucketError(400, "Unsupported Media Type: the body must be application/json.");
    }
    if (req.json === null || typeof req.json !== "object" || Array.isArray(req.json)) {
      return bitbucketError(400, "Invalid JSON: the body must be a JSON object.");
    }
    return { json: req.json as Record<string, unknown> };
  }

  function invalid(fields: Fields, headers: Record<string, string>): Reply | undefined {
    const names = Object.keys(fields);
    if (names.length === 0) return undefined;
    const first = names[0]!;
    return bitbucketError(400, `${first}: ${fields[first]![0]}`, { fields }, headers);
  }

  const REQUIRED = "This field is required.";

  function optionalString(body: Record<string, unknown>, name: string, fields: Fields, max = 255) {
    const value = body[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") {
      fields[name] = ["Expected a string."];
      return undefined;
    }
    if (value.length > max) fields[name] = [`Ensure this value has at most ${max} characters.`];
    return value;
  }

  function requiredString(body: Record<string, unknown>, name: string, fields: Fields, max = 255) {
    const value = optionalString(body, name, fields, max);
    if (value === undefined && !fields[name]) fields[name] = [REQUIRED];
    if (value === "") fields[name] = [REQUIRED];
    return value;
  }

  function optionalBoolean(body: Record<string, unknown>, name: string, fields: Fields) {
    const value = body[name];
    if (value === undefined) return undefined;
    if (typeof value !== "boolean") {
      fields[name] = ["Expected a boolean."];
      return undefined;
    }
    return value;
  }

  function webhookUrl(value: string | undefined, fields: Fields): void {
    if (value === undefined || fields.url) return;
    try {
      const parsed = new URL(value);
      if (parsed.protocol !== "https:" && parsed.protocol !== "http:") throw new Error("scheme");
    } catch {
      fields.url = ["Enter a valid URL."];
    }
  }

  function hookEvents(body: Record<string, unknown>, fields: Fields, required: boolean) {
    const value = body.events;
    if (value === undefined) {
      if (required) fields.events = [REQUIRED];
      return undefined;
    }
    if (!Array.isArray(value) || value.length === 0 || value.some((e) => typeof e !== "string")) {
      fields.events = ["Expected a non-empty list of event keys."];
      return undefined;
    }
    const unknown = (value as string[]).filter(
      (e) => !(BITBUCKET_EVENTS as readonly string[]).includes(e),
    );
    if (unknown.length > 0) {
      fields.events = [`Invalid event: ${unknown.map((e) => `"${e.slice(0, 60)}"`).join(", ")}`];
      return undefined;
    }
    return [...new Set(value as string[])];
  }

  /** A webhook's fields from a POST (url, description and events required) or a PUT (none). */
  function hookInput(req: FakeRequest, creating: boolean, headers: Record<string, string>) {
    const request = objectBody(req);
    if (isReply(request)) return request;
    const body = request.json;
    const fields: Fields = {};
    const string = creating ? requiredString : optionalString;
    const url = string(body, "url", fields, 2048);
    webhookUrl(url, fields);
    const input = {
      url,
      description: string(body, "description", fields),
      events: hookEvents(body, fields, creating),
      active: optionalBoolean(body, "active", fields),
      skip: optionalBoolean(body, "skip_cert_verification", fields),
      secret: optionalString(body, "secret", fields, 128),
      secretCleared: body.secret === null,
    };
    return invalid(fields, headers) ?? input;
  }

  const branchJson = (repo: Repo, name: string, sha: string) => ({
    type: "branch",
    name,
    target: {
      type: "commit",
      hash: sha,
      date: now(),
      message: "commit\n",
      links: { self: { href: `${repoApi(repo)}/commit/${sha}` } },
    },
    links: {
      self: { href: `${repoApi(repo)}/refs/branches/${encodeURIComponent(name)}` },
    },
    merge_strategies: ["merge_commit", "squash", "fast_forward"],
    default_merge_strategy: "merge_commit",
  });

  // ---------- BBQL (`q=`), the subset Slipway and the docs' examples use ----------

  type Clause = { field: string; op: string; value: string | boolean };
  const QUERY_FIELDS = new Set(["name", "slug", "full_name", "is_private", "description"]);
  /** What a branch list's query may name (`refs/branches?q=name ~ "x"`). */
  const BRANCH_QUERY_FIELDS = new Set(["name", "target.hash", "target.date"]);

  function parseQuery(q: string, fields: ReadonlySet<string> = QUERY_FIELDS): Clause[][] | string {
    // Disjunction of conjunctions: `a AND b OR c` = (a AND b) OR c.
    const token =
      /\s*(?:(AND|OR)\b|([a-z_.]+)\s*(!=|!~|=|~)\s*(?:"((?:[^"\\]|\\.)*)"|(true|false|null)))/iy;
    const groups: Clause[][] = [[]];
    let expectClause = true;
    let match: RegExpExecArray | null;
    token.lastIndex = 0;
    while (token.lastIndex < q.length && (match = token.exec(q))) {
      if (match[1]) {
        if (expectClause) return `Invalid query: unexpected ${match[1]}`;
        if (match[1].toUpperCase() === "OR") groups.push([]);
        expectClause = true;
        continue;
      }
      if (!expectClause) return "Invalid query: expected AND or OR";
      const field = match[2]!;
      if (!fields.has(field)) return `Invalid field name: ${field}`;
      const value = match[4] !== undefined ? match[4].replace(/\\(.)/g, "$1") : match[5] === "true";
      groups[groups.length - 1]!.push({ field, op: match[3]!, value });
      expectClause = false;
    }
    if (token.lastIndex < q.trimEnd().length || expectClause) {
      return `Invalid query: could not parse "${q.slice(0, 80)}"`;
    }
    return groups;
  }

  function matches(r: Repo, groups: Clause[][]): boolean {
    const value = (field: string): string | boolean =>
      field === "name"
        ? r.name
        : field === "slug"
          ? r.slug
          : field === "full_name"
            ? fullName(r)
            : field === "is_private"
              ? r.isPrivate
              : "";
    return matchesBy(value, groups);
  }

  /** Whether the object whose fields `value` reads satisfies the query's `groups`. */
  function matchesBy(value: (field: string) => string | boolean, groups: Clause[][]): boolean {
    return groups.some((clauses) =>
      clauses.every((c) => {
        const actual = value(c.field);
        if (typeof actual === "boolean" || typeof c.value === "boolean") {
          const equal = actual === c.value;
          return c.op === "!=" ? !equal : equal;
        }
        const contains = actual.toLowerCase().includes(c.value.toLowerCase());
        switch (c.op) {
          case "=":
            return actual === c.value;
          case "!=":
            return actual !== c.value;
          case "~":
            return contains;
          default:
            return !contains;
        }
      }),
    );
  }

  // ---------- routes ----------

  /** Routes on the repository of the path, for callers with `scopes` and the `need` role. */
  const repoRoutes = (scopes: readonly string[], need: BitbucketRole) =>
    guardedRoutes((req) => repoFor(req, scopes, need));
  const reader = repoRoutes(["repository"], "read");
  const writer = repoRoutes(["repository"], "write");
  const keyAdmin = repoRoutes(["repository", "repository:admin"], "admin");
  const hookAdmin = repoRoutes(["webhook"], "admin");

  const R = "/2.0/repositories/:workspace/:repo_slug";
  const routes: FakeRoute[] = [
    {
      method: "GET",
      pattern: "/2.0/user",
      handler: (req) => {
        const who = caller(req, ["account"]);
        if (isReply(who)) return who;
        return { status: 200, body: userJson(who.user!), headers: who.headers };
      },
    },
    {
      method: "GET",
      pattern: "/2.0/repositories",
      handler: (req) => {
        const role = req.query.get("role");
        const who = caller(req, ["repository"], role === null);
        if (isReply(who)) return who;
        if (role !== null && !["member", "contributor", "admin", "owner"].includes(role)) {
          return bitbucketError(400, `Invalid role: ${role.slice(0, 40)}`, {}, who.headers);
        }
        let groups: Clause[][] = [[]];
        const q = req.query.get("q");
        if (q !== null) {
          const parsed = parseQuery(q);
          if (typeof parsed === "string") return bitbucketError(400, parsed, {}, who.headers);
          groups = parsed;
        }
        const need: Record<string, number> = { member: 1, contributor: 2, admin: 3, owner: 3 };
        const visible = repos.filter((r) => {
          const mine = roleOf(r, who.user);
          if (role === null) return !r.isPrivate || mine !== undefined;
          if (role === "owner") return r.workspace.owner === who.user;
          const explicit = r.workspace.owner === who.user || r.members.has(who.user!.username);
          return explicit && mine !== undefined && rank[mine] >= need[role]!;
        });
        return paginate(
          req,
          visible.filter((r) => matches(r, groups)).map((r) => repoJson(r, who.user)),
          who.headers,
        );
      },
    },
    reader("GET", R, (req, { repo, headers }) => {
      const who = caller(req, ["repository"], true);
      const viewer = isReply(who) ? undefined : who.user;
      return { status: 200, body: repoJson(repo, viewer), headers };
    }),
    reader("GET", `${R}/refs/branches`, (req, { repo, headers }) => {
      let groups: Clause[][] = [[]];
      const q = req.query.get("q");
      if (q !== null) {
        const parsed = parseQuery(q, BRANCH_QUERY_FIELDS);
        if (typeof parsed === "string") return bitbucketError(400, parsed, {}, headers);
        groups = parsed;
      }
      const names = [...repo.branches.keys()]
        .filter((name) => matchesBy((field) => (field === "name" ? name : ""), groups))
        .sort();
      return paginate(
        req,
        names.map((name) => branchJson(repo, name, repo.branches.get(name)!)),
        headers,
      );
    }),
    reader("GET", `${R}/refs/branches/*`, (req, { repo, headers }) => {
      const name = req.params["*"]!;
      const sha = repo.branches.get(name);
      if (sha === undefined) {
        return bitbucketError(404, `Branch "${name.slice(0, 100)}" not found`, {}, headers);
      }
      return { status: 200, headers, body: branchJson(repo, name, sha) };
    }),
    // A file's raw contents at a commit (`src/{commit}/{path}`; a branch name is taken too).
    reader("GET", `${R}/src/:commit/*`, (req, { repo, headers }) => {
      const ref = req.params.commit!;
      const sha = repo.commits.has(ref) ? ref : repo.branches.get(ref);
      if (sha === undefined) return bitbucketError(404, "Commit not found", {}, headers);
      const path = req.params["*"]!;
      const content = repo.trees.get(sha)?.get(path);
      if (content === undefined) {
        return bitbucketError(404, `No such file or directory: ${path.slice(0, 200)}`, {}, headers);
      }
      return {
        status: 200,
        body: content,
        headers: { ...headers, "content-type": "text/plain; charset=utf-8" },
      };
    }),
    keyAdmin("GET", `${R}/deploy-keys`, (req, { repo, headers }) =>
      paginate(
        req,
        repo.deployKeys.map((k) => keyJson(repo, k)),
        headers,
      ),
    ),
    keyAdmin("GET", `${R}/deploy-keys/:key_id`, (req, { repo, headers }) => {
      const key = repo.deployKeys.find((k) => String(k.id) === req.params.key_id);
      if (!key) return bitbucketError(404, "Deploy key not found.", {}, headers);
      return { status: 200, body: keyJson(repo, key), headers };
    }),
    keyAdmin("POST", `${R}/deploy-keys`, async (req, { repo, headers }) => {
      const request = objectBody(req);
      if (isReply(request)) return request;
      const body = request.json;
      const fields: Fields = {};
      const text = requiredString(body, "key", fields, 10_000);
      const label = optionalString(body, "label", fields) ?? "";
      const parsed = text === undefined || fields.key ? undefined : parsePublicKey(text);
      if (text !== undefined && !fields.key && (!parsed || parsed.hadOptions)) {
        fields.key = [
          "Invalid SSH key. Keys must be in OpenSSH format: <type> <base64> [comment].",
        ];
      }
      if (parsed?.technology === "dsa") fields.key = ["DSA keys are not supported."];
      const refused = invalid(fields, headers);
      if (refused) return refused;
      const stored = `${parsed!.type} ${parsed!.base64}`;
      if (repo.deployKeys.some((k) => k.key === stored)) {
        return bitbucketError(
          400,
          "Someone has already added that access key to this repository.",
          { fields: { key: ["Someone has already added that access key to this repository."] } },
          headers,
        );
      }
      const key: FakeDeployKey = {
        id: nextKeyId++,
        key: stored,
        label,
        comment: parsed!.comment,
        createdOn: now(),
      };
      repo.deployKeys.push(key);
      await keysChanged(repo);
      // Bitbucket documents 200 (not 201) for a created deploy key.
      return { status: 200, body: keyJson(repo, key), headers };
    }),
    keyAdmin("DELETE", `${R}/deploy-keys/:key_id`, async (req, { repo, headers }) => {
      const index = repo.deployKeys.findIndex((k) => String(k.id) === req.params.key_id);
      if (index < 0) return bitbucketError(404, "Deploy key not found.", {}, headers);
      repo.deployKeys.splice(index, 1);
      await keysChanged(repo);
      return { status: 204, headers };
    }),
    hookAdmin("GET", `${R}/hooks`, (req, { repo, headers }) =>
      paginate(
        req,
        repo.hooks.map((h) => hookJson(repo, h)),
        headers,
      ),
    ),
    hookAdmin("GET", `${R}/hooks/:uid`, (req, { repo, headers }) => {
      const hook = findHook(repo, req.params.uid!);
      if (!hook) return bitbucketError(404, "Webhook not found.", {}, headers);
      return { status: 200, body: hookJson(repo, hook), headers };
    }),
    hookAdmin("POST", `${R}/hooks`, (req, { repo, headers }) => {
      const input = hookInput(req, true, headers);
      if (isReply(input)) return input;
      const hook: FakeHook = {
        uuid: braced(),
        url: input.url!,
        description: input.description!,
        events: input.events!,
        active: input.active ?? true,
        secret: input.secret === undefined || input.secret === "" ? null : input.secret,
        skipCertVerification: input.skip ?? false,
        createdAt: new Date().toISOString(),
      };
      repo.hooks.push(hook);
      return { status: 201, body: hookJson(repo, hook), headers };
    }),
    hookAdmin("PUT", `${R}/hooks/:uid`, (req, { repo, headers }) => {
      const hook = findHook(repo, req.params.uid!);
      if (!hook) return bitbucketError(404, "Webhook not found.", {}, headers);
      const input = hookInput(req, false, headers);
      if (isReply(input)) return input;
      if (input.url !== undefined) hook.url = input.url;
      if (input.description !== undefined) hook.description = input.description;
      if (input.events !== undefined) hook.events = input.events;
      if (input.active !== undefined) hook.active = input.active;
      if (input.skip !== undefined) hook.skipCertVerification = input.skip;
      // An absent secret keeps the current one; null or "" removes it.
      if (input.secret !== undefined) hook.secret = input.secret === "" ? null : input.secret;
      else if (input.secretCleared) hook.secret = null;
      return { status: 200, body: hookJson(repo, hook), headers };
    }),
    hookAdmin("DELETE", `${R}/hooks/:uid`, (req, { repo, headers }) => {
      const hook = findHook(repo, req.params.uid!);
      if (!hook) return bitbucketError(404, "Webhook not found.", {}, headers);
      repo.hooks.splice(repo.hooks.indexOf(hook), 1);
      return { status: 204, headers };
    }),
    reader("GET", `${R}/commit/:commit/statuses`, (req, { repo, headers }) => {
      const sha = resolveCommit(repo, req.params.commit!);
      if (!sha) return bitbucketError(404, "Commit not found", {}, headers);
      return paginate(
        req,
        (repo.statuses.get(sha) ?? []).map((s) => statusJson(repo, sha, s)),
        headers,
      );
    }),
    writer("POST", `${R}/commit/:commit/statuses/build`, (req, { repo, headers }) => {
      const sha = resolveCommit(repo, req.params.commit!);
      if (!sha) return bitbucketError(404, "Commit not found", {}, headers);
      const request = objectBody(req);
      if (isReply(request)) return request;
      const body = request.json;
      const fields: Fields = {};
      const state = requiredString(body, "state", fields);
      if (state !== undefined && !(BUILD_STATES as readonly string[]).includes(state)) {
        fields.state = [
          `"${state.slice(0, 40)}" is not a valid choice: ${BUILD_STATES.join(", ")}.`,
        ];
      }
      const key = requiredString(body, "key", fields);
      const url = requiredString(body, "url", fields, 2048);
      if (url !== undefined && !fields.url && !/^https?:\/\/[^\s]+$/i.test(url)) {
        fields.url = ["Enter a valid URL."];
      }
      const name = optionalString(body, "name", fields);
      const description = optionalString(body, "description", fields);
      const refname = optionalString(body, "refname", fields);
      const refused = invalid(fields, headers);
      if (refused) return refused;
      const list = repo.statuses.get(sha) ?? [];
      repo.statuses.set(sha, list);
      // The same key again overwrites the status (Bitbucket's documented behaviour).
      let status = list.find((s) => s.key === key);
      const at = now();
      if (!status) {
        status = {
          key: key!,
          state: "",
          name: "",
          url: "",
          description: "",
          refname: null,
          createdOn: at,
          updatedOn: at,
        };
        list.push(status);
      }
      Object.assign(status, {
        state: state!,
        url: url!,
        name: name ?? key!,
        description: description ?? "",
        refname: refname ?? null,
        updatedOn: at,
      });
      return { status: 201, body: statusJson(repo, sha, status), headers };
    }),
  ];

  async function keysChanged(repo: Repo): Promise<void> {
    await options.onDeployKeysChanged?.(fullName(repo), [...repo.deployKeys]);
  }

  function findHook(repo: Repo, uid: string): FakeHook | undefined {
    const wanted = (uid.startsWith("{") ? uid : `{${uid}}`).toLowerCase();
    return repo.hooks.find((h) => h.uuid === wanted);
  }

  function resolveCommit(repo: Repo, ref: string): string | undefined {
    if (!/^[0-9a-f]{7,40}$/.test(ref)) return undefined;
    for (const sha of repo.commits) if (sha.startsWith(ref)) return sha;
    return undefined;
  }

  // ---------- webhooks ----------

  async function deliver(repo: Repo, event: string, payload: unknown): Promise<FakeDelivery[]> {
    const body = JSON.stringify(payload);
    const deliveries: FakeDelivery[] = [];
    for (const hook of repo.hooks) {
      if (!hook.active || !hook.events.includes(event)) continue;
      const headers: Record<string, string> = {
        "content-type": "application/json",
        "user-agent": "Bitbucket-Webhooks/2.0",
        "x-event-key": event,
        "x-hook-uuid": hook.uuid.slice(1, -1),
        "x-request-uuid": randomUUID(),
        "x-attempt-number": "1",
      };
      if (hook.secret !== null) {
        headers["x-hub-signature"] =
          `sha256=${createHmac("sha256", hook.secret).update(body).digest("hex")}`;
      }
      const delivery: FakeDelivery = {
        hookUuid: hook.uuid,
        url: hook.url,
        event,
        headers,
        body,
        attempts: [],
        status: 0,
        responseBody: "",
      };
      // Bitbucket resends a delivery answered with a 5xx (or not answered) twice more, at once.
      for (let attempt = 1; attempt <= 3; attempt++) {
        headers["x-attempt-number"] = String(attempt);
        Object.assign(delivery, await sendDelivery(hook.url, headers, body));
        delivery.attempts.push(delivery.status);
        if (delivery.status !== 0 && delivery.status < 500) break;
      }
      deliveries.push(delivery);
    }
    return deliveries;
  }

  const pushPayload = (repo: Repo, branch: string, before: string | undefined, after: string) => {
    const actor = userJson(repo.workspace.owner);
    const commit = (hash: string) => ({
      type: "commit",
      hash,
      date: now(),
      message: "Update the site\n",
      author: {
        type: "author",
        raw: `${actor.display_name} <${actor.username}@example.com>`,
        user: actor,
      },
      links: { html: { href: `https://${webHost}/${fullName(repo)}/commits/${hash}` } },
    });
    const ref = (hash: string) => ({
      type: "branch",
      name: branch,
      target: commit(hash),
      links: { html: { href: `https://${webHost}/${fullName(repo)}/branch/${branch}` } },
    });
    return {
      push: {
        changes: [
          {
            old: before === undefined ? null : ref(before),
            new: ref(after),
            created: before === undefined,
            closed: false,
            forced: false,
            truncated: false,
            commits: [commit(after)],
            links: {},
          },
        ],
      },
      repository: {
        ...repoSummary(repo),
        is_private: repo.isPrivate,
        scm: "git",
        workspace: { type: "workspace", slug: repo.workspace.slug, uuid: repo.workspace.uuid },
      },
      actor,
    };
  };

  // ---------- the server ----------

  const server = await startFakeServer({
    routes,
    notFound: (req) =>
      req.path.startsWith("/2.0/")
        ? bitbucketError(404, `Resource not found: ${req.method} ${req.path.slice(0, 200)}`)
        : { status: 404, body: "Not Found", headers: { "content-type": "text/plain" } },
  });
  apiUrl = `${server.url}/2.0`;

  const userNamed = (username: string): User => {
    const user = users.get(username);
    if (!user) throw new Error(`no user ${username} in the fake`);
    return user;
  };

  const issue = (kind: Credential["kind"], username: string, scopes: readonly string[]) => {
    const secret =
      kind === "app_password"
        ? `ATBB${randomBytes(16).toString("hex")}`
        : `ATCTT3x${randomBytes(24).toString("base64url")}`;
    credentials.push({ kind, user: userNamed(username), secret, scopes: new Set(scopes) });
    return secret;
  };

  return {
    ...server,
    apiUrl,
    addUser(username, displayName) {
      const user: User = {
        uuid: braced(),
        accountId: `557058:${randomUUID()}`,
        username,
        displayName: displayName ?? username,
      };
      users.set(username, user);
      return { uuid: user.uuid, username };
    },
    appPassword: (username, scopes = SLIPWAY_SCOPES) => issue("app_password", username, scopes),
    accessToken: (username, scopes = SLIPWAY_SCOPES) => issue("access_token", username, scopes),
    revoke(secret) {
      const index = credentials.findIndex((c) => c.secret === secret);
      if (index >= 0) credentials.splice(index, 1);
    },
    addRepo(owner, opts) {
      const slug = opts.slug.toLowerCase();
      let workspace = workspaces.get(opts.workspace.toLowerCase());
      if (!workspace) {
        workspace = {
          uuid: braced(),
          slug: opts.workspace.toLowerCase(),
          name: opts.workspace,
          owner: userNamed(owner),
        };
        workspaces.set(workspace.slug, workspace);
      }
      const repo: Repo = {
        uuid: braced(),
        workspace,
        slug,
        name: opts.name ?? opts.slug,
        isPrivate: opts.private ?? true,
        mainbranch: opts.mainbranch === undefined ? "main" : opts.mainbranch,
        sshUrl: opts.sshUrl,
        members: new Map(Object.entries(opts.members ?? {})),
        branches: new Map(),
        commits: new Set(),
        trees: new Map(),
        deployKeys: [],
        hooks: [],
        statuses: new Map(),
        createdOn: now(),
      };
      for (const username of repo.members.keys()) userNamed(username);
      repos.push(repo);
      if (repo.mainbranch !== null) {
        const sha = randomSha();
        repo.branches.set(repo.mainbranch, sha);
        repo.commits.add(sha);
      }
      return { uuid: repo.uuid, fullName: fullName(repo) };
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
    setMember(name, username, role) {
      const repo = repoByFullName(name);
      userNamed(username);
      if (role === null) repo.members.delete(username);
      else repo.members.set(username, role);
    },
    deployKeys: (name) => repoByFullName(name).deployKeys,
    hooks: (name) => repoByFullName(name).hooks,
    buildStatuses: (name, sha) => repoByFullName(name).statuses.get(sha) ?? [],
    async removeDeployKeyByHand(name, id) {
      const repo = repoByFullName(name);
      repo.deployKeys = repo.deployKeys.filter((k) => k.id !== id);
      await keysChanged(repo);
    },
    editHookByHand(name, uuid, change) {
      const hook = findHook(repoByFullName(name), uuid);
      if (!hook) throw new Error(`no hook ${uuid}`);
      Object.assign(hook, change);
    },
    async push(name, branch, sha = randomSha()) {
      const repo = repoByFullName(name);
      const before = repo.branches.get(branch);
      repo.branches.set(branch, sha);
      repo.commits.add(sha);
      return deliver(repo, "repo:push", pushPayload(repo, branch, before, sha));
    },
    async pullRequest(name, pr) {
      const repo = repoByFullName(name);
      const sha = pr.sha ?? repo.branches.get(pr.source) ?? randomSha();
      repo.commits.add(sha);
      const author = pr.author ? userJson(userNamed(pr.author)) : userJson(repo.workspace.owner);
      const source = pr.fromFork
        ? {
            type: "repository",
            full_name: pr.fromFork,
            name: pr.fromFork.split("/")[1],
            uuid: braced(),
          }
        : repoSummary(repo);
      const state = { fulfilled: "MERGED", rejected: "DECLINED" }[pr.action as string] ?? "OPEN";
      const payload = {
        pullrequest: {
          type: "pullrequest",
          id: pr.id,
          title: pr.title ?? `Pull request ${pr.id}`,
          state,
          author,
          source: {
            branch: { name: pr.source },
            commit: { type: "commit", hash: sha.slice(0, 12) },
            repository: source,
          },
          destination: {
            branch: { name: pr.destination },
            commit: {
              type: "commit",
              hash: (repo.branches.get(pr.destination) ?? randomSha()).slice(0, 12),
            },
            repository: repoSummary(repo),
          },
          links: { html: { href: `https://${webHost}/${fullName(repo)}/pull-requests/${pr.id}` } },
        },
        repository: repoSummary(repo),
        actor: author,
      };
      return deliver(repo, `pullrequest:${pr.action}`, payload);
    },
  };
}
