import type { PlatformContext } from "../context.ts";
import type { Site } from "../db/schema.ts";
import type { BuildLog } from "./build-log.ts";
import { checkoutReader } from "./build-settings.ts";
import { COREPACK_SHIMS } from "./sandbox/environment.ts";
import type { SandboxOptions } from "./sandbox/run.ts";
import { StageFailure } from "./stage.ts";
import { selectToolchain, ToolchainError } from "./toolchain.ts";

/**
 * What a build installs packages and runs with, beyond the site's command: the operator's
 * registry, proxies, CA certificates and firewall allowlist (`SLIPWAY_BUILD_*`), and the Node
 * version and package manager the repository asks for (`toolchain.ts`). The log says which.
 */

export interface BuildTools {
  sandbox: Pick<SandboxOptions, "allowHosts" | "packages" | "toolchain">;
  /** Shell lines run before the site's command (corepack's shims). */
  prelude: string;
}

export async function prepareBuildTools(
  ctx: Pick<PlatformContext, "config">,
  site: Site,
  env: Readonly<Record<string, string>>,
  workDir: string,
  log: Pick<BuildLog, "write">,
): Promise<BuildTools> {
  const policy = ctx.config.builds.toolchain;
  let selected;
  try {
    selected = await selectToolchain({
      env,
      read: checkoutReader(workDir),
      base: site.base_dir,
      versionsDir: policy?.nodeVersionsDir,
    });
  } catch (error) {
    if (error instanceof ToolchainError) throw new StageFailure("building site", error.message);
    throw error;
  }
  for (const line of selected.lines) log.write("building", line);
  if (selected.packageManager !== undefined && site.build_network !== 1) {
    log.write(
      "building",
      `corepack downloads ${selected.packageManager} from the registry when it is first run, and this site's builds have no network: it cannot be fetched. Turn the site's build network on (repo.build_network) to use it.`,
      true,
    );
  }
  return {
    sandbox: {
      allowHosts: policy?.allowHosts ?? [],
      packages: {
        npmRegistry: policy?.npmRegistry,
        httpProxy: policy?.httpProxy,
        httpsProxy: policy?.httpsProxy,
        noProxy: policy?.noProxy,
        caFile: policy?.caFile,
        corepackIntegrityKeys: policy?.corepackIntegrityKeys,
      },
      ...(selected.toolchain !== undefined ? { toolchain: selected.toolchain } : {}),
    },
    prelude:
      selected.packageManager === undefined
        ? ""
        : `mkdir -p ${COREPACK_SHIMS} && corepack enable --install-directory ${COREPACK_SHIMS} || exit 1\n`,
  };
}
