import type { RepoUrl } from "./repo-url.ts";

/**
 * Turns what git and ssh print when a fetch fails into errors a user can act on: which key was
 * refused and where it must be added, which branches exist, that the host key changed, that the
 * network is the problem. The seed's build log — "Permission denied (publickey)" and nothing
 * else — is what this module exists to prevent.
 */

export type GitProvider = "gitlab" | "github" | "bitbucket" | "gitea" | "forge" | "git";

export type GitErrorCode =
  /** The server refused the deploy key. */
  | "auth_failed"
  /** The key was accepted, but the repository does not exist or the key may not read it. */
  | "repo_not_found"
  | "host_key_changed"
  | "host_key_unknown"
  | "ref_not_found"
  | "commit_not_on_branch"
  | "network"
  | "timeout"
  /** Refused before connecting: the URL, the branch or the address is not allowed. */
  | "not_allowed"
  | "unknown";

export interface DiagnoseContext {
  repo: RepoUrl;
  branch?: string;
  /** `ED25519 SHA256:…` of the deploy key used. */
  keyFingerprint?: string;
  provider?: GitProvider;
  /** The repository's web page, if known (otherwise derived from the URL for known providers). */
  repoWebUrl?: string;
  /** Branches that exist, when already listed (for "couldn't find remote ref"). */
  remoteBranches?: readonly string[];
  /** Fingerprints of the host keys pinned for this host. */
  pinnedHostKeys?: readonly string[];
  /** The pinned keys are the ones a provider publishes (`published-host-keys.ts`). */
  publishedBy?: { provider: string; source: string };
  /** git was stopped at the time limit (its stderr may say nothing). */
  timedOut?: boolean;
  timeoutMs?: number;
}

export interface Diagnosis {
  code: GitErrorCode;
  /** The whole actionable message, for the build log and `build.error`. */
  message: string;
  /** What git/ssh said, trimmed (no secrets: it never sees the key, only its path). */
  detail: string;
}

export class GitFetchError extends Error {
  override name = "GitFetchError";
  readonly code: GitErrorCode;
  readonly detail: string;
  constructor(diagnosis: Diagnosis) {
    super(diagnosis.message);
    this.code = diagnosis.code;
    this.detail = diagnosis.detail;
  }
}

const MAX_BRANCHES_SHOWN = 20;

