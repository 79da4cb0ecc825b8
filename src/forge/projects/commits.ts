import type { ForgeContext } from "../context.ts";
import { notFound } from "../errors.ts";
import { readCommitDetail, resolveCommit, type CommitDetail } from "../git/commits.ts";
import { assertCanReadCode } from "./branches.ts";
import type { LoadedProject } from "./projects.ts";

/**
 * `GET /projects/:id/repository/commits/:sha` (GitLab's `lib/api/commits.rb`): a full or
 * abbreviated commit id, or a branch or tag name; reading needs `read_code`. A revision that
 * names no commit is `404 Commit Not Found`.
 */
export async function showCommit(
  ctx: ForgeContext,
  loaded: LoadedProject,
  revision: string,
): Promise<CommitDetail> {
  assertCanReadCode(loaded);
  const repo = ctx.repositories.pathFor(loaded.project.id);
  const sha = await resolveCommit(repo, revision);
  const commit = sha === null ? null : await readCommitDetail(repo, sha);
  if (!commit) throw notFound("Commit");
  return commit;
}
