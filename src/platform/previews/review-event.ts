export type ReviewAction = "opened" | "reopened" | "updated" | "closed" | "merged" | "ignored";

/**
 * A pull request (GitHub, Gitea, Bitbucket) or merge request (GitLab) event. Only its number,
 * head commit, head branch, URL, title and trust facts are read; the commits are fetched from
 * the site's own repository.
 */
export interface ReviewEvent {
  number: number;
  action: ReviewAction;
  /** The provider's own name of the action (`synchronize`, `update`, `pullrequest:fulfilled`). */
  providerAction: string;
  /** The head commit: a full id, or Bitbucket's abbreviated one; null when not needed. */
  head: string | null;
  /** The source branch (in the fork, for a fork). */
  headBranch: string | null;
  fork: boolean;
  /** Why the request must wait for approval (`from a fork (evil/site)`); null when trusted. */
  untrusted: string | null;
  /** The request's web page, when the payload has an http(s) URL. */
  url: string | null;
  title: string | null;
}
