import { isValidBranchName } from "../../lib/git-refs.ts";
import { run } from "../../lib/run.ts";
import type { ForgeContext } from "../context.ts";
import { forbidden, notFound } from "../errors.ts";
import { canDownloadCode } from "./policies.ts";
import type { LoadedProject } from "./projects.ts";

/** A branch head as git reports it. */
export interface BranchHead {
  name: string;
  sha: string;
  subject: string;
  authorName: string;
  authorEmail: string;
  authoredAt: string;
  committerName: string;
  committerEmail: string;
  committedAt: string;
}

const FIELDS = [
  "%(refname:strip=2)",
  "%(objectname)",
  "%(subject)",
  "%(authorname)",
  "%(authoremail:trim)",
  "%(authordate:iso-strict)",
  "%(committername)",
  "%(committeremail:trim)",
  "%(committerdate:iso-strict)",
];

/** GitLab's `read_code`: reading branches needs the right to download the code. */
export function assertCanReadCode(loaded: LoadedProject): void {
  if (!canDownloadCode(loaded.access)) throw forbidden();
}

/** Every branch of the project's repository, by name. */
export async function listBranches(ctx: ForgeContext, projectId: number): Promise<BranchHead[]> {
  const result = await run(
    "git",
    [
      "--git-dir",
      ctx.repositories.pathFor(projectId),
      "for-each-ref",
      "--sort=refname",
      `--format=${FIELDS.join("%00")}`,
      "refs/heads/",
    ],
    { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C", GIT_CONFIG_NOSYSTEM: "1" } },
  );
  if (result.code !== 0) throw new Error(`git for-each-ref failed: ${result.stderr.trim()}`);
  return result.stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const [name, sha, subject, an, ae, ad, cn, ce, cd] = line.split("\0");
      return {
        name: name ?? "",
        sha: sha ?? "",
        subject: subject ?? "",
        authorName: an ?? "",
        authorEmail: ae ?? "",
        authoredAt: ad ?? "",
        committerName: cn ?? "",
        committerEmail: ce ?? "",
        committedAt: cd ?? "",
      };
    });
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
