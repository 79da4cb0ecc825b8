import { spawn } from "node:child_process";
import { isGitObjectId } from "../../lib/git-ids.ts";
import { hasControlCharacters } from "../../lib/text.ts";
import { run } from "../../lib/run.ts";
import { gitEnv } from "./env.ts";

/**
 * One file of a commit, as GitLab's repository files API reads it. The path goes to git only
 * through `cat-file --batch-check`'s stdin (never as an argument), so it cannot be read as an
 * option; the blob is then read by its object id.
 */

export type BlobRead =
  { kind: "file"; bytes: Buffer } | { kind: "missing" } | { kind: "too_large"; size: number };

export async function readBlobAt(
  repo: string,
  commit: string,
  path: string,
  maxBytes: number,
): Promise<BlobRead> {
  if (!isGitObjectId(commit) || hasControlCharacters(path)) return { kind: "missing" };
  const check = await run("git", ["--git-dir", repo, "cat-file", "--batch-check"], {
    env: gitEnv(),
    input: `${commit}:${path}\n`,
  });
  const [oid, type, size] = check.stdout.trim().split(" ");
  if (check.code !== 0 || type !== "blob" || oid === undefined || !isGitObjectId(oid)) {
    return { kind: "missing" };
  }
  if (Number(size) > maxBytes) return { kind: "too_large", size: Number(size) };
  return { kind: "file", bytes: await blobBytes(repo, oid) };
}

function blobBytes(repo: string, oid: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", ["--git-dir", repo, "cat-file", "blob", oid], {
      env: gitEnv(),
      stdio: ["ignore", "pipe", "ignore"],
    });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve(Buffer.concat(chunks))
        : reject(new Error(`git cat-file blob failed (${code})`)),
    );
  });
}