export function diagnoseGitFailure(stderr: string, ctx: DiagnoseContext): Diagnosis {
  const detail = tidy(stderr);
  const where = describeRepo(ctx.repo);
  const hostPort = hostAndPort(ctx.repo);
  const key = ctx.keyFingerprint
    ? `Slipway's deploy key (${ctx.keyFingerprint})`
    : "the deploy key";
  const make = (code: GitErrorCode, message: string): Diagnosis => ({ code, message, detail });

  if (ctx.timedOut) {
    const limit = ctx.timeoutMs ? ` (${Math.round(ctx.timeoutMs / 1000)} s)` : "";
    return make(
      "timeout",
      `Fetching ${where} did not finish within the time limit${limit} and was stopped. The git ` +
        `host at ${hostPort} accepted the connection but stopped answering; try again later, ` +
        "and check the host's status if it keeps happening.",
    );
  }

  if (
    /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|host key for .* has changed|No \S+ host key is known for/i.test(
      stderr,
    )
  ) {
    const sent =
      /fingerprint for the (\S+) key sent by the remote host is\s*(SHA256:[A-Za-z0-9+/=]+)/.exec(
        stderr,
      );
    const offered = sent ? `${sent[1]} ${sent[2]}` : undefined;
    if (ctx.publishedBy) {
      const { provider, source } = ctx.publishedBy;
      return make(
        "host_key_changed",
        `${ctx.repo.host} presented a host key that is not ${provider}'s published key` +
          `${offered ? ` (it presented ${offered})` : ""}. ${provider} publishes its keys at ` +
          `${source}${ctx.pinnedHostKeys?.length ? ` (${ctx.pinnedHostKeys.join(", ")})` : ""}, ` +
          "and Slipway accepts only those. Something between this platform and " +
          `${ctx.repo.host} is answering in its place (an intercepting proxy, or DNS sending ` +
          `${ctx.repo.host} elsewhere); nothing was fetched.`,
      );
    }
    if (ctx.pinnedHostKeys?.length || /HAS CHANGED|has changed/i.test(stderr)) {
      const pinned = ctx.pinnedHostKeys?.length
        ? ` (pinned: ${ctx.pinnedHostKeys.join(", ")})`
        : "";
      const now = offered ? `; it now presents ${offered}` : "";
      return make(
        "host_key_changed",
        `The SSH host key of ${hostPort} has changed since Slipway first connected to it${pinned}${now}. ` +
          "Either the server was reinstalled or its keys were rotated, or someone is intercepting " +
          "the connection. If the change is expected, confirm the new fingerprint with the " +
          "server's administrator and reset the site's pinned host key; until then, builds of " +
          "this site stop here.",
      );
    }
    return make(
      "host_key_unknown",
      `Slipway has no pinned SSH host key for ${hostPort} and is not allowed to trust a new host ` +
        "on first use. Record the host's key for this site first (after checking its fingerprint).",
    );
  }

  if (
    /Permission denied \((?:publickey|[a-z-]+,)[^)]*\)/.test(stderr) ||
    /Permission denied \(publickey/.test(stderr)
  ) {
    return make(
      "auth_failed",
      `${hostPort} refused ${key}: "Permission denied (publickey)". Add this key as a deploy ` +
        `key of the repository ${ctx.repo.path} — ${deployKeyPlace(ctx)} — and not to a user's ` +
        "SSH keys in the profile settings (a deploy key gives access to one repository, " +
        "without acting as a user). Read-only access is enough. If the key is already there, " +
        "check that it belongs to this very repository and is enabled, and that the repository " +
        "URL is right.",
    );
  }

  if (
    /could not read Username|terminal prompts disabled|Authentication failed for|HTTP Basic: Access denied|The requested URL returned error: 40[13]/.test(
      stderr,
    )
  ) {
    return make(
      "auth_failed",
      `${where} needs authentication over HTTPS, which Slipway does not do. Private ` +
        "repositories are fetched over SSH with the site's deploy key: link the SSH URL " +
        `(for example git@${ctx.repo.host}:${ctx.repo.path.replace(/^\/+/, "")}) and add ${key} ` +
        `${deployKeyPlace(ctx)}.`,
    );
  }

  if (/couldn't find remote ref|Remote branch .* not found|invalid refspec/i.test(stderr)) {
    const branch =
      ctx.branch ?? /couldn't find remote ref (?:refs\/heads\/)?(\S+)/.exec(stderr)?.[1];
    return make(
      "ref_not_found",
      `The branch "${branch}" does not exist in ${where}. ${describeBranches(ctx.remoteBranches)}` +
        "Change the site's branch, or push the branch to the repository.",
    );
  }

  if (
    /The project you were looking for could not be found|Repository not found|repository does not exist|does not appear to be a git repository|fatal: repository '.*' not found|Could not find (?:the )?repository|project not found/i.test(
      stderr,
    )
  ) {
    return make(
      "repo_not_found",
      `${hostPort} accepted ${key} but says the repository ${ctx.repo.path} does not exist or ` +
        "this key may not read it. Check the path in the repository URL, and that the key is a " +
        `deploy key of this very repository (${deployKeyPlace(ctx)}); a key added to another ` +
        "repository or to a user's profile does not give access.",
    );
  }

  if (
    /You are not allowed to download code|not allowed to (?:access|read)|access denied|Forbidden|deploy key is not enabled|Permission to .* denied/i.test(
      stderr,
    )
  ) {
    return make(
      "repo_not_found",
      `${hostPort} accepted ${key} but refused access to ${ctx.repo.path}: the key is not allowed ` +
        `to read this repository. Add it as a deploy key of this repository (${deployKeyPlace(ctx)}) ` +
        "and make sure it is enabled there.",
    );
  }

  const network = networkProblem(stderr, ctx.repo);
  if (network) return make("network", network);

  if (
    /transport '.*' not allowed|unsupported protocol|protocol '.*' is not supported/i.test(stderr)
  ) {
    return make(
      "not_allowed",
      `git refused the repository URL's transport (${lastLine(detail)}). Only ssh:// (and ` +
        "user@host:path) and https:// repositories can be linked.",
    );
  }

  return make(
    "unknown",
    `Fetching ${where} failed: ${lastLine(detail) || "git exited with an error"}.`,
  );
}

