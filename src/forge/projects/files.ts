import type { ForgeContext } from "../context.ts";
import { badParams, notFound, withMessage } from "../errors.ts";
import { resolveCommit } from "../git/commits.ts";
import { readBlobAt } from "../git/files.ts";
import { assertCanReadCode } from "./branches.ts";
import type { LoadedProject } from "./projects.ts";

/** Files larger than this are refused rather than held in memory (GitLab streams them). */
export const RAW_FILE_MAX_BYTES = 16 * 1024 * 1024;

/**
 * `GET /projects/:id/repository/files/:file_path/raw` (GitLab's `lib/api/files.rb`): the bytes
 * of one file at `ref` (a branch, tag or commit; the default branch when absent). Reading needs
 * `read_code`; an unknown ref is `404 Commit Not Found`, a missing file `404 File Not Found`, a
 * path with `..` GitLab's 400.
 */
export async function readRawFile(
  ctx: ForgeContext,
  loaded: LoadedProject,
  filePath: string,
  ref: string | undefined,
): Promise<Buffer> {
  assertCanReadCode(loaded);
  const parts = filePath.split("/");
  if (filePath === "" || parts.includes("..") || filePath.startsWith("/")) {
    throw badParams("file_path should be a valid file path");
  }
  const repo = ctx.repositories.pathFor(loaded.project.id);
  const sha = await resolveCommit(repo, ref ?? loaded.project.default_branch);
  if (sha === null) throw notFound("Commit");
  const blob = await readBlobAt(repo, sha, filePath, RAW_FILE_MAX_BYTES);
  if (blob.kind === "missing") throw notFound("File");
  if (blob.kind === "too_large") {
    throw withMessage("too_large", `413 File is larger than ${RAW_FILE_MAX_BYTES} bytes`);
  }
  return blob.bytes;
}
