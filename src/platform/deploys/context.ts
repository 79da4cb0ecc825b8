import type { Site } from "../db/schema.ts";

export function deployContext(
  site: Pick<Site, "repo_branch">,
  branch: string,
  reviewId?: number | null,
): "production" | "branch-deploy" | "deploy-preview" {
  if (reviewId !== undefined && reviewId !== null) return "deploy-preview";
  return branch === (site.repo_branch ?? "main") ? "production" : "branch-deploy";
}
