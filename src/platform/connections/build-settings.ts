import { isValidBranchName } from "../../lib/git-refs.ts";
import type { PlatformContext } from "../context.ts";
import { invalidField } from "../errors.ts";
import type { GitConnection } from "../db/schema.ts";
import { detectFramework, type DetectedFramework } from "../frameworks/detect.ts";
import {
  NetlifyTomlError,
  parseNetlifyToml,
  type NetlifyToml,
} from "../frameworks/netlify-toml.ts";
import { resolveBase, resolveBuildSettings } from "../frameworks/settings.ts";
import { ProviderError, type ProviderClient, type ProviderRepo } from "../providers/types.ts";
import { connectionClient } from "./clients.ts";
import { recordConnectionUse } from "./connections.ts";
import { providerFailure } from "./provider-errors.ts";

/**
 * What a repository's files say its build is — for prefilling the link form: its netlify.toml
 * (`[build]` and `[context.production]`, the branch being linked as production) over framework
 * detection, read through the provider's API at `branch` (the default branch when none).
 * At most `MAX_FILES_READ` files of at most `READ_FILE_MAX_BYTES` each are read; a larger one
 * counts as present (a lockfile), and a netlify.toml that does not parse is left out here (the
 * build says what is wrong with it).
 */

export interface BuildSettingsPrefill {
  framework: DetectedFramework["framework"] | null;
  cmd: string | null;
  dir: string | null;
  base: string | null;
  source: "netlify.toml" | "framework" | null;
}

/** Provider calls one prefill may make for files (each is one API request). */
export const MAX_FILES_READ = 40;

export async function prefillBuildSettings(
  ctx: PlatformContext,
  connection: GitConnection,
  ref: string,
  branchInput: string | undefined,
): Promise<BuildSettingsPrefill> {
  if (
    branchInput !== undefined &&
    (branchInput.startsWith("-") || !isValidBranchName(branchInput))
  ) {
    throw invalidField("branch", `${JSON.stringify(branchInput)} is not a valid git branch name`);
  }
  const client = connectionClient(ctx, connection);
  try {
    const repo = await client.getRepo(ref);
    const prefill = await readPrefill(client, repo, branchInput ?? repo.defaultBranch);
    await recordConnectionUse(ctx, connection.id, undefined);
    return prefill;
  } catch (error) {
    await recordConnectionUse(ctx, connection.id, error);
    throw providerFailure(error, { field: "repo" });
  }
}

async function readPrefill(
  client: ProviderClient,
  repo: ProviderRepo,
  branch: string,
): Promise<BuildSettingsPrefill> {
  let reads = 0;
  const read = async (path: string): Promise<string | null> => {
    if (++reads > MAX_FILES_READ) return null;
    try {
      return await client.readFile(repo, branch, path);
    } catch (error) {
      // Too large to read: it exists, which is all a lockfile has to say.
      if (error instanceof ProviderError && error.kind === "invalid") return "";
      throw error;
    }
  };
  const toml = tomlOrNull(await read("netlify.toml"));
  const none = { command: null, publish: null, base: null };
  const base = resolveBase(none, toml, "production", branch);
  const detected = await detectFramework(read, base.value);
  const settings = resolveBuildSettings({
    site: none,
    toml,
    detected,
    context: "production",
    branch,
  });
  const fromToml = [base, settings.command, settings.publish].some(
    (setting) => setting.source?.kind === "netlify.toml",
  );
  return {
    framework: settings.framework,
    cmd: settings.command.value,
    dir: settings.publish.value,
    base: base.value,
    source: fromToml ? "netlify.toml" : detected !== null ? "framework" : null,
  };
}

function tomlOrNull(text: string | null): NetlifyToml | null {
  if (text === null) return null;
  try {
    return parseNetlifyToml(text);
  } catch (error) {
    if (error instanceof NetlifyTomlError) return null;
    throw error;
  }
}
