import { githubMessage } from "./github-parse.ts";
import { header, type Refusal } from "./rest.ts";
import { ProviderError, type ProviderCredential } from "./types.ts";

/**
 * GitHub's refusals as `ProviderError`s whose hint names what to do in GitHub's terms: the
 * scope (classic tokens) or permission (fine-grained tokens, Apps) the call needs, a rate limit
 * and when it resets, and GitHub's habit of answering 404 rather than 403 for a private
 * repository the credential may not see.
 */

/** What a call is for: decides which scope or permission a refusal's hint names. */
export type Purpose = "identity" | "repo" | "keys" | "hooks" | "statuses" | "app";

/** A GitHub call, as its refusal tells it. */
export interface GitHubOperation {
  /** What the call does, as a whole phrase: "list the webhooks of octo/site". */
  action: string;
  purpose: Purpose;
  /** The repository the call is about: its 404 may be GitHub hiding it. */
  repo?: string;
}

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
export const FINE_GRAINED_NEEDS =
  "GitHub does not report a fine-grained token's permissions. On each repository you link it needs Administration: Read and write (deploy keys), Webhooks: Read and write, Commit statuses: Read and write and Contents: Read-only (Metadata: Read-only comes with them).";

/** The scope or permission `purpose` needs, in the terms of the connection's credential. */
function needs(credential: ProviderCredential, purpose: Purpose): string {
  const need = NEEDS[purpose];
  if (credential.kind === "github_app") return need.app;
  if (credential.kind === "token" && credential.token.startsWith("github_pat_"))
    return need.fineGrained;
  if (credential.kind === "token" && /^gh[pousr]_/.test(credential.token)) return need.classic;
  return `${need.classic} (classic token) or ${need.fineGrained} (fine-grained token)`;
}

/** The refusals of a connection with `credential`, whose tokens are managed at `webUrl`. */
export function githubRefusal(
  credential: ProviderCredential,
  webUrl: () => string,
): Refusal<GitHubOperation> {
  return (res, { action, purpose, repo }) => {
    const said = githubMessage(res.body);
    const quoted = said === "" ? "" : ` ("${said}")`;
    const need = needs(credential, purpose);
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
          `the token was revoked, has expired or is mistyped: create a new one at ${webUrl()}/settings/tokens and update the connection`,
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
          `the credential needs ${need}${said.startsWith("Must have admin rights") ? ", and its user must be an admin of the repository" : ""}`,
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
            ? `check the owner and name, and that the credential has ${need}${credential.kind === "token" ? " and its user can administer the repository" : ""}`
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
  };
}
