import { isValidBranchName } from "../../lib/git-refs.ts";
import type { ForgeContext } from "../context.ts";
import { forbidden, notFound } from "../errors.ts";
import { listBranchHeads, type BranchHead } from "../git/commits.ts";
import { canDownloadCode } from "./policies.ts";
import type { LoadedProject } from "./projects.ts";

/** GitLab's `read_code`: reading branches needs the right to download the code. */
export function assertCanReadCode(loaded: LoadedProject): void {
  if (!canDownloadCode(loaded.access)) throw forbidden();
}

/** Every branch of the project's repository, by name. */
export async function listBranches(ctx: ForgeContext, projectId: number): Promise<BranchHead[]> {
  return listBranchHeads(ctx.repositories.pathFor(projectId));
}

/** One branch by its exact name: "404 Branch Not Found" when it does not exist. */
export async function findBranch(
  ctx: ForgeContext,
  projectId: number,
  name: string,
): Promise<BranchHead> {
  // An invalid name cannot exist; checking it first also keeps glob characters out of git.
  if (!isValidBranchName(name)) throw notFound("Branch");
  const found = (await listBranches(ctx, projectId)).find((b) => b.name === name);
  if (!found) throw notFound("Branch");
  return found;
}