function networkProblem(stderr: string, repo: RepoUrl): string | undefined {
  const hostPort = hostAndPort(repo);
  if (
    /Could not resolve (?:hostname|host)|Name or service not known|Temporary failure in name resolution|nodename nor servname/i.test(
      stderr,
    )
  ) {
    return `The host name ${repo.host} could not be resolved. Check the repository URL for typos, and the platform's DNS.`;
  }
  if (/Connection refused/i.test(stderr)) {
    return `Nothing accepts ${repo.protocol === "ssh" ? "SSH" : "HTTPS"} connections at ${hostPort} (connection refused). Check the host and port in the repository URL, and that the git server is running.`;
  }
  if (
    /timed out|Connection timed out|Operation timed out|Timeout, server .* not responding/i.test(
      stderr,
    )
  ) {
    return `The connection to ${hostPort} timed out: the host is down or unreachable, or a firewall drops the traffic.`;
  }
  if (
    /Network is unreachable|No route to host|Could not connect to|Failed to connect to/i.test(
      stderr,
    )
  ) {
    return `${hostPort} cannot be reached from the platform (${lastLine(tidy(stderr))}). Check the host in the repository URL and the platform's network.`;
  }
  if (
    /kex_exchange_identification|Connection closed by|Connection reset by peer|ssh_exchange_identification|Broken pipe|early EOF|the remote end hung up unexpectedly/i.test(
      stderr,
    )
  ) {
    return `${hostPort} closed the connection unexpectedly: it may not be an SSH git server, it may limit connections, or the network dropped. Try again; if it persists, check the host and port in the repository URL.`;
  }
  if (
    /SSL certificate problem|server certificate verification failed|certificate verify failed/i.test(
      stderr,
    )
  ) {
    return `The TLS certificate of ${hostPort} could not be verified (${lastLine(tidy(stderr))}).`;
  }
  return undefined;
}

function describeBranches(branches: readonly string[] | undefined): string {
  if (branches === undefined) return "";
  if (branches.length === 0)
    return "The repository has no branches at all yet (push a first commit). ";
  const shown = branches.slice(0, MAX_BRANCHES_SHOWN).join(", ");
  const more =
    branches.length > MAX_BRANCHES_SHOWN ? ` and ${branches.length - MAX_BRANCHES_SHOWN} more` : "";
  return `Branches that exist: ${shown}${more}. `;
}

/** Where, at this provider, a deploy key for this repository is added. */
export function deployKeyPlace(
  ctx: Pick<DiagnoseContext, "provider" | "repo" | "repoWebUrl">,
): string {
  const web = ctx.repoWebUrl?.replace(/\/+$/, "") ?? webUrlOf(ctx.repo);
  switch (ctx.provider) {
    case "github":
      return `on GitHub, in the repository's Settings → Deploy keys → Add deploy key (${web}/settings/keys)`;
    case "gitlab":
      return `on GitLab, in the project's Settings → Repository → Deploy keys (${web}/-/settings/repository), or with POST /api/v4/projects/:id/deploy_keys`;
    case "bitbucket":
      return `on Bitbucket, in the repository's Repository settings → Access keys (${web}/admin/access-keys/)`;
    case "gitea":
      return `on Gitea/Forgejo, in the repository's Settings → Deploy keys (${web}/settings/keys)`;
    case "forge":
      return `on the Slipway forge, in the project's deploy keys (POST /api/v4/projects/:id/deploy_keys, as with GitLab; ${web})`;
    default:
      return `in the repository's deploy keys (some hosts call them access keys) at ${ctx.repo.host}`;
  }
}

function webUrlOf(repo: RepoUrl): string {
  const path = repo.path.replace(/^\/+/, "").replace(/\.git$/, "");
  return `https://${repo.host.includes(":") ? `[${repo.host}]` : repo.host}/${path}`;
}

function hostAndPort(repo: RepoUrl): string {
  const host = repo.host.includes(":") ? `[${repo.host}]` : repo.host;
  return repo.port === 22 || repo.port === 443 ? host : `${host}:${repo.port}`;
}

function describeRepo(repo: RepoUrl): string {
  return repo.url;
}

/** stderr without blank lines and ssh's banner noise, at most the last 20 lines. */
function tidy(stderr: string): string {
  return stderr
    .split(/\r?\n|\r/)
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== "" && !/^@+$/.test(l.trim()))
    .slice(-20)
    .join("\n");
}

function lastLine(text: string): string {
  const lines = text
    .split("\n")
    .filter(
      (l) =>
        !/^fatal: Could not read from remote repository\.?$|^Please make sure you have the correct access rights$|^and the repository exists\.?$/.test(
          l,
        ),
    );
  return (lines.at(-1) ?? "").replace(/^(fatal|error): /, "");
}
