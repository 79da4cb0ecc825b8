import type { RepoProvider } from "../db/schema.ts";

/**
 * Names of deploy previews: how a request is called in its provider's words, the git ref its
 * head is fetched from, and the host label its newest preview is served at.
 */

/** `pull request #5`, or GitLab's `merge request !5`. */
export function reviewName(provider: RepoProvider, number: number): string {
  return provider === "gitlab" ? `merge request !${number}` : `pull request #${number}`;
}

/**
 * The ref a request's head is fetched from, or undefined for Bitbucket (whose source branch is
 * fetched: Bitbucket Cloud publishes no pull request refs) and providers without requests.
 */
export function previewFetchRef(provider: RepoProvider | null, number: number): string | undefined {
  switch (provider) {
    case "github":
    case "gitea":
      return `refs/pull/${number}/head`;
    case "gitlab":
      return `refs/merge-requests/${number}/head`;
    default:
      return undefined;
  }
}

/** The host label of a request's newest preview: `deploy-preview-5` (`…--<site>`). */
export const previewLabel = (number: number): string => `deploy-preview-${number}`;

const PREVIEW_LABEL = /^deploy-preview-([1-9][0-9]{0,9})$/;

/** The request number a host label names (`deploy-preview-5` → 5), or undefined. */
export function reviewIdOfLabel(label: string): number | undefined {
  const match = PREVIEW_LABEL.exec(label);
  if (!match) return undefined;
  const number = Number(match[1]);
  return number <= 2_147_483_647 ? number : undefined;
}
