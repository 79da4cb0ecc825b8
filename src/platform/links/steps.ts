import { isoNow, type PlatformContext } from "../context.ts";
import type { GitProviderName, SiteLink } from "../db/schema.ts";

/**
 * What linking did, step by step, as stored in `site_links.steps` and shown by
 * `GET /sites/:id/link`: each step's result and a sentence a person can act on.
 */
export type LinkStepName =
  "repository" | "deploy_key" | "install_key" | "webhook" | "branch" | "clone_access" | "cleanup";

export interface LinkStep {
  step: LinkStepName;
  status: "ok" | "failed" | "skipped";
  message: string;
  hint?: string;
  at: string;
}

export function readSteps(link: Pick<SiteLink, "steps">): LinkStep[] {
  try {
    const steps = JSON.parse(link.steps) as unknown;
    return Array.isArray(steps) ? (steps as LinkStep[]) : [];
  } catch {
    return [];
  }
}

/** Appends steps to the site's link row, each written as soon as it is known (durable). */
export class StepLog {
  readonly steps: LinkStep[] = [];

  constructor(
    private readonly ctx: PlatformContext,
    private readonly siteId: string,
  ) {}

  async add(step: LinkStepName, status: LinkStep["status"], message: string, hint?: string) {
    this.steps.push({
      step,
      status,
      message,
      ...(hint !== undefined ? { hint } : {}),
      at: isoNow(this.ctx),
    });
    await this.ctx.db
      .updateTable("site_links")
      .set({ steps: JSON.stringify(this.steps), updated_at: isoNow(this.ctx) })
      .where("site_id", "=", this.siteId)
      .execute();
  }
}

/** Each provider's words for the places and events linking touches. */
export interface ProviderTerms {
  name: string;
  reviewEvents: string;
  deployKeysPlace: string;
  webhooksPlace: string;
}

export const PROVIDER_TERMS: Record<GitProviderName, ProviderTerms> = {
  gitlab: {
    name: "GitLab",
    reviewEvents: "merge requests",
    deployKeysPlace: "the project's Settings → Repository → Deploy keys",
    webhooksPlace: "the project's Settings → Webhooks",
  },
  github: {
    name: "GitHub",
    reviewEvents: "pull requests",
    deployKeysPlace: "the repository's Settings → Deploy keys",
    webhooksPlace: "the repository's Settings → Webhooks",
  },
  bitbucket: {
    name: "Bitbucket",
    reviewEvents: "pull requests",
    deployKeysPlace: "the repository's Repository settings → Access keys",
    webhooksPlace: "the repository's Repository settings → Webhooks",
  },
  gitea: {
    name: "Gitea",
    reviewEvents: "pull requests",
    deployKeysPlace: "the repository's Settings → Deploy Keys",
    webhooksPlace: "the repository's Settings → Webhooks",
  },
};
