import { rm } from "node:fs/promises";
import { join } from "node:path";
import { runChecked } from "../../lib/run.ts";
import type { Repositories } from "../context.ts";
import { gitEnv } from "./env.ts";

/**
 * Bare repositories on local disk. A repository's path comes only from the project's integer
 * id, never from a name a user typed, so no request can point git at another directory.
 */
export class RepositoryStore implements Repositories {
  constructor(readonly root: string) {}

  pathFor(projectId: number): string {
    if (!Number.isSafeInteger(projectId) || projectId <= 0) {
      throw new Error(`invalid project id ${projectId}`);
    }
    return join(this.root, `${projectId}.git`);
  }

  async create(projectId: number, defaultBranch: string): Promise<void> {
    const path = this.pathFor(projectId);
    const env = gitEnv();
    await runChecked(
      "git",
      ["init", "--quiet", "--bare", `--initial-branch=${defaultBranch}`, "--", path],
      { env },
    );
    // Safe defaults for a server-side repository.
    for (const [key, value] of [
      ["receive.fsckObjects", "true"],
      ["receive.denyNonFastForwards", "false"],
      ["uploadpack.allowFilter", "true"],
      ["uploadpack.allowAnySHA1InWant", "false"],
      ["core.logAllRefUpdates", "true"],
    ] as const) {
      await runChecked("git", ["--git-dir", path, "config", key, value], { env });
    }
  }

  async remove(projectId: number): Promise<void> {
    await rm(this.pathFor(projectId), { recursive: true, force: true });
  }
}
