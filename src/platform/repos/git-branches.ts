import { withGitSession, type GitAccess, type GitSession } from "./git-session.ts";

/** Branch listing (`git ls-remote --heads`) through the same hardened connection as a fetch. */

/** The branch names of the session's repository, sorted. */
export async function listBranches(session: GitSession): Promise<string[]> {
  const result = await session.git(["ls-remote", "--heads", "--end-of-options", session.repo.url], {
    network: true,
  });
  if (result.code !== 0) throw session.failure(result);
  return result.stdout
    .split("\n")
    .map((line) => /^[0-9a-f]+\trefs\/heads\/(.+)$/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined)
    .sort();
}

/** The repository's branch names (sorted), through the same hardened connection. */
export async function listRemoteBranches(options: GitAccess): Promise<string[]> {
  return withGitSession(options, (session) => listBranches(session));
}
